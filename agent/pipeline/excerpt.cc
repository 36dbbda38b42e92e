#include "agent/pipeline/excerpt.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace ovvoc::agent {
namespace {

// Lines shown around the first error: one before (what was running), several after (the
// message's own lines and the first stack frames).
constexpr size_t kBefore = 1;
constexpr size_t kAfter = 12;
// The error's part takes at most this share of the budget; the end gets the rest.
constexpr size_t kErrorShare = 2;  // one half

bool IsIdentifierChar(char c) { return absl::ascii_isalnum(c) || c == '_' || c == '$'; }

// `word` in `line` where the character after it is not part of an identifier: "Error" in
// "TypeError: x" and "Error:", not in "Errors" or "errorOnDeprecated".
bool HasWordEnd(absl::string_view line, absl::string_view word) {
  for (size_t at = line.find(word); at != absl::string_view::npos;
       at = line.find(word, at + 1)) {
    const size_t end = at + word.size();
    if (end == line.size() || !IsIdentifierChar(line[end])) return true;
  }
  return false;
}

// The last `max_bytes` of `text`, from a line's start where one is near.
absl::string_view TailOf(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  absl::string_view tail = text.substr(text.size() - max_bytes);
  const size_t newline = tail.find('\n');
  if (newline != absl::string_view::npos && newline < 200) tail.remove_prefix(newline + 1);
  return tail;
}

}  // namespace

bool LooksLikeError(absl::string_view line) {
  const absl::string_view trimmed = absl::StripLeadingAsciiWhitespace(line);
  return HasWordEnd(line, "Error") || absl::StrContains(line, "ERR!") ||
         absl::StrContains(line, "error TS") || absl::StartsWith(trimmed, "error:") ||
         absl::StartsWith(trimmed, "Error ") || absl::StartsWith(trimmed, "FAIL ") ||
         absl::StartsWith(trimmed, "not ok ") || absl::StartsWith(trimmed, "\xE2\x9C\x96") ||  // ✖
         absl::StartsWith(trimmed, "\xE2\x9C\x97") ||                                       // ✗
         absl::StrContains(line, "Cannot find module") || absl::StrContains(line, "command not found");
}

std::string CommandExcerpt(absl::string_view output, size_t max_bytes) {
  if (output.size() <= max_bytes) return std::string(output);

  // Where the first error line starts and its block ends, in bytes.
  size_t block_start = absl::string_view::npos, block_end = 0;
  std::vector<size_t> starts;  // of the lines before the current one, for kBefore
  size_t pos = 0, after = 0;
  while (pos < output.size()) {
    size_t end = output.find('\n', pos);
    end = end == absl::string_view::npos ? output.size() : end + 1;
    const absl::string_view line = output.substr(pos, end - pos);
    if (block_start == absl::string_view::npos) {
      if (LooksLikeError(line)) {
        block_start = starts.size() >= kBefore ? starts[starts.size() - kBefore] : pos;
        block_end = end;
        after = kAfter;
      } else {
        starts.push_back(pos);
        if (starts.size() > kBefore) starts.erase(starts.begin());
      }
    } else if (after > 0) {
      block_end = end;
      --after;
    } else {
      break;
    }
    pos = end;
  }

  const size_t error_budget = max_bytes / kErrorShare;
  if (block_start == absl::string_view::npos) {
    const absl::string_view tail = TailOf(output, max_bytes);
    return absl::StrCat("[... ", output.size() - tail.size(), " bytes before ...]\n", tail);
  }
  absl::string_view block = output.substr(block_start, block_end - block_start);
  if (block.size() > error_budget) block = block.substr(0, error_budget);
  const size_t tail_budget = max_bytes - block.size();
  absl::string_view tail = TailOf(output, tail_budget);
  const size_t tail_start = output.size() - tail.size();
  if (tail_start <= block_start + block.size()) {
    // The error is near the end: the end alone shows it.
    tail = TailOf(output, max_bytes);
    return absl::StrCat("[... ", output.size() - tail.size(), " bytes before ...]\n", tail);
  }
  std::string out;
  if (block_start > 0) absl::StrAppend(&out, "[... ", block_start, " bytes before ...]\n");
  absl::StrAppend(&out, block);
  if (!absl::EndsWith(block, "\n")) out += '\n';
  absl::StrAppend(&out, "[... ", tail_start - (block_start + block.size()),
                  " bytes between ...]\n", tail);
  return out;
}

}  // namespace ovvoc::agent
