// Ranges: classes/range.js, classes/comparator.js and ranges/*.js. A range string goes through
// the same steps, in the same order, as Range.parseRange(); each step names its JavaScript.
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/npm/internal/semver_syntax.h"
#include "agent/npm/semver.h"

namespace ovvoc::agent::npm {
namespace {

using internal::DigitsPlusOne;
using internal::JsTrim;
using internal::MatchPartialVersion;
using internal::Quote;
using internal::SkipVersionPrefix;
using internal::VersionCaptures;

constexpr absl::string_view kNullSet = "<0.0.0-0";  // matches nothing

// isX(): a missing, empty, x, X or * component.
bool IsX(const std::optional<absl::string_view>& id) {
  return !id || id->empty() || *id == "x" || *id == "X" || *id == "*";
}

// ---- desugaring, one comparator at a time ----

// ^, ~ and x-ranges alike when the minor is an x: the whole major, "1.x" := >=1.0.0 <2.0.0-0;
// `z` is the lower bound's prerelease ("-0" with include_prerelease).
std::string WholeMajor(absl::string_view major, absl::string_view z) {
  return absl::StrCat(">=", major, ".0.0", z, " <", DigitsPlusOne(major), ".0.0-0");
}

// replaceCaret() once major and minor are numbers: ^1.2.3 := >=1.2.3 <2.0.0-0,
// ^0.2.3 := >=0.2.3 <0.3.0-0, ^0.0.3 := >=0.0.3 <0.0.4-0, ^1.2 := >=1.2.0 <2.0.0-0.
// Components are compared as text ("00" is not "0").
std::string CaretBounds(const VersionCaptures& m, absl::string_view z) {
  const absl::string_view M = *m.major;
  const absl::string_view minor = *m.minor;
  if (IsX(m.patch)) {
    const std::string high = M == "0" ? absl::StrCat(M, ".", DigitsPlusOne(minor), ".0-0")
                                      : absl::StrCat(DigitsPlusOne(M), ".0.0-0");
    return absl::StrCat(">=", M, ".", minor, ".0", z, " <", high);
  }
  const absl::string_view patch = *m.patch;
  const std::string low = m.prerelease ? absl::StrCat(M, ".", minor, ".", patch, "-", *m.prerelease)
                                       : absl::StrCat(M, ".", minor, ".", patch);
  if (M != "0") return absl::StrCat(">=", low, " <", DigitsPlusOne(M), ".0.0-0");
  if (minor != "0") return absl::StrCat(">=", low, " <", M, ".", DigitsPlusOne(minor), ".0-0");
  return absl::StrCat(">=", low, " <", M, ".", minor, ".", DigitsPlusOne(patch), "-0");
}

// replaceTilde() once major and minor are numbers: ~1.2.3 := >=1.2.3 <1.3.0-0,
// ~1.2 := >=1.2.0 <1.3.0-0.
std::string TildeBounds(const VersionCaptures& m, absl::string_view z) {
  const absl::string_view M = *m.major;
  const absl::string_view minor = *m.minor;
  const std::string high = absl::StrCat(" <", M, ".", DigitsPlusOne(minor), ".0-0");
  if (IsX(m.patch)) return absl::StrCat(">=", M, ".", minor, ".0", z, high);
  if (m.prerelease) {
    return absl::StrCat(">=", M, ".", minor, ".", *m.patch, "-", *m.prerelease, high);
  }
  return absl::StrCat(">=", M, ".", minor, ".", *m.patch, high);
}

// replaceCaret() and replaceTilde(): `op` ('^', or '~' with an optional '>') and a partial
// version. ^* and ~* are any version, ^1 and ~1 the whole major; bounds are computed as
// JavaScript numbers. Anything else stays as it is.
std::string ReplaceCaretOrTilde(absl::string_view comp, char op, const Options& options) {
  if (comp.empty() || comp[0] != op) return std::string(comp);
  const size_t after = op == '~' && comp.size() > 1 && comp[1] == '>' ? 2 : 1;
  const std::optional<VersionCaptures> m =
      MatchPartialVersion(comp.substr(SkipVersionPrefix(comp, after)), options.loose);
  if (!m) return std::string(comp);
  const absl::string_view z = options.include_prerelease ? "-0" : "";
  if (IsX(m->major)) return "";
  if (IsX(m->minor)) return WholeMajor(*m->major, z);
  return op == '^' ? CaretBounds(*m, z) : TildeBounds(*m, z);
}

std::string ReplaceCaret(absl::string_view comp, const Options& options) {
  return ReplaceCaretOrTilde(comp, '^', options);
}

std::string ReplaceTilde(absl::string_view comp, const Options& options) {
  return ReplaceCaretOrTilde(comp, '~', options);
}

// replaceXRange(): 1.x := >=1.0.0 <2.0.0-0, >1.2 := >=1.3.0, <=1 := <2.0.0-0, >* := <0.0.0-0.
// A prerelease on an x-range is dropped.
std::string ReplaceXRange(absl::string_view text, const Options& options) {
  const absl::string_view comp = JsTrim(text);
  // XRANGE: `^((?:<|>)?=?)\s?[v=\s]*` then the partial version.
  size_t i = 0;
  if (i < comp.size() && (comp[i] == '<' || comp[i] == '>')) ++i;
  if (i < comp.size() && comp[i] == '=') ++i;
  std::string gtlt(comp.substr(0, i));
  const std::optional<VersionCaptures> m =
      MatchPartialVersion(comp.substr(SkipVersionPrefix(comp, i)), options.loose);
  if (!m) return std::string(comp);
  // invalidXRangeOrder(): "x.1" and "1.x.2" are left for the comparator parser to reject.
  if ((IsX(m->major) && !IsX(m->minor)) ||
      (IsX(m->minor) && m->patch && !m->patch->empty() && !IsX(m->patch))) {
    return std::string(comp);
  }
  const bool x_major = IsX(m->major);
  const bool x_minor = x_major || IsX(m->minor);
  const bool any_x = x_minor || IsX(m->patch);
  if (gtlt == "=" && any_x) gtlt = "";
  std::string pr = options.include_prerelease ? "-0" : "";

  if (x_major) return gtlt == ">" || gtlt == "<" ? std::string(kNullSet) : "*";
  if (!gtlt.empty() && any_x) {
    std::string M(*m->major);
    std::string minor = x_minor ? "0" : std::string(*m->minor);
    // >1 := >=2.0.0, >1.2 := >=1.3.0; <=1 := <2.0.0-0, <=0.7.x := <0.8.0-0.
    if (gtlt == ">" || gtlt == "<=") {
      gtlt = gtlt == ">" ? ">=" : "<";
      std::string& bumped = x_minor ? M : minor;
      bumped = DigitsPlusOne(bumped);
    }
    if (gtlt == "<") pr = "-0";
    return absl::StrCat(gtlt, M, ".", minor, ".0", pr);
  }
  if (x_minor) return WholeMajor(*m->major, pr);
  if (any_x) {
    return absl::StrCat(">=", *m->major, ".", *m->minor, ".0", pr, " <", *m->major, ".",
                        DigitsPlusOne(*m->minor), ".0-0");
  }
  return std::string(comp);
}

// replaceStars(): drops the first `(<|>)?=?\s?\*` ("*" means any version, and any version is
// AND-ed away), whatever surrounds it.
std::string ReplaceStars(absl::string_view text) {
  const absl::string_view comp = JsTrim(text);
  for (size_t start = 0; start < comp.size(); ++start) {
    size_t i = start;
    if (comp[i] == '<' || comp[i] == '>') ++i;
    if (i < comp.size() && comp[i] == '=') ++i;
    i += internal::WhitespaceLengthAt(comp, i);
    if (i < comp.size() && comp[i] == '*') {
      return absl::StrCat(comp.substr(0, start), comp.substr(i + 1));
    }
  }
  return std::string(comp);
}

// replaceGTE0(): >=0.0.0 (>=0.0.0-0 with include_prerelease) is any version.
std::string ReplaceGte0(absl::string_view text, const Options& options) {
  const absl::string_view comp = JsTrim(text);
  // `^\s?>=\s?0\.0\.0\s?$`
  size_t i = internal::WhitespaceLengthAt(comp, 0);
  const absl::string_view zero = options.include_prerelease ? "0.0.0-0" : "0.0.0";
  if (comp.substr(i, 2) != ">=") return std::string(comp);
  i += 2;
  i += internal::WhitespaceLengthAt(comp, i);
  if (comp.substr(i, zero.size()) != zero) return std::string(comp);
  i += zero.size();
  i += internal::WhitespaceLengthAt(comp, i);
  return i == comp.size() ? "" : std::string(comp);
}

bool HasWhitespace(absl::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (internal::WhitespaceLengthAt(s, i) > 0) return true;
  }
  return false;
}

// `comp.trim().split(/\s+/).map(replace).join(' ')`.
std::string ReplaceEach(absl::string_view comp, bool trim, const Options& options,
                        std::string (*replace)(absl::string_view, const Options&)) {
  const absl::string_view text = trim ? JsTrim(comp) : comp;
  if (!HasWhitespace(text)) return replace(text, options);  // one piece, the usual case
  return absl::StrJoin(
      internal::SplitOnWhitespace(text), " ",
      [&](std::string* out, absl::string_view piece) { out->append(replace(piece, options)); });
}

// parseComparator(): one space-free piece of the range to zero, one or two comparators.
std::string DesugarComparator(absl::string_view piece, const Options& options) {
  std::string comp = internal::StripFirstBuildMetadata(piece);
  comp = ReplaceEach(comp, /*trim=*/true, options, ReplaceCaret);
  comp = ReplaceEach(comp, /*trim=*/true, options, ReplaceTilde);
  comp = ReplaceEach(comp, /*trim=*/false, options, ReplaceXRange);
  return ReplaceStars(comp);
}

// hyphenReplace(): 1.2 - 3.4.5 := >=1.2.0 <=3.4.5, 1.2.3 - 3.4 := >=1.2.3 <3.5.0-0.
// `from` and `to` are the whole sides, prefix included: "v1.2.3" stays ">=v1.2.3".
std::string HyphenReplace(absl::string_view from, const VersionCaptures& f, absl::string_view to,
                          const VersionCaptures& t, bool include_prerelease) {
  const absl::string_view z = include_prerelease ? "-0" : "";
  std::string low;
  if (IsX(f.major)) {
    low = "";
  } else if (IsX(f.minor)) {
    low = absl::StrCat(">=", *f.major, ".0.0", z);
  } else if (IsX(f.patch)) {
    low = absl::StrCat(">=", *f.major, ".", *f.minor, ".0", z);
  } else if (f.prerelease) {
    low = absl::StrCat(">=", from);
  } else {
    low = absl::StrCat(">=", from, z);
  }
  std::string high;
  if (IsX(t.major)) {
    high = "";
  } else if (IsX(t.minor)) {
    high = absl::StrCat("<", DigitsPlusOne(*t.major), ".0.0-0");
  } else if (IsX(t.patch)) {
    high = absl::StrCat("<", *t.major, ".", DigitsPlusOne(*t.minor), ".0-0");
  } else if (t.prerelease) {
    high = absl::StrCat("<=", *t.major, ".", *t.minor, ".", *t.patch, "-", *t.prerelease);
  } else if (include_prerelease) {
    high = absl::StrCat("<", *t.major, ".", *t.minor, ".", DigitsPlusOne(*t.patch), "-0");
  } else {
    high = absl::StrCat("<=", to);
  }
  return std::string(JsTrim(absl::StrCat(low, " ", high)));
}

// HYPHENRANGE(LOOSE): `^\s?(PARTIAL)\s-\s(PARTIAL)\s?$`, each PARTIAL `[v=\s]*` plus a version
// with no whitespace in it; `\s` is one character. Anything else is left as it is.
std::string ReplaceHyphen(const std::string& range, const Options& options) {
  const absl::string_view s = range;
  const size_t from_start = internal::WhitespaceLengthAt(s, 0);
  const auto version_end = [&](size_t i) {
    while (i < s.size() && internal::WhitespaceLengthAt(s, i) == 0) ++i;
    return i;
  };
  const size_t from_body = SkipVersionPrefix(s, from_start);
  const size_t from_end = version_end(from_body);
  size_t i = from_end + internal::WhitespaceLengthAt(s, from_end);
  if (i == from_end || i >= s.size() || s[i] != '-') return range;
  const size_t after_dash = i + 1;
  const size_t to_start = after_dash + internal::WhitespaceLengthAt(s, after_dash);
  if (to_start == after_dash) return range;
  const size_t to_body = SkipVersionPrefix(s, to_start);
  const size_t to_end = version_end(to_body);
  if (to_end + internal::WhitespaceLengthAt(s, to_end) != s.size()) return range;
  const std::optional<VersionCaptures> f =
      MatchPartialVersion(s.substr(from_body, from_end - from_body), options.loose);
  const std::optional<VersionCaptures> t =
      MatchPartialVersion(s.substr(to_body, to_end - to_body), options.loose);
  if (!f || !t) return range;
  return HyphenReplace(s.substr(from_start, from_end - from_start), *f,
                       s.substr(to_start, to_end - to_start), *t, options.include_prerelease);
}

// TILDETRIM / CARETTRIM: `(\s?)~>?\s` := `$1~` and `(\s?)\^\s` := `$1^`, so "~ 1" and "~> 1"
// are both "~1".
std::string JoinOperatorToVersion(absl::string_view s, char op) {
  if (s.find(op) == absl::string_view::npos) return std::string(s);
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const char c = s[i++];
    out.push_back(c);
    if (c != op) continue;
    if (op == '~' && i < s.size() && s[i] == '>' && internal::WhitespaceLengthAt(s, i + 1) > 0) {
      i += 1 + internal::WhitespaceLengthAt(s, i + 1);
    } else {
      i += internal::WhitespaceLengthAt(s, i);
    }
  }
  return out;
}

