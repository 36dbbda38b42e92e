#include "agent/npm/internal/semver_syntax.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace ovvoc::agent::npm::internal {
namespace {

constexpr size_t kNone = absl::string_view::npos;

// The code point of the well-formed UTF-8 sequence at `i` and its length, or length 0 when
// the byte there does not start one.
struct Decoded {
  uint32_t code_point = 0;
  size_t length = 0;
};

Decoded DecodeAt(absl::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const auto continuation = [&](size_t k) { return k < s.size() && (byte(k) & 0xC0) == 0x80; };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) return {b0, 1};
  if (b0 >= 0xC2 && b0 <= 0xDF && continuation(i + 1)) {
    return {((b0 & 0x1Fu) << 6) | (byte(i + 1) & 0x3Fu), 2};
  }
  if (b0 >= 0xE0 && b0 <= 0xEF && continuation(i + 1) && continuation(i + 2)) {
    const uint32_t cp = ((b0 & 0x0Fu) << 12) | ((byte(i + 1) & 0x3Fu) << 6) | (byte(i + 2) & 0x3Fu);
    if (cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) return {cp, 3};
    return {};
  }
  if (b0 >= 0xF0 && b0 <= 0xF4 && continuation(i + 1) && continuation(i + 2) &&
      continuation(i + 3)) {
    const uint32_t cp = ((b0 & 0x07u) << 18) | ((byte(i + 1) & 0x3Fu) << 12) |
                        ((byte(i + 2) & 0x3Fu) << 6) | (byte(i + 3) & 0x3Fu);
    if (cp >= 0x10000 && cp <= 0x10FFFF) return {cp, 4};
  }
  return {};
}

// constants.js WHITESPACE_CHARACTERS: what `\s` and trim() take.
bool IsJsWhitespace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000 || cp == 0xFEFF;
}

size_t DigitRun(absl::string_view s, size_t i) {
  size_t end = i;
  while (end < s.size() && IsDigit(s[end])) ++end;
  return end - i;
}

size_t IdentifierRun(absl::string_view s, size_t i) {
  size_t end = i;
  while (end < s.size() && IsIdentifierChar(s[end])) ++end;
  return end - i;
}

bool IsXChar(char c) { return c == 'x' || c == 'X' || c == '*'; }

// NUMERICIDENTIFIER `0|[1-9]\d{0,256}` or NUMERICIDENTIFIERLOOSE `\d{1,256}`, matched whole.
bool IsNumericIdentifier(absl::string_view token, bool loose) {
  if (!IsAllDigits(token)) return false;
  if (loose) return token.size() <= kMaxLength;
  return token == "0" || (token[0] != '0' && token.size() <= kMaxLength + 1);
}

// XRANGEIDENTIFIER / XRANGEIDENTIFIERLOOSE, matched whole.
bool IsXRangeIdentifier(absl::string_view token, bool loose) {
  return (token.size() == 1 && IsXChar(token[0])) || IsNumericIdentifier(token, loose);
}

bool AllPieces(absl::string_view text, bool (*piece_ok)(absl::string_view, bool), bool loose) {
  for (size_t start = 0;;) {
    const size_t dot = text.find('.', start);
    if (!piece_ok(text.substr(start, dot == kNone ? kNone : dot - start), loose)) return false;
    if (dot == kNone) return true;
    start = dot + 1;
  }
}

bool IsBuildIdentifier(absl::string_view piece, bool /*loose*/) {
  return !piece.empty() && piece.size() <= kMaxSafeBuildLength &&
         IdentifierRun(piece, 0) == piece.size();
}

// `(?:\+(BUILD))?$` over `rest`: what follows a prerelease, or a version with none.
bool MatchBuildToEnd(absl::string_view rest, std::optional<absl::string_view>* build) {
  if (rest.empty()) return true;
  if (rest[0] != '+' || !IsBuildList(rest.substr(1))) return false;
  *build = rest.substr(1);
  return true;
}

