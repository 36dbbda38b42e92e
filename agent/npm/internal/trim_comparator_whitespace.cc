// internal/trim-comparator-whitespace.js, ported function by function: the hand-written
// stand-in for the COMPARATORTRIM regular expression in the bundled semver 7.8.6 (7.8.5 still
// ran the expression; where the two differ, this follows 7.8.6).
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/npm/internal/semver_syntax.h"

namespace ovvoc::agent::npm::internal {
namespace {

constexpr size_t kNone = absl::string_view::npos;

bool IsAsciiWhitespace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
bool IsXChar(char c) { return c == 'x' || c == 'X' || c == '*'; }

// The JavaScript function's helpers, same names, same order; positions are byte offsets
// (every character they test is ASCII). digit_run_end_ replaces its two-entry cache of digit
// runs: both exist so that long runs of digits are read once, not once per candidate.
class ComparatorWhitespaceTrimmer {
 public:
  explicit ComparatorWhitespaceTrimmer(absl::string_view range)
      : range_(range), digit_run_end_(range.size() + 1) {
    digit_run_end_[range.size()] = range.size();
    for (size_t i = range.size(); i-- > 0;) {
      digit_run_end_[i] = IsDigit(range[i]) ? std::max(i + 1, digit_run_end_[i + 1]) : i;
    }
  }

  std::string Trim() const {
    std::string result;
    size_t copy_from = 0;
    size_t cursor = 0;
    while (cursor < range_.size()) {
      const size_t match_start = cursor;
      if (At(cursor) == '<' || At(cursor) == '>') {
        ++cursor;
      } else if (!IsVersionPrefix(cursor) && !IsVersionStart(At(cursor))) {
        ++cursor;
        continue;
      }
      // Consume a v/=/whitespace run once, even when no version follows it.
      while (cursor < range_.size() && IsVersionPrefix(cursor)) ++cursor;
      if (!IsVersionStart(At(cursor))) continue;
      const size_t whitespace = FindRemovableWhitespaceIndex(match_start);
      if (whitespace != kNone) {
        absl::StrAppend(&result, range_.substr(copy_from, whitespace - copy_from));
        copy_from = whitespace + 1;
      }
      cursor = FindVersionEndIndex(cursor);
    }
    absl::StrAppend(&result, range_.substr(std::min(copy_from, range_.size())));
    return result;
  }

 private:
  char At(size_t i) const { return i < range_.size() ? range_[i] : '\0'; }
  bool IsWhitespace(size_t i) const { return IsAsciiWhitespace(At(i)); }
  bool IsVersionPrefix(size_t i) const { return At(i) == 'v' || At(i) == '=' || IsWhitespace(i); }
  static bool IsVersionStart(char c) { return IsDigit(c) || IsXChar(c); }

  size_t FindDigitsEndIndex(size_t start, size_t limit) const {
    if (!IsDigit(At(start))) return start;
    return std::min(start + limit, digit_run_end_[start]);
  }
  size_t FindVersionNumberEndIndex(size_t start, bool loose) const {
    if (!loose && At(start) == '0') return start + 1;
    return FindDigitsEndIndex(start, loose ? kMaxLength : kMaxLength + 1);
  }
  size_t FindPrereleaseIdentifierEndIndex(size_t start, bool loose) const {
    const size_t digits_end = FindDigitsEndIndex(start, kMaxLength);
    if (IsLetter(At(digits_end)) || At(digits_end) == '-') {
      size_t end = digits_end + 1;
      const size_t limit = end + kMaxSafeBuildLength;
      while (end < limit && IsIdentifierChar(At(end))) ++end;
      return end;
    }
    return FindVersionNumberEndIndex(start, loose);
  }
  size_t FindPrereleaseEndIndex(size_t start, bool loose) const {
    const bool hyphen = At(start) == '-';
    if (!loose && !hyphen) return start;
    const size_t identifier_start = start + (hyphen ? 1 : 0);
    size_t end = FindPrereleaseIdentifierEndIndex(identifier_start, loose);
    if (end == identifier_start) {
      if (!loose || !hyphen) return start;
      end = FindPrereleaseIdentifierEndIndex(start, loose);  // a lone hyphen
    }
    while (At(end) == '.') {
      const size_t next = FindPrereleaseIdentifierEndIndex(end + 1, loose);
      if (next == end + 1) break;
      end = next;
    }
    return end;
  }
  size_t FindBuildIdentifierEndIndex(size_t start) const {
    size_t end = start;
    while (end - start < kMaxSafeBuildLength && IsIdentifierChar(At(end))) ++end;
    return end;
  }
  size_t FindBuildEndIndex(size_t start) const {
    if (At(start) != '+') return start;
    size_t end = FindBuildIdentifierEndIndex(start + 1);
    if (end == start + 1) return start;
    while (At(end) == '.') {
      const size_t next = FindBuildIdentifierEndIndex(end + 1);
      if (next == end + 1) break;
      end = next;
    }
    return end;
  }
  size_t FindLooseFullVersionEndIndex(size_t start) const {
    size_t end = start;
    for (int component = 0; component < 3; ++component) {
      const size_t next = FindVersionNumberEndIndex(end, true);
      if (next == end) return start;
      end = next;
      if (component < 2) {
        if (At(end) != '.') return start;
        ++end;
      }
    }
    return FindBuildEndIndex(FindPrereleaseEndIndex(end, true));
  }
  size_t FindPartialVersionComponentEndIndex(size_t start) const {
    if (IsDigit(At(start))) return FindVersionNumberEndIndex(start, false);
    return IsVersionStart(At(start)) ? start + 1 : start;
  }
  size_t FindPartialVersionEndIndex(size_t start) const {
    size_t end = FindPartialVersionComponentEndIndex(start);
    for (int component = 0; component < 2; ++component) {
      if (At(end) != '.') return end;
      const size_t next = FindPartialVersionComponentEndIndex(end + 1);
      if (next == end + 1) return end;
      end = next;
    }
    return FindBuildEndIndex(FindPrereleaseEndIndex(end, false));
  }
  size_t FindVersionEndIndex(size_t start) const {
    const size_t full = FindLooseFullVersionEndIndex(start);
    return full != start ? full : FindPartialVersionEndIndex(start);
  }
  size_t FindRemovableWhitespaceIndex(size_t match_start) const {
    size_t position = match_start;
    if (IsWhitespace(position)) ++position;
    if (At(position) == '<' || At(position) == '>') ++position;
    if (At(position) == '=') ++position;
    return IsWhitespace(position) ? position : kNone;
  }

  const absl::string_view range_;
  std::vector<size_t> digit_run_end_;
};

}  // namespace

std::string TrimComparatorWhitespace(absl::string_view range) {
  return ComparatorWhitespaceTrimmer(range).Trim();
}

}  // namespace ovvoc::agent::npm::internal