// c.ToString() == kNullSet, without building the string.
bool IsNullSet(const Comparator& c) {
  return c.op == "<" && c.version && c.version->major == 0 && c.version->minor == 0 &&
         c.version->patch == 0 && c.version->prerelease.size() == 1 &&
         c.version->prerelease[0].text == "0";
}
bool IsAny(const Comparator& c) { return !c.version.has_value(); }

// new Comparator(comp, options).
absl::StatusOr<Comparator> ParseComparator(absl::string_view text, const Options& options) {
  const absl::string_view trimmed = JsTrim(text);
  const std::string comp = HasWhitespace(trimmed)
                               ? absl::StrJoin(internal::SplitOnWhitespace(trimmed), " ")
                               : std::string(trimmed);
  const std::optional<internal::ComparatorCaptures> m =
      internal::MatchComparator(comp, options.loose);
  if (!m) return absl::InvalidArgumentError(absl::StrCat("Invalid comparator: ", Quote(comp)));
  Comparator c;
  c.op = m->op == "=" ? "" : std::string(m->op);
  if (m->version) {
    absl::StatusOr<Version> v = ParseVersion(*m->version, {options.loose, false});
    if (!v.ok()) return v.status();
    c.version = *std::move(v);
  }
  return c;
}

// Range.parseRange(): one side of "||" to its comparators; empty when loose mode dropped them
// all.
absl::StatusOr<std::vector<Comparator>> ParseComparatorSet(absl::string_view text,
                                                           const Options& options) {
  std::string range = internal::StripAllBuildMetadata(text);
  range = ReplaceHyphen(range, options);
  range = internal::TrimComparatorWhitespace(range);
  range = JoinOperatorToVersion(range, '~');
  range = JoinOperatorToVersion(range, '^');

  const std::string desugared = absl::StrJoin(internal::SplitOn(range, " "), " ",
                                              [&](std::string* out, absl::string_view piece) {
                                                out->append(DesugarComparator(piece, options));
                                              });
  std::vector<Comparator> comparators;
  for (absl::string_view piece : internal::SplitOnWhitespace(desugared)) {
    const std::string comp = ReplaceGte0(piece, options);
    // Loose mode throws out what is not a comparator; strict mode fails on it below.
    if (options.loose && !internal::MatchComparator(comp, true)) continue;
    absl::StatusOr<Comparator> c = ParseComparator(comp, options);
    if (!c.ok()) return c.status();
    comparators.push_back(*std::move(c));
  }

  // A null set makes the whole set null; otherwise each comparator once (the last of equal
  // ones, in the place of the first), and "any" only when alone.
  std::vector<Comparator> unique;
  absl::flat_hash_map<std::string, size_t> position;
  for (Comparator& c : comparators) {
    if (IsNullSet(c)) return std::vector<Comparator>{std::move(c)};
    auto [it, inserted] = position.try_emplace(c.ToString(), unique.size());
    if (inserted) {
      unique.push_back(std::move(c));
    } else {
      unique[it->second] = std::move(c);
    }
  }
  if (unique.size() > 1) {
    if (auto it = position.find(""); it != position.end()) {
      unique.erase(unique.begin() + static_cast<std::ptrdiff_t>(it->second));
    }
  }
  return unique;
}