// What may follow the patch number: `(?:-(PRERELEASE))?(?:\+(BUILD))?$`, or in loose mode
// `(?:-?(PRERELEASELOOSE))?(?:\+(BUILD))?$`. Tries the alternatives in the regex's order.
bool MatchVersionTail(absl::string_view tail, bool loose, VersionCaptures* captures) {
  const auto try_prerelease = [&](size_t start) {
    const size_t plus = tail.find('+', start);
    const absl::string_view region =
        tail.substr(start, plus == kNone ? absl::string_view::npos : plus - start);
    if (region.empty() || !IsPrereleaseList(region, loose)) return false;
    std::optional<absl::string_view> build;
    if (!MatchBuildToEnd(tail.substr(start + region.size()), &build)) return false;
    captures->prerelease = region;
    captures->build = build;
    return true;
  };
  if (!tail.empty() && tail[0] == '-' && try_prerelease(1)) return true;
  if (loose && try_prerelease(0)) return true;  // `-?` matched nothing
  std::optional<absl::string_view> build;
  if (!MatchBuildToEnd(tail, &build)) return false;
  captures->prerelease.reset();
  captures->build = build;
  return true;
}

// The patch number and what follows it, from `body[start]`. Loose mode's `\d{1,256}` gives
// digits back one at a time when the rest fails: "1.2.34.5" is 1.2.3 with prerelease "4.5".
bool MatchPatchAndTail(absl::string_view body, size_t start, bool loose, bool allow_x,
                       VersionCaptures* captures) {
  if (start < body.size() && allow_x && IsXChar(body[start])) {
    captures->patch = body.substr(start, 1);
    return MatchVersionTail(body.substr(start + 1), loose, captures);
  }
  const size_t run = DigitRun(body, start);
  if (run == 0) return false;
  if (!loose) {
    captures->patch = body.substr(start, run);
    return IsNumericIdentifier(*captures->patch, false) &&
           MatchVersionTail(body.substr(start + run), false, captures);
  }
  for (size_t digits = std::min(run, kMaxLength); digits >= 1; --digits) {
    captures->patch = body.substr(start, digits);
    if (MatchVersionTail(body.substr(start + digits), true, captures)) return true;
  }
  return false;
}

// ---- COERCE ----

bool EndsCoercion(absl::string_view s, size_t q) { return q >= s.size() || !IsDigit(s[q]); }

// The first way one PRERELEASEIDENTIFIER (strict, safe) can end at `i`, in the regex's order of
// preference, that the rest of COERCEFULL accepts; see ExecCoerce.
std::optional<size_t> FirstPrereleaseIdentifierEnd(absl::string_view s, size_t i) {
  const size_t run = IdentifierRun(s, i);
  const size_t digits = DigitRun(s, i);
  // \d{0,256}[a-zA-Z-][a-zA-Z0-9-]{0,250}
  if (digits <= kMaxLength && digits < run) {
    for (size_t more = std::min(kMaxSafeBuildLength, run - digits - 1) + 1; more-- > 0;) {
      const size_t q = i + digits + 1 + more;
      if (EndsCoercion(s, q)) return q;
    }
  }
  // 0
  if (i < s.size() && s[i] == '0' && EndsCoercion(s, i + 1)) return i + 1;
  // [1-9]\d{0,256}
  if (i < s.size() && s[i] >= '1' && s[i] <= '9') {
    for (size_t more = std::min(digits - 1, kMaxLength) + 1; more-- > 0;) {
      if (EndsCoercion(s, i + 1 + more)) return i + 1 + more;
    }
  }
  return std::nullopt;
}

std::optional<size_t> FirstBuildIdentifierEnd(absl::string_view s, size_t i) {
  for (size_t length = std::min(IdentifierRun(s, i), kMaxSafeBuildLength); length >= 1; --length) {
    if (EndsCoercion(s, i + length)) return i + length;
  }
  return std::nullopt;
}

// `ID(?:\.ID)*` from `i`, followed by what COERCEFULL accepts after it. Once an identifier ends
// at a '.', the list can always stop there (the '.' satisfies `$|[^\d]`), so the regex never
// backtracks into an earlier identifier: each one takes its first acceptable end.
std::optional<size_t> MatchCoerceList(absl::string_view s, size_t i,
                                      std::optional<size_t> (*first_end)(absl::string_view,
                                                                         size_t)) {
  std::optional<size_t> stop_before;  // the list's end if the next identifier fails
  while (true) {
    const std::optional<size_t> end = first_end(s, i);
    if (!end) return stop_before;
    if (*end < s.size() && s[*end] == '.') {
      stop_before = *end;
      i = *end + 1;
      continue;
    }
    return end;
  }
}

