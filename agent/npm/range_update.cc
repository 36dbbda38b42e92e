#include "agent/npm/range_update.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "agent/npm/internal/bounded_json.h"
#include "agent/npm/semver.h"
#include "common/inert.h"
#include "nlohmann/json.hpp"

namespace ovvoc::agent::npm {
namespace {

// The Ruby regular expressions of requirements_updater.rb, by hand. Ruby's `\s` and `strip`
// are ASCII; so are these.

constexpr size_t kMaxQuoted = 200;  // of a range, in messages
// package.json bounds, as the project model's (project.cc).
constexpr int kMaxManifestDepth = 64;
constexpr size_t kMaxManifestValues = 1'000'000;

std::string Q(absl::string_view text) {
  return absl::StrCat("\"", InertLine(text, kMaxQuoted), "\"");
}

bool IsRubySpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAlnum(char c) { return IsDigit(c) || IsAlpha(c); }

// String#strip: ASCII whitespace and NUL.
absl::string_view RubyStrip(absl::string_view s) {
  auto strippable = [](char c) { return IsRubySpace(c) || c == '\0'; };
  while (!s.empty() && strippable(s.front())) s.remove_prefix(1);
  while (!s.empty() && strippable(s.back())) s.remove_suffix(1);
  return s;
}

// `s.split(SEPARATOR)` with SEPARATOR = /(?<=[a-zA-Z0-9*])[\s|]+(?![\s|-])/: a run of
// whitespace and '|' after a letter, digit or '*' separates, unless a '-' follows it (the
// hyphen of `a - b`). Trailing empty pieces are dropped, as Ruby does. Views into `s`.
std::vector<absl::string_view> SplitComparators(absl::string_view s) {
  std::vector<absl::string_view> pieces;
  size_t start = 0;
  size_t i = 0;
  while (i < s.size()) {
    if (i == 0 || !(IsAlnum(s[i - 1]) || s[i - 1] == '*') || !(IsRubySpace(s[i]) || s[i] == '|')) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < s.size() && (IsRubySpace(s[end]) || s[end] == '|')) ++end;
    if (end == s.size() || s[end] != '-') {
      pieces.push_back(s.substr(start, i - start));
      start = end;
    }
    i = end;
  }
  pieces.push_back(s.substr(start));
  while (!pieces.empty() && pieces.back().empty()) pieces.pop_back();
  return pieces;
}

// /(<|-\s)/: Dependabot's test for a range with an upper bound.
bool HasUpperBound(absl::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '<' || (s[i] == '-' && i + 1 < s.size() && IsRubySpace(s[i + 1]))) return true;
  }
  return false;
}

// /<|(\s+-\s+)/: the comparators whose bound update_range_requirement raises.
bool IsBoundedComparator(absl::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '<') return true;
    if (s[i] == '-' && i > 0 && IsRubySpace(s[i - 1]) && i + 1 < s.size() &&
        IsRubySpace(s[i + 1])) {
      return true;
    }
  }
  return false;
}

// /^([A-Za-uw-z]|v[^\d])/ (`^` is any line's start in Ruby): what Dependabot leaves alone as
// a dist-tag.
bool LooksLikeTag(absl::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && s[i - 1] != '\n') continue;
    if (IsAlpha(s[i]) && s[i] != 'v') return true;
    if (s[i] == 'v' && i + 1 < s.size() && !IsDigit(s[i + 1])) return true;
  }
  return false;
}

// The first match of VERSION_REGEX = /[0-9]+(?:\.[A-Za-z0-9\-_]+)*/ at or after `from`.
struct Token {
  size_t pos = 0;
  absl::string_view text;
};
std::optional<Token> FindVersion(absl::string_view s, size_t from = 0) {
  auto part_char = [](char c) { return IsAlnum(c) || c == '-' || c == '_'; };
  size_t pos = from;
  while (pos < s.size() && !IsDigit(s[pos])) ++pos;
  if (pos == s.size()) return std::nullopt;
  size_t end = pos;
  while (end < s.size() && IsDigit(s[end])) ++end;
  while (end + 1 < s.size() && s[end] == '.' && part_char(s[end + 1])) {
    end += 2;
    while (end < s.size() && part_char(s[end])) ++end;
  }
  return Token{pos, s.substr(pos, end - pos)};
}