// npm re-reads a comparator's version from its printed form when the options it is used with
// differ from the ones it was read with (include_prerelease, in practice); a loose version
// that gained a '-' can then be too long to read.
absl::Status CheckRereadable(const Version& v, const Options& options) {
  if (options.include_prerelease && v.ToString().size() > kMaxVersionLength) {
    return absl::FailedPreconditionError(absl::StrCat("version is longer than ", kMaxVersionLength,
                                                      " characters: ", Quote(v.ToString())));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> TestComparator(const Comparator& c, const Version& v, const Options& options,
                                    bool version_is_foreign) {
  if (!c.version) return true;
  // compare(version, comparator) reads the version first, then the comparator's.
  if (version_is_foreign) {
    if (absl::Status s = CheckRereadable(v, options); !s.ok()) return s;
  }
  if (absl::Status s = CheckRereadable(*c.version, options); !s.ok()) return s;
  const int order = Compare(v, *c.version);
  if (c.op.empty()) return order == 0;
  if (c.op == "<") return order < 0;
  if (c.op == "<=") return order <= 0;
  if (c.op == ">") return order > 0;
  return order >= 0;  // ">="
}

// testSet(). `version_is_foreign`: the version was read with other options than the range's
// (a comparator's own version, from intersects()).
absl::StatusOr<bool> TestSet(const std::vector<Comparator>& set, const Version& v,
                             const Options& options, bool version_is_foreign) {
  for (const Comparator& c : set) {
    absl::StatusOr<bool> ok = TestComparator(c, v, options, version_is_foreign);
    if (!ok.ok() || !*ok) return ok;
  }
  if (v.prerelease.empty() || options.include_prerelease) return true;
  // A prerelease passes only where a comparator names a prerelease of the same
  // major.minor.patch: ^1.2.3-pr.1 lets 1.2.3-pr.2 in, but not 1.2.4-alpha.
  for (const Comparator& c : set) {
    if (c.version && !c.version->prerelease.empty() && c.version->major == v.major &&
        c.version->minor == v.minor && c.version->patch == v.patch) {
      return true;
    }
  }
  return false;
}

absl::StatusOr<bool> TestRange(const Range& range, const Version& v, bool version_is_foreign) {
  for (const std::vector<Comparator>& set : range.sets()) {
    absl::StatusOr<bool> ok = TestSet(set, v, range.options(), version_is_foreign);
    if (!ok.ok() || *ok) return ok;
  }
  return false;
}

absl::StatusOr<std::optional<std::string>> BestSatisfying(const std::vector<std::string>& versions,
                                                          absl::string_view range_text,
                                                          const Options& options, int better) {
  absl::StatusOr<Range> range = Range::Parse(range_text, options);
  if (!range.ok()) return std::nullopt;
  std::optional<std::string> best;
  std::optional<Version> best_version;
  for (const std::string& text : versions) {
    absl::StatusOr<bool> ok = range->Test(text);
    if (!ok.ok()) return ok.status();
    if (!*ok) continue;
    std::optional<Version> v = internal::TryParseVersion(text, options);  // it passed Test()
    if (!best || Compare(*best_version, *v) == better) {
      best = text;
      best_version = *std::move(v);
    }
  }
  return best;
}

// ---- intersects ----

absl::StatusOr<bool> ComparatorsIntersect(const Comparator& a, const Comparator& b,
                                          const Options& options) {
  if (a.op.empty() || b.op.empty()) {
    // An equality (or any): does the other comparator, read as a range, hold the version?
    const Comparator& eq = a.op.empty() ? a : b;
    const Comparator& other = a.op.empty() ? b : a;
    if (!eq.version) return true;
    absl::StatusOr<Range> range = Range::Parse(other.ToString(), options);
    if (!range.ok()) return range.status();
    if (a.op.empty()) return range->Test(a.ToString());  // by its text
    return TestRange(*range, *b.version, /*version_is_foreign=*/true);
  }
  const std::string av = a.ToString();
  const std::string bv = b.ToString();
  if (options.include_prerelease
          ? (av == kNullSet || bv == kNullSet)
          : (absl::StartsWith(av, "<0.0.0") || absl::StartsWith(bv, "<0.0.0"))) {
    return false;  // nothing is lower
  }
  if (a.op[0] == b.op[0]) return true;  // both > or >=, or both < or <=
  if (a.version->ToString() == b.version->ToString() && a.op.back() == '=' && b.op.back() == '=') {
    return true;  // >=x and <=x
  }
  for (const Version* v : {&*a.version, &*b.version}) {
    if (absl::Status s = CheckRereadable(*v, options); !s.ok()) return s;
  }
  const int order = Compare(*a.version, *b.version);
  return (order < 0 && a.op[0] == '>') || (order > 0 && a.op[0] == '<');
}

// isSatisfiable(): every pair of the set intersects.
absl::StatusOr<bool> IsSatisfiable(const std::vector<Comparator>& set, const Options& options) {
  for (size_t last = set.size(); last-- > 1;) {
    for (size_t other = 0; other < last; ++other) {
      absl::StatusOr<bool> ok = ComparatorsIntersect(set[last], set[other], options);
      if (!ok.ok() || !*ok) return ok;
    }
  }
  return true;
}

absl::StatusOr<bool> SetsIntersect(const std::vector<Comparator>& a,
                                   const std::vector<Comparator>& b, const Options& options) {
  for (const std::vector<Comparator>* set : {&a, &b}) {
    absl::StatusOr<bool> ok = IsSatisfiable(*set, options);
    if (!ok.ok() || !*ok) return ok;
  }
  for (const Comparator& x : a) {
    for (const Comparator& y : b) {
      absl::StatusOr<bool> ok = ComparatorsIntersect(x, y, options);
      if (!ok.ok() || !*ok) return ok;
    }
  }
  return true;
}

}  // namespace

std::string Comparator::ToString() const {
  return version ? absl::StrCat(op, version->ToString()) : "";
}

absl::StatusOr<Range> Range::Parse(absl::string_view text, const Options& options) {
  // Whitespace runs become one space first, so that nothing after relies on `\s*`.
  const std::string raw = internal::CollapseWhitespace(JsTrim(text));
  std::vector<std::vector<Comparator>> sets;
  for (absl::string_view side : internal::SplitOn(raw, "||")) {
    absl::StatusOr<std::vector<Comparator>> set = ParseComparatorSet(JsTrim(side), options);
    if (!set.ok()) return set.status();
    if (!set->empty()) sets.push_back(*std::move(set));
  }
  if (sets.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("Invalid SemVer Range: ", Quote(raw)));
  }
  if (sets.size() > 1) {
    // Null sets go, unless all are null; a lone "any" swallows the rest.
    std::vector<std::vector<Comparator>> kept;
    for (std::vector<Comparator>& set : sets) {
      if (!IsNullSet(set[0])) kept.push_back(std::move(set));
    }
    if (kept.empty()) {
      kept.push_back(std::move(sets[0]));
    } else if (kept.size() > 1) {
      for (std::vector<Comparator>& set : kept) {
        if (set.size() == 1 && IsAny(set[0])) {
          std::vector<Comparator> any = std::move(set);
          kept = {std::move(any)};
          break;
        }
      }
    }
    sets = std::move(kept);
  }
  return Range(std::move(sets), options);
}