// COERCE(FULL) at one start position whose number begins at `digits_start`.
std::optional<CoerceCaptures> MatchCoerceAt(absl::string_view s, size_t digits_start, bool full) {
  const auto number_at = [&](size_t i) -> std::optional<absl::string_view> {
    const size_t run = DigitRun(s, i);
    if (run == 0 || run > kMaxSafeComponentLength) return std::nullopt;
    return s.substr(i, run);
  };
  const std::optional<absl::string_view> major = number_at(digits_start);
  if (!major) return std::nullopt;
  CoerceCaptures m;
  m.major = *major;
  size_t pos = m.major_end = digits_start + major->size();
  // Each optional `\.(\d{1,16})` either takes a whole digit run or nothing: giving back digits
  // would leave a digit where `$|[^\d]` must match.
  if (pos < s.size() && s[pos] == '.' && (m.minor = number_at(pos + 1))) {
    pos += 1 + m.minor->size();
    if (pos < s.size() && s[pos] == '.' && (m.patch = number_at(pos + 1))) {
      pos += 1 + m.patch->size();
    }
  }
  if (full && pos < s.size() && s[pos] == '-') {
    if (std::optional<size_t> end = MatchCoerceList(s, pos + 1, FirstPrereleaseIdentifierEnd)) {
      m.prerelease = s.substr(pos + 1, *end - pos - 1);
      pos = *end;
    }
  }
  if (full && pos < s.size() && s[pos] == '+') {
    if (std::optional<size_t> end = MatchCoerceList(s, pos + 1, FirstBuildIdentifierEnd)) {
      m.build = s.substr(pos + 1, *end - pos - 1);
      pos = *end;
    }
  }
  // `(?:$|[^\d])`: pos is never at a digit here.
  m.end = pos < s.size() ? pos + CodeUnitBytesAt(s, pos) : pos;
  return m;
}

}  // namespace

size_t NonAsciiWhitespaceLengthAt(absl::string_view s, size_t i) {
  const unsigned char lead = static_cast<unsigned char>(s[i]);
  // Only these bytes start the encoding of a non-ASCII whitespace character.
  if (lead != 0xC2 && lead != 0xE1 && lead != 0xE2 && lead != 0xE3 && lead != 0xEF) return 0;
  const Decoded d = DecodeAt(s, i);
  return d.length > 0 && IsJsWhitespace(d.code_point) ? d.length : 0;
}

size_t CodeUnitBytesAt(absl::string_view s, size_t i) {
  const Decoded d = DecodeAt(s, i);
  return d.length > 0 && d.length < 4 ? d.length : 1;
}

size_t Utf16Length(absl::string_view s) {
  size_t units = 0;
  for (size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++units;
      ++i;
      continue;
    }
    const Decoded d = DecodeAt(s, i);
    units += d.length == 4 ? 2 : 1;
    i += std::max<size_t>(d.length, 1);
  }
  return units;
}

absl::string_view JsTrim(absl::string_view s) {
  size_t begin = 0;
  while (size_t n = WhitespaceLengthAt(s, begin)) begin += n;
  size_t end = s.size();
  while (end > begin) {
    // Whitespace characters are 1 to 3 bytes long; a lead byte is never a continuation byte,
    // so a match found backwards is a real character.
    size_t n = 0;
    for (size_t length = 1; length <= 3 && n == 0; ++length) {
      if (end - begin >= length && WhitespaceLengthAt(s, end - length) == length) n = length;
    }
    if (n == 0) break;
    end -= n;
  }
  return s.substr(begin, end - begin);
}

std::string CollapseWhitespace(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (WhitespaceLengthAt(s, i) == 0) {
      out.push_back(s[i++]);
      continue;
    }
    while (size_t n = WhitespaceLengthAt(s, i)) i += n;
    out.push_back(' ');
  }
  return out;
}

std::vector<absl::string_view> SplitOnWhitespace(absl::string_view s) {
  std::vector<absl::string_view> pieces;
  size_t piece_start = 0;
  for (size_t i = 0; i < s.size();) {
    if (WhitespaceLengthAt(s, i) == 0) {
      ++i;
      continue;
    }
    pieces.push_back(s.substr(piece_start, i - piece_start));
    while (size_t n = WhitespaceLengthAt(s, i)) i += n;
    piece_start = i;
  }
  pieces.push_back(s.substr(piece_start));
  return pieces;
}

std::vector<absl::string_view> SplitOn(absl::string_view s, absl::string_view separator) {
  std::vector<absl::string_view> pieces;
  size_t start = 0;
  for (size_t at; (at = s.find(separator, start)) != kNone; start = at + separator.size()) {
    pieces.push_back(s.substr(start, at - start));
  }
  pieces.push_back(s.substr(start));
  return pieces;
}

