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

bool HasMagic(absl::string_view segment) {
  return segment.find_first_of("*?[") != absl::string_view::npos;
}

// One path segment against one glob segment: * ? [class] [!class] and \ escapes. A leading
// '.' in the name must be matched by a literal '.' (glob's dot: false).
bool MatchSegment(absl::string_view name, absl::string_view glob) {
  if (!name.empty() && name[0] == '.' && (glob.empty() || glob[0] != '.')) return false;
  // Iterative wildcard match with one backtrack point for the last '*'.
  size_t n = 0, g = 0, star = absl::string_view::npos, mark = 0;
  auto one = [&](size_t& gi, char c) -> int {  // 1 match, 0 no match; advances gi
    if (glob[gi] == '?') return ++gi, 1;
    if (glob[gi] == '\\' && gi + 1 < glob.size()) return gi += 2, glob[gi - 1] == c ? 1 : 0;
    if (glob[gi] == '[') {
      size_t i = gi + 1;
      const bool negate = i < glob.size() && (glob[i] == '!' || glob[i] == '^');
      if (negate) ++i;
      bool hit = false;
      const size_t first = i;
      for (; i < glob.size() && (glob[i] != ']' || i == first); ++i) {
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

bool MatchSegments(const std::vector<std::string>& path, size_t p,
                   const std::vector<std::string>& glob, size_t g) {
  if (g == glob.size()) return p == path.size();
  if (glob[g] == "**") {
    if (MatchSegments(path, p, glob, g + 1)) return true;
    // globstar matches any number of segments, none of them dot-named.
    return p < path.size() && path[p][0] != '.' && MatchSegments(path, p + 1, glob, g);
  }
  return p < path.size() && MatchSegment(path[p], glob[g]) &&
         MatchSegments(path, p + 1, glob, g + 1);
}

std::vector<std::string> Segments(absl::string_view path) {
  std::vector<std::string> out;
  for (absl::string_view s : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (s != ".") out.emplace_back(s);
  }
  return out;
}

// minimatch's brace expansion: "{a,b}/x" -> "a/x", "b/x" (nested braces expand in turn).
void ExpandBraces(const std::string& pattern, std::vector<std::string>& out) {
  if (out.size() >= kMaxBraceExpansions) return;
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
        ExpandBraces(absl::StrCat(pattern.substr(0, open), pattern.substr(from, comma - from),
                                  pattern.substr(i + 1)),
                     out);
        from = comma + 1;
      }
      return;
    }
  }
  out.push_back(pattern);
}

class Globber {
 public:
  Globber(const std::string& root, const std::vector<std::string>& ignore)
      : root_(root), ignore_(ignore) {}

  void Glob(const std::string& pattern, std::vector<std::string>& found) {
    segments_ = Segments(pattern);
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
      if (MatchWorkspacePattern(dir, pattern)) return true;
      // "a/**" ignores "a" and all beneath it, as glob's ignore does.
      if (absl::EndsWith(pattern, "/**") &&
          MatchWorkspacePattern(dir, pattern.substr(0, pattern.size() - 3))) {
        return true;
      }
    }
    return false;
  }

  void Walk(const std::string& dir, size_t at, int globstars, std::vector<std::string>& found) {
    if (visited_ >= kMaxDirsVisited || (!dir.empty() && Ignored(dir))) return;
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
        if (MatchSegment(name, segment) && IsDir(join(name))) {
          Walk(join(name), at + 1, globstars, found);
        }
      }
    }
  }

  const std::string& root_;
  const std::vector<std::string>& ignore_;
  std::vector<std::string> segments_;
  size_t visited_ = 0;
  bool escaped_ = false;
  std::set<std::string> refused_;
};

// localeCompare(b, 'en') for ASCII paths, near enough: case folded first.
bool LocaleLess(const std::string& a, const std::string& b) {
  const std::string la = absl::AsciiStrToLower(a), lb = absl::AsciiStrToLower(b);
  return la != lb ? la < lb : a > b;
}

}  // namespace

bool MatchWorkspacePattern(absl::string_view path, absl::string_view pattern) {
  std::vector<std::string> expanded;
  ExpandBraces(std::string(pattern), expanded);
  const std::vector<std::string> segments = Segments(path);
  for (const std::string& glob : expanded) {
    if (MatchSegments(segments, 0, Segments(glob), 0)) return true;
  }
  return false;
}

std::vector<std::string> ExpandWorkspaces(const std::string& root,
                                          const std::vector<std::string>& declared,
                                          std::vector<ProjectDiagnostic>& diagnostics) {
  // map-workspaces' appendNegatedPatterns(): an odd number of '!' negates; a later positive
  // pattern revives what an earlier negation removed.
  std::vector<std::string> patterns, negated;
  for (std::string pattern : declared) {
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
    std::erase_if(negated, [&](const std::string& n) { return MatchWorkspacePattern(pattern, n); });
    patterns.push_back(pattern);
  }
  std::erase_if(patterns, [&](const std::string& p) {
    for (const std::string& n : negated) {
      if (MatchWorkspacePattern(p, n)) return true;
    }
    return false;
  });

  Globber globber(root, negated);
  std::vector<std::string> members;
  std::set<std::string> seen;
  for (const std::string& pattern : patterns) {
    std::vector<std::string> expanded, found;
    ExpandBraces(pattern, expanded);
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
  return members;
}

}  // namespace ovvoc::agent::npm::internal