// update_version_string: the first version in `s` becomes `version`, keeping the number of
// parts written and lowercase `x` parts; a prerelease on either side gives `version` whole.
std::string UpdateVersionString(absl::string_view s, absl::string_view version) {
  std::optional<Token> old = FindVersion(s);
  if (!old) return std::string(s);
  auto has_prerelease = [](absl::string_view v) {
    for (size_t i = 1; i < v.size(); ++i) {
      if (v[i] == '-' && IsDigit(v[i - 1])) return true;
    }
    return false;
  };
  std::string replacement;
  if (has_prerelease(old->text) || has_prerelease(version)) {
    replacement = std::string(version);
  } else {
    std::vector<absl::string_view> old_parts = absl::StrSplit(old->text, '.');
    std::vector<absl::string_view> new_parts = absl::StrSplit(version, '.');
    if (new_parts.size() > old_parts.size()) new_parts.resize(old_parts.size());
    for (size_t i = 0; i < new_parts.size(); ++i) {
      absl::string_view part = old_parts[i];  // /^x\b/
      if (part.size() >= 1 && part[0] == 'x' &&
          (part.size() == 1 || !(IsAlnum(part[1]) || part[1] == '_'))) {
        new_parts[i] = "x";
      }
    }
    replacement = absl::StrJoin(new_parts, ".");
  }
  return absl::StrCat(s.substr(0, old->pos), replacement, s.substr(old->pos + old->text.size()));
}

// ---- Versions as RubyGems reads a bound (Gem::Version): each "-" reads as ".pre.", and
// ---- segments are runs of digits or of letters.

// Whether Gem::Version accepts the text: /[0-9]+(\.[0-9a-zA-Z]+)*(-[0-9A-Za-z-]+
// (\.[0-9A-Za-z-]+)*)?/ anchored. VERSION_REGEX tokens already have non-empty dotted parts.
bool GemReadable(absl::string_view v) {
  if (v.find('_') != absl::string_view::npos) return false;
  size_t dash = v.find('-');
  if (dash == absl::string_view::npos) return true;
  return v[dash - 1] != '.' && dash + 1 < v.size() && v[dash + 1] != '.';
}

struct GemSegment {
  bool number = false;
  std::string text;  // digits without leading zeros ("" is 0), or letters
};

std::vector<GemSegment> GemSegments(absl::string_view v) {
  std::vector<GemSegment> segments;
  for (size_t i = 0; i < v.size();) {
    if (v[i] == '-') segments.push_back(GemSegment{false, "pre"});
    size_t end = i;
    const bool digits = IsDigit(v[i]);
    while (end < v.size() && (digits ? IsDigit(v[end]) : IsAlpha(v[end]))) ++end;
    if (end == i) {
      ++i;
      continue;
    }
    absl::string_view run = v.substr(i, end - i);
    if (digits) {
      while (!run.empty() && run.front() == '0') run.remove_prefix(1);
    }
    segments.push_back(GemSegment{digits, std::string(run)});
    i = end;
  }
  return segments;
}

// Gem::Version#<=>: segment by segment, missing ones 0, letters below numbers.
int GemCompare(absl::string_view a, absl::string_view b) {
  std::vector<GemSegment> x = GemSegments(a), y = GemSegments(b);
  const GemSegment zero{true, ""};
  for (size_t i = 0; i < x.size() || i < y.size(); ++i) {
    const GemSegment& l = i < x.size() ? x[i] : zero;
    const GemSegment& r = i < y.size() ? y[i] : zero;
    if (l.number != r.number) return l.number ? 1 : -1;
    if (l.number && l.text.size() != r.text.size()) return l.text.size() < r.text.size() ? -1 : 1;
    if (int c = l.text.compare(r.text); c != 0) return c < 0 ? -1 : 1;
  }
  return 0;
}