std::string Quote(absl::string_view text) {
  constexpr size_t kShown = 64;
  return absl::StrCat("\"", absl::CHexEscape(text.substr(0, kShown)),
                      text.size() > kShown ? "...\"" : "\"");
}

double DigitsToNumber(absl::string_view digits) {
  double value = 0;
  std::from_chars(digits.data(), digits.data() + digits.size(), value);
  return value;
}

std::string NumberToString(double number) {
  if (number == 0) return "0";
  if (number < 0) return absl::StrCat("-", NumberToString(-number));
  // The shortest digits that read back as `number`, which is what ECMAScript's Number::toString
  // picks too; only the layout differs.
  char buffer[64];
  const auto [end, ec] =
      std::to_chars(buffer, buffer + sizeof(buffer), number, std::chars_format::scientific);
  const absl::string_view scientific(buffer, end - buffer);
  const size_t e = scientific.find('e');
  std::string digits(scientific.substr(0, e));
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int k = static_cast<int>(digits.size());
  const int n = std::atoi(std::string(scientific.substr(e + 1)).c_str()) + 1;
  if (k <= n && n <= 21) return digits + std::string(n - k, '0');
  if (0 < n && n <= 21) return absl::StrCat(digits.substr(0, n), ".", digits.substr(n));
  if (-6 < n && n <= 0) return absl::StrCat("0.", std::string(-n, '0'), digits);
  const std::string exponent = absl::StrCat(n - 1 < 0 ? "-" : "+", std::abs(n - 1));
  if (k == 1) return absl::StrCat(digits, "e", exponent);
  return absl::StrCat(digits.substr(0, 1), ".", digits.substr(1), "e", exponent);
}

std::string DigitsPlusOne(absl::string_view digits) {
  return NumberToString(DigitsToNumber(digits) + 1);
}

std::optional<uint64_t> SafeInteger(absl::string_view digits) {
  while (digits.size() > 1 && digits[0] == '0') digits.remove_prefix(1);
  if (!IsAllDigits(digits) || digits.size() > 16) return std::nullopt;
  uint64_t value = 0;
  for (char c : digits) value = value * 10 + static_cast<uint64_t>(c - '0');
  if (value > kMaxSafeInteger) return std::nullopt;
  return value;
}

bool IsNaNString(absl::string_view s) {
  // ECMAScript StringToNumber over the characters an identifier can hold.
  if (s.empty()) return false;  // Number("") is 0
  if (s.size() > 2 && s[0] == '0') {
    const auto all_of = [&](auto digit_ok) {
      return std::all_of(s.begin() + 2, s.end(), digit_ok);
    };
    switch (s[1]) {
      case 'x':
      case 'X':
        return !all_of([](char c) { return absl::ascii_isxdigit(c); });
      case 'o':
      case 'O':
        return !all_of([](char c) { return c >= '0' && c <= '7'; });
      case 'b':
      case 'B':
        return !all_of([](char c) { return c == '0' || c == '1'; });
      default:
        break;
    }
  }
  if (s[0] == '-' || s[0] == '+') s.remove_prefix(1);
  if (s == "Infinity") return false;
  const size_t whole = DigitRun(s, 0);
  size_t i = whole;
  size_t fraction = 0;
  if (i < s.size() && s[i] == '.') {
    fraction = DigitRun(s, i + 1);
    i += 1 + fraction;
  }
  if (whole + fraction == 0) return true;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    size_t k = i + 1;
    if (k < s.size() && (s[k] == '+' || s[k] == '-')) ++k;
    const size_t exponent = DigitRun(s, k);
    if (exponent == 0) return true;
    i = k + exponent;
  }
  return i != s.size();
}

size_t SkipVersionPrefix(absl::string_view s, size_t i) {
  while (i < s.size()) {
    if (s[i] == 'v' || s[i] == '=') {
      ++i;
    } else if (size_t n = WhitespaceLengthAt(s, i)) {
      i += n;
    } else {
      break;
    }
  }
  return i;
}

bool IsPrereleaseIdentifier(absl::string_view piece, bool loose) {
  if (piece.empty() || IdentifierRun(piece, 0) != piece.size()) return false;
  const size_t digits = DigitRun(piece, 0);
  if (digits == piece.size()) return IsNumericIdentifier(piece, loose);
  // NONNUMERICIDENTIFIER: \d{0,256}[a-zA-Z-][a-zA-Z0-9-]{0,250}
  return digits <= kMaxLength && piece.size() - digits - 1 <= kMaxSafeBuildLength;
}

