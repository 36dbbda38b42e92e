// npm workspaces for the project model: @npmcli/map-workspaces' globbing (glob + minimatch),
// over ListDirBeneath so that no symlink in the checkout is ever followed.
#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "agent/npm/internal/project_parts.h"
#include "agent/workspace/beneath.h"

namespace ovvoc::agent::npm::internal {
namespace {

constexpr size_t kMaxDirsVisited = 20'000;
constexpr size_t kMaxEntriesPerDir = 10'000;
constexpr size_t kMaxBraceExpansions = 256;
constexpr int kMaxGlobstarDepth = 32;
// map-workspaces matches every pattern against every negation, and the walk each directory
// against every negation: real projects declare tens of patterns of tens of bytes. A longer
// pattern could name no directory (PATH_MAX is 4,096), and 1,024 bytes keep ExpandBraces'
// recursion (one level per brace group) shallow.
constexpr size_t kMaxPatterns = 1'000;
constexpr size_t kMaxPatternBytes = 1'024;
// The matching work of one ExpandWorkspaces (brace-expansion bytes, segment comparisons,
// wildcard steps; see Matcher): a walk of 20,000 directories against five negations takes
// about 15 million; 100 million is a few tenths of a second.
constexpr size_t kMaxMatchSteps = 100'000'000;

bool HasMagic(absl::string_view segment) {
  return segment.find_first_of("*?[") != absl::string_view::npos;
}

// One path segment against one glob segment: * ? [class] [!class] and \ escapes. A leading
// '.' in the name must be matched by a literal '.' (glob's dot: false). Adds the characters it
// looked at to `steps`: up to name.size() * glob.size() with '*'.
bool MatchSegment(absl::string_view name, absl::string_view glob, size_t& steps) {
  if (!name.empty() && name[0] == '.' && (glob.empty() || glob[0] != '.')) return false;
  // Iterative wildcard match with one backtrack point for the last '*'.
  size_t n = 0, g = 0, star = absl::string_view::npos, mark = 0;
  auto one = [&](size_t& gi, char c) -> int {  // 1 match, 0 no match; advances gi
    ++steps;
    if (glob[gi] == '?') return ++gi, 1;
    if (glob[gi] == '\\' && gi + 1 < glob.size()) return gi += 2, glob[gi - 1] == c ? 1 : 0;
    if (glob[gi] == '[') {
      size_t i = gi + 1;
      const bool negate = i < glob.size() && (glob[i] == '!' || glob[i] == '^');
      if (negate) ++i;
      bool hit = false;
      const size_t first = i;
      for (; i < glob.size() && (glob[i] != ']' || i == first); ++i, ++steps) {
        if (i + 2 < glob.size() && glob[i + 1] == '-' && glob[i + 2] != ']') {
          hit = hit || (c >= glob[i] && c <= glob[i + 2]);
          i += 2;
        } else {
          hit = hit || glob[i] == c;
        }
      }
      if (i >= glob.size()) return glob[gi++] == c ? 1 : 0;  // no ']': a literal '['
      gi = i + 1;
      return hit != negate ? 1 : 0;
    }
    return glob[gi++] == c ? 1 : 0;
  };
  while (n < name.size()) {
    ++steps;
    if (g < glob.size() && glob[g] == '*') {
      star = g++;
      mark = n;
      continue;
    }
    size_t gi = g;
    if (g < glob.size() && one(gi, name[n]) == 1) {
      g = gi;
      ++n;
      continue;
    }
    if (star == absl::string_view::npos) return false;
    g = star + 1;
    n = ++mark;
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

// Path segments against glob segments, "**" standing for any number of segments, none of them
// dot-named. Dynamic programming as DirectoryMatch in agent/npm/policy.cc: a row per glob
// segment, so (path + 1) * glob cells where a recursion on "**" takes exponential time.
bool MatchSegments(const std::vector<std::string>& path, const std::vector<std::string>& glob,
                   size_t& steps) {
  if (std::find(glob.begin(), glob.end(), "**") == glob.end()) {  // segment by segment
    steps += glob.size() + 1;
    if (path.size() != glob.size()) return false;
    for (size_t i = 0; i < glob.size(); ++i) {
      if (!MatchSegment(path[i], glob[i], steps)) return false;
    }
    return true;
  }
  // rest[j]: glob[i..] matches path[j..], for the current i, walking i down.
  std::vector<char> rest(path.size() + 1, 0), next(path.size() + 1, 0);
  rest[path.size()] = 1;
  for (size_t i = glob.size(); i-- > 0;) {
    steps += path.size() + 1;
    const bool globstar = glob[i] == "**";
    bool any = false;
    for (size_t j = path.size() + 1; j-- > 0;) {
      if (globstar) {
        next[j] = rest[j] || (j < path.size() && path[j][0] != '.' && next[j + 1]);
      } else {
        next[j] = j < path.size() && rest[j + 1] && MatchSegment(path[j], glob[i], steps);
      }
      any = any || next[j];
    }
    if (!any) return false;  // no tail of the path matches glob[i..], so none glob[0..]
    std::swap(rest, next);
  }
  return rest[0] != 0;
}

std::vector<std::string> Segments(absl::string_view path) {
  std::vector<std::string> out;
  for (absl::string_view s : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (s != ".") out.emplace_back(s);
  }
  return out;
}

// A glob's segments, "**/**" as one "**" (minimatch does the same; they match alike).
std::vector<std::string> GlobSegments(absl::string_view glob) {
  std::vector<std::string> out = Segments(glob);
  out.erase(std::unique(
                out.begin(), out.end(),
                [](const std::string& a, const std::string& b) { return a == "**" && b == "**"; }),
            out.end());
  return out;
}

// minimatch's brace expansion: "{a,b}/x" -> "a/x", "b/x" (nested braces expand in turn).
// Adds the bytes it scanned and built to `steps`.
void ExpandBraces(const std::string& pattern, std::vector<std::string>& out, size_t& steps) {
  if (out.size() >= kMaxBraceExpansions) return;
  steps += pattern.size() + 1;
  int depth = 0;
  size_t open = std::string::npos;
  std::vector<size_t> commas;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\') {
      ++i;
    } else if (c == '{') {
      if (depth++ == 0) open = i, commas.clear();
    } else if (c == ',' && depth == 1) {
      commas.push_back(i);
    } else if (c == '}' && depth > 0 && --depth == 0) {
      if (commas.empty()) continue;  // "{a}" is literal
      size_t from = open + 1;
      commas.push_back(i);
      for (size_t comma : commas) {
        if (out.size() >= kMaxBraceExpansions) return;
        ExpandBraces(absl::StrCat(pattern.substr(0, open), pattern.substr(from, comma - from),
                                  pattern.substr(i + 1)),
                     out, steps);
        from = comma + 1;
      }
      return;
    }
  }
  out.push_back(pattern);
}

// Matching under one budget of steps, so that no set of patterns (a thousand negations, each
// expanding to 256 globs, against every pattern and every directory walked) runs for long.
// Once the budget is spent nothing matches, and the caller says so.
class Matcher {
 public:
  // minimatch(path, pattern).
  bool Match(absl::string_view path, absl::string_view pattern) {
    std::vector<std::string> expanded;
    Expand(std::string(pattern), expanded);
    steps_ += path.size();
    const std::vector<std::string> segments = Segments(path);
    for (const std::string& glob : expanded) {
      if (exhausted()) return false;
      if (MatchSegments(segments, GlobSegments(glob), steps_)) return true;
    }
    return false;
  }
  bool Segment(absl::string_view name, absl::string_view glob) {
    return !exhausted() && MatchSegment(name, glob, steps_);
  }
  void Expand(const std::string& pattern, std::vector<std::string>& out) {
    if (!exhausted()) ExpandBraces(pattern, out, steps_);
  }
  bool exhausted() const { return steps_ > kMaxMatchSteps; }

