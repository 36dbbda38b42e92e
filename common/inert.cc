#include "common/inert.h"

#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ovvoc {
namespace {

// The length of the well-formed UTF-8 sequence at the start of `s` (2 to 4), or 0.
size_t Utf8Length(absl::string_view s) {
  const auto byte = [&s](size_t i) { return static_cast<uint8_t>(s[i]); };
  const uint8_t lead = byte(0);
  size_t length = 0;
  uint32_t min = 0;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2, min = 0x80;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3, min = 0x800;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() < length) return 0;
  uint32_t code = lead & (0x7f >> length);
  for (size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xc0) != 0x80) return 0;
    code = code << 6 | (byte(i) & 0x3f);
  }
  if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return 0;
  return length;
}

uint32_t CodePoint(absl::string_view s, size_t length) {
  uint32_t code = static_cast<uint8_t>(s[0]) & (0x7f >> length);
  for (size_t i = 1; i < length; ++i) code = code << 6 | (static_cast<uint8_t>(s[i]) & 0x3f);
  return code;
}

// C1 controls, and the characters that reorder, hide or break text on a terminal without
// showing themselves: bidi controls, zero-width and other format characters (Unicode's Cf),
// line and paragraph separators, fillers that render as blanks, variation selectors and tags.
bool IsDangerousCodePoint(uint32_t c) {
  static constexpr std::pair<uint32_t, uint32_t> kRanges[] = {
      {0x0080, 0x009f},   {0x00ad, 0x00ad},   {0x034f, 0x034f},   {0x0600, 0x0605},
      {0x061c, 0x061c},   {0x06dd, 0x06dd},   {0x070f, 0x070f},   {0x115f, 0x1160},
      {0x17b4, 0x17b5},   {0x180b, 0x180f},   {0x200b, 0x200f},   {0x2028, 0x202e},
      {0x2060, 0x206f},   {0x3164, 0x3164},   {0xfe00, 0xfe0f},   {0xfeff, 0xfeff},
      {0xffa0, 0xffa0},   {0xfff9, 0xfffb},   {0x110bd, 0x110bd}, {0x1bca0, 0x1bca3},
      {0x1d173, 0x1d17a}, {0xe0000, 0xe0fff},
  };
  for (const auto& [first, last] : kRanges) {
    if (c >= first && c <= last) return true;
  }
  return false;
}

std::string Escape(absl::string_view text, bool keep_layout) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<uint8_t>(text[i]);
    if (c < 0x80) {
      const bool layout = c == '\n' || c == '\t';
      if ((c >= 0x20 && c != 0x7f) || (layout && keep_layout)) {
        out.push_back(static_cast<char>(c));
      } else if (c == '\n') {
        out += "\\n";
      } else if (c == '\t') {
        out += "\\t";
      } else {
        absl::StrAppendFormat(&out, "\\x%02x", c);
      }
      ++i;
      continue;
    }
    const size_t length = Utf8Length(text.substr(i));
    if (length == 0) {
      absl::StrAppendFormat(&out, "\\x%02x", c);
      ++i;
    } else if (const uint32_t code = CodePoint(text.substr(i), length);
               IsDangerousCodePoint(code)) {
      absl::StrAppendFormat(&out, "\\u%04x", code);
      i += length;
    } else {
      out.append(text.data() + i, length);
      i += length;
    }
  }
  return out;
}

// The longest prefix of `s` of at most `n` bytes that does not split a UTF-8 sequence.
absl::string_view Head(absl::string_view s, size_t n) {
  if (s.size() <= n) return s;
  while (n > 0 && (static_cast<uint8_t>(s[n]) & 0xc0) == 0x80) --n;
  return s.substr(0, n);
}

absl::string_view Tail(absl::string_view s, size_t n) {
  if (s.size() <= n) return s;
  size_t start = s.size() - n;
  while (start < s.size() && (static_cast<uint8_t>(s[start]) & 0xc0) == 0x80) ++start;
  return s.substr(start);
}

}  // namespace

std::string InertLine(absl::string_view text, size_t max_bytes) {
  std::string out = Escape(text, /*keep_layout=*/false);
  if (out.size() <= max_bytes) return out;
  const std::string marker = absl::StrCat("[... ", out.size() - max_bytes, " bytes omitted]");
  const size_t keep = max_bytes > marker.size() ? max_bytes - marker.size() : 0;
  return absl::StrCat(Head(out, keep), marker);
}

std::string InertText(absl::string_view text, size_t max_bytes) {
  std::string out = Escape(text, /*keep_layout=*/true);
  if (out.size() <= max_bytes) return out;
  const std::string marker =
      absl::StrCat("\n[... ", out.size() - max_bytes, " bytes omitted ...]\n");
  const size_t keep = max_bytes > marker.size() ? (max_bytes - marker.size()) / 2 : 0;
  return absl::StrCat(Head(out, keep), marker, Tail(out, keep));
}

}  // namespace ovvoc