// update_greatest_version: a bound of B's release length (its numbers before any letter) that
// lets `target` in: target's parts before B's last non-zero part, that part plus one, zeros.
absl::StatusOr<std::string> RaisedBound(absl::string_view bound, const Version& target) {
  std::vector<GemSegment> release;
  for (GemSegment& s : GemSegments(bound)) {
    if (!s.number) break;
    release.push_back(std::move(s));
  }
  size_t index = 0;
  for (size_t i = 0; i < release.size(); ++i) {
    if (!release[i].text.empty()) index = i;
  }
  if (index > 2) {
    return absl::FailedPreconditionError(absl::StrCat("Dependabot cannot raise the upper bound ",
                                                      Q(bound),
                                                      ": its last non-zero part is past "
                                                      "the patch"));
  }
  const uint64_t parts[] = {target.major, target.minor, target.patch};
  std::vector<std::string> out;
  for (size_t i = 0; i < release.size(); ++i) {
    out.push_back(i < index    ? absl::StrCat(parts[i])
                  : i == index ? absl::StrCat(parts[i] + 1)
                               : "0");
  }
  return absl::StrJoin(out, ".");
}

// update_range_requirement: raise the bound of the one bounded comparator, else append
// ` || ^version`. The bound is the comparator's greatest version (the last of equals).
absl::StatusOr<std::string> RaiseUpperBound(absl::string_view range, absl::string_view version,
                                            const Version& target) {
  std::vector<absl::string_view> bounded;
  for (absl::string_view piece : SplitComparators(range)) {
    if (IsBoundedComparator(piece)) bounded.push_back(piece);
  }
  if (bounded.size() != 1) return absl::StrCat(range, " || ^", version);
  const absl::string_view piece = bounded.front();
  std::optional<Token> greatest;
  for (std::optional<Token> t = FindVersion(piece); t;
       t = FindVersion(piece, t->pos + t->text.size())) {
    if (!GemReadable(t->text)) {
      return absl::FailedPreconditionError(
          absl::StrCat("Dependabot cannot read ", Q(t->text), " in ", Q(range), " as a version"));
    }
    if (!greatest || GemCompare(t->text, greatest->text) >= 0) greatest = t;
  }
  if (!greatest) {
    return absl::FailedPreconditionError(
        absl::StrCat("Dependabot finds no version in the bounded part ", Q(piece)));
  }
  absl::StatusOr<std::string> raised = RaisedBound(greatest->text, target);
  if (!raised.ok()) return raised.status();
  const size_t pos = static_cast<size_t>(piece.data() - range.data()) + greatest->pos;
  return absl::StrCat(range.substr(0, pos), *raised, range.substr(pos + greatest->text.size()));
}

bool Allows(absl::string_view range, absl::string_view version) {
  absl::StatusOr<bool> ok = Satisfies(version, range, Options{.loose = true});
  return ok.ok() && *ok;
}

// Whether npm installs `version` for the dependency declared as `range`: arborist's
// dep-valid.js takes a spec of exactly "*" without asking semver (so it allows a prerelease).
bool Accepts(absl::string_view range, absl::string_view version) {
  return absl::StripAsciiWhitespace(range) == "*" || Allows(range, version);
}

// update_version_requirement: increase, and increase-if-necessary once the range refuses V.
absl::StatusOr<std::string> Increase(absl::string_view range, absl::string_view version,
                                     const Version& target) {
  if (HasUpperBound(range)) {
    const absl::string_view first = range.substr(0, range.find("||"));
    if (Allows(first, version)) return std::string(range);
    return RaiseUpperBound(range, version, target);
  }
  std::vector<absl::string_view> pieces = SplitComparators(RubyStrip(range));
  if (pieces.empty()) return std::string(range);  // Dependabot fails here; "" stays ""
  return UpdateVersionString(RubyStrip(pieces.front()), version);
}