 private:
  size_t steps_ = 0;
};

class Globber {
 public:
  Globber(const std::string& root, const std::vector<std::string>& ignore, Matcher& matcher)
      : root_(root), ignore_(ignore), matcher_(matcher) {}

  void Glob(const std::string& pattern, std::vector<std::string>& found) {
    segments_ = GlobSegments(pattern);
    Walk("", 0, 0, found);
  }
  bool truncated() const { return visited_ >= kMaxDirsVisited; }
  bool escaped() const { return escaped_; }
  // Matches that are (or pass through) symlinks: never followed.
  const std::set<std::string>& refused() const { return refused_; }

 private:
  bool IsDir(const std::string& dir) {
    ++visited_;
    absl::StatusOr<std::vector<std::string>> opened =
        ListDirBeneath(root_, dir.empty() ? "." : dir, 0);
    if (opened.ok()) return true;
    // A symlink fails the directory open as "not a directory"; the plain open says what it is.
    if (absl::IsPermissionDenied(opened.status()) ||
        absl::IsPermissionDenied(CheckRegularFileBeneath(root_, dir))) {
      refused_.insert(dir);
    }
    return false;
  }

  std::vector<std::string> Children(const std::string& dir) {
    absl::StatusOr<std::vector<std::string>> names =
        ListDirBeneath(root_, dir.empty() ? "." : dir, kMaxEntriesPerDir);
    if (!names.ok()) return {};
    std::sort(names->begin(), names->end());
    return *std::move(names);
  }