std::string Range::ToString() const {
  return absl::StrJoin(sets_, "||", [](std::string* out, const std::vector<Comparator>& set) {
    out->append(absl::StrJoin(
        set, " ", [](std::string* o, const Comparator& c) { o->append(c.ToString()); }));
  });
}

absl::StatusOr<bool> Range::Test(const Version& version) const {
  return TestRange(*this, version, /*version_is_foreign=*/false);
}

absl::StatusOr<bool> Range::Test(absl::string_view version) const {
  if (version.empty()) return false;
  std::optional<Version> v = internal::TryParseVersion(version, options_);
  if (!v) return false;
  return Test(*v);
}

std::optional<std::string> ValidRange(absl::string_view range, const Options& options) {
  absl::StatusOr<Range> r = Range::Parse(range, options);
  if (!r.ok()) return std::nullopt;
  std::string text = r->ToString();
  return text.empty() ? "*" : text;
}

absl::StatusOr<bool> Satisfies(absl::string_view version, absl::string_view range,
                               const Options& options) {
  absl::StatusOr<Range> r = Range::Parse(range, options);
  if (!r.ok()) return false;
  return r->Test(version);
}

absl::StatusOr<std::optional<std::string>> MaxSatisfying(const std::vector<std::string>& versions,
                                                         absl::string_view range,
                                                         const Options& options) {
  return BestSatisfying(versions, range, options, /*better=*/-1);
}

absl::StatusOr<std::optional<std::string>> MinSatisfying(const std::vector<std::string>& versions,
                                                         absl::string_view range,
                                                         const Options& options) {
  return BestSatisfying(versions, range, options, /*better=*/1);
}

absl::StatusOr<bool> Intersects(absl::string_view a, absl::string_view b, const Options& options) {
  absl::StatusOr<Range> ra = Range::Parse(a, options);
  if (!ra.ok()) return ra.status();
  absl::StatusOr<Range> rb = Range::Parse(b, options);
  if (!rb.ok()) return rb.status();
  for (const std::vector<Comparator>& x : ra->sets()) {
    for (const std::vector<Comparator>& y : rb->sets()) {
      absl::StatusOr<bool> ok = SetsIntersect(x, y, options);
      if (!ok.ok() || *ok) return ok;
    }
  }
  return false;
}

}  // namespace ovvoc::agent::npm