absl::StatusOr<std::string> Widen(absl::string_view range, absl::string_view version,
                                  const Version& target) {
  if (RubyStrip(range).empty() || Allows(range, version)) return std::string(range);
  std::vector<absl::string_view> pieces = SplitComparators(RubyStrip(range));
  for (absl::string_view piece : pieces) {
    if (HasUpperBound(RubyStrip(piece))) return RaiseUpperBound(range, version, target);
  }
  if (pieces.size() == 1) return UpdateVersionString(range, version);
  // Ovvoc, not Dependabot (which leaves it, so nothing can be updated): a union of ranges
  // gains the new major, as peer ranges are widened by hand ("^17 || ^18" -> "... || ^19.0.0").
  if (absl::StrContains(range, "||")) return absl::StrCat(range, " || ^", version);
  return absl::FailedPreconditionError(
      absl::StrCat("versioning-strategy \"widen\" cannot move ", Q(range), " to ", version,
                   ": Dependabot leaves a comparator set without an upper bound as it is"));
}

// The version as Dependabot prints it (no `v`, build metadata kept).
absl::StatusOr<std::string> VersionText(absl::string_view version, Version& parsed) {
  absl::StatusOr<Version> v = ParseVersion(version);
  if (!v.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Q(version), " is not a semver version: ", v.status().message()));
  }
  parsed = *std::move(v);
  std::string text = parsed.ToString();
  if (!parsed.build.empty()) absl::StrAppend(&text, "+", absl::StrJoin(parsed.build, "."));
  return text;
}

}  // namespace

absl::StatusOr<std::string> UpdateRange(absl::string_view range, absl::string_view version,
                                        VersioningStrategy strategy) {
  if (strategy != VersioningStrategy::kIncrease &&
      strategy != VersioningStrategy::kIncreaseIfNecessary &&
      strategy != VersioningStrategy::kWiden) {
    return absl::InvalidArgumentError(absl::StrCat(
        "versioning-strategy \"", VersioningStrategyName(strategy), "\" does not rewrite ranges"));
  }
  Version target;
  absl::StatusOr<std::string> v = VersionText(version, target);
  if (!v.ok()) return v.status();
  if (!ValidRange(range, Options{.loose = true})) {
    return absl::InvalidArgumentError(absl::StrCat(Q(range), " is not an npm range"));
  }
  absl::StatusOr<std::string> updated = std::string(range);
  if (LooksLikeTag(range)) {
    // Dependabot leaves what it takes for a dist-tag alone.
  } else if (strategy == VersioningStrategy::kWiden) {
    updated = Widen(range, *v, target);
  } else if (strategy == VersioningStrategy::kIncrease ||
             (!RubyStrip(range).empty() && !Allows(range, *v))) {
    updated = Increase(range, *v, target);
  }
  if (!updated.ok()) return updated.status();
  if (!Accepts(*updated, *v)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "versioning-strategy \"", VersioningStrategyName(strategy), "\" cannot move ", Q(range),
        " to ", *v, ": Dependabot's rule gives ", Q(*updated), ", which does not allow it"));
  }
  return updated;
}

absl::StatusOr<bool> MayBeLibrary(absl::string_view package_json) {
  using Json = nlohmann::json;
  absl::StatusOr<Json> json =
      internal::ParseBoundedJson<Json>(package_json, kMaxManifestDepth, kMaxManifestValues);
  if (!json.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("package.json ", json.status().message()));
  }
  if (!json->is_object()) return false;
  auto truthy = [&](const char* key) {  // Ruby: anything but nil and false
    auto it = json->find(key);
    return it != json->end() && !it->is_null() && *it != false;
  };
  auto name = json->find("name");
  if (name == json->end() || !name->is_string()) return false;
  // /\{\{.*\}\}/: a template placeholder, `.` not crossing a newline.
  const std::string& text = name->get_ref<const std::string&>();
  for (size_t open = text.find("{{"); open != std::string::npos; open = text.find("{{", open + 1)) {
    const size_t close = text.find("}}", open + 2);
    if (close != std::string::npos && text.find('\n', open) > close) return false;
  }
  return truthy("version") && !truthy("private");
}

VersioningStrategy ResolveAutoStrategy(VersioningStrategy strategy, bool library) {
  if (strategy != VersioningStrategy::kAuto) return strategy;
  return library ? VersioningStrategy::kWiden : VersioningStrategy::kIncrease;
}

}  // namespace ovvoc::agent::npm