  bool Ignored(const std::string& dir) {
    for (const std::string& segment : Segments(dir)) {
      if (segment == "node_modules") return true;
    }
    for (const std::string& pattern : ignore_) {
      if (matcher_.Match(dir, pattern)) return true;
      // "a/**" ignores "a" and all beneath it, as glob's ignore does.
      if (absl::EndsWith(pattern, "/**") &&
          matcher_.Match(dir, pattern.substr(0, pattern.size() - 3))) {
        return true;
      }
    }
    return false;
  }

  void Walk(const std::string& dir, size_t at, int globstars, std::vector<std::string>& found) {
    if (visited_ >= kMaxDirsVisited || matcher_.exhausted()) return;
    // A negation cut short by the budget may have matched: not walked either.
    if (!dir.empty() && (Ignored(dir) || matcher_.exhausted())) return;
    if (at == segments_.size()) {
      if (!dir.empty()) found.push_back(dir);
      return;
    }
    const std::string& segment = segments_[at];
    auto join = [&](absl::string_view name) {
      return dir.empty() ? std::string(name) : absl::StrCat(dir, "/", name);
    };
    if (segment == "..") {
      escaped_ = true;
      return;
    }
    if (segment == "**") {
      Walk(dir, at + 1, globstars, found);
      if (globstars >= kMaxGlobstarDepth) return;
      for (const std::string& name : Children(dir)) {
        if (name[0] != '.' && IsDir(join(name))) Walk(join(name), at, globstars + 1, found);
      }
    } else if (!HasMagic(segment)) {
      std::string literal = absl::StrReplaceAll(segment, {{"\\", ""}});
      if (IsDir(join(literal))) Walk(join(literal), at + 1, globstars, found);
    } else {
      for (const std::string& name : Children(dir)) {
        if (matcher_.Segment(name, segment) && IsDir(join(name))) {
          Walk(join(name), at + 1, globstars, found);
        }
      }
    }
  }