bool IsPrereleaseList(absl::string_view text, bool loose) {
  return AllPieces(text, IsPrereleaseIdentifier, loose);
}

bool IsBuildList(absl::string_view text) { return AllPieces(text, IsBuildIdentifier, false); }

std::optional<VersionCaptures> MatchFullVersion(absl::string_view body, bool loose) {
  const size_t dot1 = body.find('.');
  if (dot1 == kNone) return std::nullopt;
  const size_t dot2 = body.find('.', dot1 + 1);
  if (dot2 == kNone) return std::nullopt;
  VersionCaptures captures;
  captures.major = body.substr(0, dot1);
  captures.minor = body.substr(dot1 + 1, dot2 - dot1 - 1);
  if (!IsNumericIdentifier(*captures.major, loose) ||
      !IsNumericIdentifier(*captures.minor, loose) ||
      !MatchPatchAndTail(body, dot2 + 1, loose, /*allow_x=*/false, &captures)) {
    return std::nullopt;
  }
  return captures;
}

std::optional<VersionCaptures> MatchPartialVersion(absl::string_view body, bool loose) {
  VersionCaptures captures;
  const size_t dot1 = body.find('.');
  captures.major = body.substr(0, dot1);
  if (!IsXRangeIdentifier(*captures.major, loose)) return std::nullopt;
  if (dot1 == kNone) return captures;
  const size_t dot2 = body.find('.', dot1 + 1);
  captures.minor = body.substr(dot1 + 1, dot2 == kNone ? absl::string_view::npos : dot2 - dot1 - 1);
  if (!IsXRangeIdentifier(*captures.minor, loose)) return std::nullopt;
  if (dot2 == kNone) return captures;
  if (!MatchPatchAndTail(body, dot2 + 1, loose, /*allow_x=*/true, &captures)) return std::nullopt;
  return captures;
}

std::optional<ComparatorCaptures> MatchComparator(absl::string_view s, bool loose) {
  if (s.empty()) return ComparatorCaptures{};
  size_t i = 0;
  if (s[i] == '<' || s[i] == '>') ++i;
  if (i < s.size() && s[i] == '=') ++i;
  ComparatorCaptures captures;
  captures.op = s.substr(0, i);
  i += WhitespaceLengthAt(s, i);  // \s?
  const absl::string_view version = s.substr(i);
  const size_t body =
      loose ? SkipVersionPrefix(version, 0) : (!version.empty() && version[0] == 'v' ? 1 : 0);
  if (!MatchFullVersion(version.substr(body), loose)) return std::nullopt;
  captures.version = version;
  return captures;
}

std::optional<CoerceCaptures> ExecCoerce(absl::string_view s, size_t from, bool full) {
  for (size_t start = from; start < s.size(); ++start) {
    // (^|[^\d]): `^` first, which only holds at 0.
    if (start == 0) {
      if (std::optional<CoerceCaptures> m = MatchCoerceAt(s, 0, full)) return m;
    }
    if (!IsDigit(s[start])) {
      if (std::optional<CoerceCaptures> m =
              MatchCoerceAt(s, start + CodeUnitBytesAt(s, start), full)) {
        return m;
      }
    }
  }
  return std::nullopt;
}

std::string StripAllBuildMetadata(absl::string_view s) {
  // `\+([a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*)`, greedy, every match.
  if (s.find('+') == kNone) return std::string(s);
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const size_t first = s[i] == '+' ? IdentifierRun(s, i + 1) : 0;
    if (first == 0) {
      out.push_back(s[i++]);
      continue;
    }
    i += 1 + first;
    while (i < s.size() && s[i] == '.' && IdentifierRun(s, i + 1) > 0) {
      i += 1 + IdentifierRun(s, i + 1);
    }
  }
  return out;
}

std::string StripFirstBuildMetadata(absl::string_view s) {
  // `\+([a-zA-Z0-9-]{1,250}(?:\.[a-zA-Z0-9-]{1,250})*)`, greedy, first match only.
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '+' || IdentifierRun(s, i + 1) == 0) continue;
    size_t end = i + 1 + std::min(IdentifierRun(s, i + 1), kMaxSafeBuildLength);
    while (end < s.size() && s[end] == '.' && IdentifierRun(s, end + 1) > 0) {
      end += 1 + std::min(IdentifierRun(s, end + 1), kMaxSafeBuildLength);
    }
    return absl::StrCat(s.substr(0, i), s.substr(end));
  }
  return std::string(s);
}

}  // namespace ovvoc::agent::npm::internal
