// The text layer under agent/npm/semver.h: JavaScript's string and number semantics on UTF-8
// input, and hand-written matchers that accept exactly what the "safe" regular expressions of
// npm's semver (internal/re.js, with their bounded repetitions) accept, with the same captures.
// Each matcher names the re.js token it stands for. Pure functions, thread-safe.
//
// Strings are UTF-8. Where JavaScript would count UTF-16 code units (lengths, `\s`, trim) these
// functions decode; a byte that is not part of well-formed UTF-8 counts as one character that
// is not whitespace.
#ifndef OVVOC_AGENT_NPM_INTERNAL_SEMVER_SYNTAX_H_
#define OVVOC_AGENT_NPM_INTERNAL_SEMVER_SYNTAX_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace ovvoc::agent::npm {
struct Options;
struct Version;
}  // namespace ovvoc::agent::npm

namespace ovvoc::agent::npm::internal {

// ParseVersion() without the error message, for callers that only ask whether (semver.cc).
std::optional<Version> TryParseVersion(absl::string_view text, const Options& options);

inline constexpr size_t kMaxLength = 256;                      // MAX_LENGTH
inline constexpr size_t kMaxSafeBuildLength = 250;             // MAX_SAFE_BUILD_LENGTH
inline constexpr size_t kMaxSafeComponentLength = 16;          // MAX_SAFE_COMPONENT_LENGTH
inline constexpr uint64_t kMaxSafeInteger = 9007199254740991;  // Number.MAX_SAFE_INTEGER

// ---- JavaScript strings ----

inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }
inline bool IsLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
// [a-zA-Z0-9-]: the characters of prerelease and build identifiers.
inline bool IsIdentifierChar(char c) { return IsDigit(c) || IsLetter(c) || c == '-'; }
inline bool IsAllDigits(absl::string_view s) {
  for (char c : s) {
    if (!IsDigit(c)) return false;
  }
  return !s.empty();
}

// Byte length of the JavaScript whitespace character (`\s`, String.prototype.trim) at `i`, or 0.
size_t NonAsciiWhitespaceLengthAt(absl::string_view s, size_t i);
inline size_t WhitespaceLengthAt(absl::string_view s, size_t i) {
  if (i >= s.size()) return 0;
  const char c = s[i];
  if (static_cast<unsigned char>(c) >= 0x80) return NonAsciiWhitespaceLengthAt(s, i);
  return c == ' ' || (c >= '\t' && c <= '\r') ? 1 : 0;
}
// How many bytes one UTF-16 code unit of JavaScript covers at `i`: a whole character of the
// Basic Multilingual Plane, one byte of anything else (half of a surrogate pair never ends a
// string, which is all callers ask).
size_t CodeUnitBytesAt(absl::string_view s, size_t i);
// `s.length`.
size_t Utf16Length(absl::string_view s);
// `s.trim()`.
absl::string_view JsTrim(absl::string_view s);
// `s.replace(/\s+/g, ' ')`.
std::string CollapseWhitespace(absl::string_view s);
// `s.split(/\s+/)`: empty pieces at either end are kept; "" gives {""}.
std::vector<absl::string_view> SplitOnWhitespace(absl::string_view s);
// `s.split(separator)` for a non-empty literal separator.
std::vector<absl::string_view> SplitOn(absl::string_view s, absl::string_view separator);

// `text` for an error message: at most 64 bytes, C-escaped, in quotes.
std::string Quote(absl::string_view text);

// ---- JavaScript numbers ----

// `+digits` for a string of ASCII digits (leading zeros allowed), correctly rounded.
double DigitsToNumber(absl::string_view digits);
// `String(number)` for a finite number, e.g. "1e+21" from 10 ** 21.
std::string NumberToString(double number);
// `${+digits + 1}`: how npm's range desugaring computes an upper bound.
std::string DigitsPlusOne(absl::string_view digits);
// The value of a digit string when it is at most kMaxSafeInteger, else nullopt.
std::optional<uint64_t> SafeInteger(absl::string_view digits);
// `isNaN(identifier)` for a prerelease identifier held as a string: "0x1A", "1e5", "-5" and
// "Infinity" are numbers to JavaScript.
bool IsNaNString(absl::string_view identifier);

// ---- re.js tokens ----

// [v=\s]* from `i`: the prefix npm tolerates before a version. Returns where it ends.
size_t SkipVersionPrefix(absl::string_view s, size_t i);

// One PRERELEASEIDENTIFIER (strict) or PRERELEASEIDENTIFIERLOOSE, matched whole.
bool IsPrereleaseIdentifier(absl::string_view piece, bool loose);
// A '.'-separated list of them, matched whole (the capture of PRERELEASE / PRERELEASELOOSE).
bool IsPrereleaseList(absl::string_view text, bool loose);
// A '.'-separated list of BUILDIDENTIFIER, matched whole.
bool IsBuildList(absl::string_view text);

// Captures of a version, in the order of the regular expressions' groups. A capture that did
// not take part is nullopt (JavaScript's undefined).
struct VersionCaptures {
  std::optional<absl::string_view> major, minor, patch, prerelease, build;
};

// MAINVERSION PRERELEASE? BUILD? (strict) or MAINVERSIONLOOSE PRERELEASELOOSE? BUILD? (loose),
// matched against the whole of `body` (the prefix, `v?` or [v=\s]*, already skipped).
// major, minor and patch are always set on a match.
std::optional<VersionCaptures> MatchFullVersion(absl::string_view body, bool loose);
// The body of XRANGEPLAIN / XRANGEPLAINLOOSE (after [v=\s]*), matched against the whole of
// `body`: "1", "1.x", "1.2.*", "1.2.3-beta+build".
std::optional<VersionCaptures> MatchPartialVersion(absl::string_view body, bool loose);

// COMPARATOR / COMPARATORLOOSE: `^((?:<|>)?=?)\s?(version)$|^$`.
struct ComparatorCaptures {
  absl::string_view op;                      // "", "<", ">", "<=", ">=", "="
  std::optional<absl::string_view> version;  // nullopt for the empty comparator
};
std::optional<ComparatorCaptures> MatchComparator(absl::string_view s, bool loose);

// COERCE (or COERCEFULL when `full`), as RegExp.prototype.exec finds it from `from`:
// `(^|[^\d])(\d{1,16})(?:\.(\d{1,16}))?(?:\.(\d{1,16}))?` then, when full, PRERELEASE? BUILD?,
// then `(?:$|[^\d])`.
struct CoerceCaptures {
  size_t end = 0;        // match.index + match[0].length
  size_t major_end = 0;  // match.index + match[1].length + match[2].length
  absl::string_view major;
  std::optional<absl::string_view> minor, patch, prerelease, build;
};
std::optional<CoerceCaptures> ExecCoerce(absl::string_view s, size_t from, bool full);

// npm's internal/trim-comparator-whitespace.js: joins an operator to its version
// ("> 1.2.3" -> ">1.2.3"), ported line by line; `range` has had its whitespace collapsed.
std::string TrimComparatorWhitespace(absl::string_view range);

// src[BUILD] with the 'g' flag and no length bounds: removes every "+build.meta".
std::string StripAllBuildMetadata(absl::string_view s);
// safeRe[BUILD] without 'g': removes the first one only.
std::string StripFirstBuildMetadata(absl::string_view s);

}  // namespace ovvoc::agent::npm::internal

#endif  // OVVOC_AGENT_NPM_INTERNAL_SEMVER_SYNTAX_H_