  const std::string& root_;
  const std::vector<std::string>& ignore_;
  Matcher& matcher_;
  std::vector<std::string> segments_;
  size_t visited_ = 0;
  bool escaped_ = false;
  std::set<std::string> refused_;
};

// map-workspaces' appendNegatedPatterns(): an odd number of '!' negates; a later positive
// pattern revives what an earlier negation removed. The first kMaxPatterns are read, those
// longer than kMaxPatternBytes skipped; nothing once `matcher` is out of steps.
void ReadPatterns(const std::vector<std::string>& declared, Matcher& matcher,
                  std::vector<std::string>& patterns, std::vector<std::string>& negated,
                  std::vector<ProjectDiagnostic>& diagnostics) {
  size_t too_long = 0;
  for (size_t i = 0; i < declared.size() && i < kMaxPatterns; ++i) {
    std::string pattern = declared[i];
    if (pattern.size() > kMaxPatternBytes) {
      ++too_long;
      continue;
    }
    std::replace(pattern.begin(), pattern.end(), '\\', '/');
    const size_t bangs = pattern.find_first_not_of('!');
    const bool negate = bangs != std::string::npos && bangs % 2 == 1;
    pattern = pattern.substr(std::min(bangs, pattern.size()));
    // /^\.?\/+/: "./a" and "/a" are "a".
    size_t start = absl::StartsWith(pattern, "./") ? 1 : 0;
    if (start < pattern.size() && pattern[start] == '/') {
      while (start < pattern.size() && pattern[start] == '/') ++start;
      pattern = pattern.substr(start);
    }
    if (negate) {
      negated.push_back(pattern);
      continue;
    }
    std::erase_if(negated, [&](const std::string& n) { return matcher.Match(pattern, n); });
    patterns.push_back(pattern);
  }
  std::erase_if(patterns, [&](const std::string& p) {
    for (const std::string& n : negated) {
      if (matcher.Match(p, n)) return true;
    }
    return false;
  });
  if (matcher.exhausted()) patterns.clear();  // which negations hold is unknown
  if (declared.size() > kMaxPatterns) {
    diagnostics.push_back(ProjectDiagnostic{
        "package.json",
        absl::StrCat("more than ", kMaxPatterns, " workspace patterns: the rest skipped")});
  }
  if (too_long > 0) {
    diagnostics.push_back(
        ProjectDiagnostic{"package.json", absl::StrCat(too_long, " workspace patterns longer than ",
                                                       kMaxPatternBytes, " bytes: skipped")});
  }
}

// localeCompare(b, 'en') for ASCII paths, near enough: case folded first.
bool LocaleLess(const std::string& a, const std::string& b) {
  const std::string la = absl::AsciiStrToLower(a), lb = absl::AsciiStrToLower(b);
  return la != lb ? la < lb : a > b;
}

}  // namespace

bool MatchWorkspacePattern(absl::string_view path, absl::string_view pattern) {
  std::vector<std::string> expanded;
  size_t steps = 0;  // unbounded: one match is polynomial in the lengths
  ExpandBraces(std::string(pattern), expanded, steps);
  const std::vector<std::string> segments = Segments(path);
  for (const std::string& glob : expanded) {
    if (MatchSegments(segments, GlobSegments(glob), steps)) return true;
  }
  return false;
}

std::vector<std::string> ExpandWorkspaces(const std::string& root,
                                          const std::vector<std::string>& declared,
                                          std::vector<ProjectDiagnostic>& diagnostics) {
  Matcher matcher;
  std::vector<std::string> patterns, negated;
  ReadPatterns(declared, matcher, patterns, negated, diagnostics);
  Globber globber(root, negated, matcher);
  std::vector<std::string> members;
  std::set<std::string> seen;
  for (const std::string& pattern : patterns) {
    std::vector<std::string> expanded, found;
    matcher.Expand(pattern, expanded);
    for (const std::string& glob : expanded) globber.Glob(glob, found);
    std::sort(found.begin(), found.end(), LocaleLess);
    for (const std::string& dir : found) {
      if (!seen.insert(dir).second) continue;
      const std::string manifest = absl::StrCat(dir, "/package.json");
      absl::Status regular = CheckRegularFileBeneath(root, manifest);
      if (absl::IsNotFound(regular)) continue;  // npm skips a folder without one
      if (!regular.ok()) {
        diagnostics.push_back(
            ProjectDiagnostic{manifest, absl::StrCat("not read: ", regular.message())});
        continue;
      }
      members.push_back(dir);
    }
  }
  for (const std::string& dir : globber.refused()) {
    diagnostics.push_back(ProjectDiagnostic{dir, "a workspace that is a symlink: not followed"});
  }
  if (globber.escaped()) {
    diagnostics.push_back(ProjectDiagnostic{
        "package.json", "a workspace pattern leaves the project (\"..\"): not followed"});
  }
  if (globber.truncated()) {
    diagnostics.push_back(ProjectDiagnostic{
        "package.json", absl::StrCat("workspace patterns visit more than ", kMaxDirsVisited,
                                     " directories: the rest skipped")});
  }
  if (matcher.exhausted()) {
    diagnostics.push_back(ProjectDiagnostic{
        "package.json", absl::StrCat("workspace patterns take more than ", kMaxMatchSteps,
                                     " steps to match: the rest skipped")});
  }
  return members;
}

}  // namespace ovvoc::agent::npm::internal
