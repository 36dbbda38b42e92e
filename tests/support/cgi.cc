#include "tests/support/cgi.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace ovvoc::testing {
namespace {

// Offset of the blank line ending the headers and its length, CRLF or bare LF.
std::pair<size_t, size_t> FindHeaderEnd(absl::string_view output) {
  if (absl::StartsWith(output, "\r\n")) return {0, 2};
  if (absl::StartsWith(output, "\n")) return {0, 1};
  size_t crlf = output.find("\r\n\r\n");
  size_t lf = output.find("\n\n");
  if (crlf != absl::string_view::npos && (lf == absl::string_view::npos || crlf < lf)) {
    return {crlf + 2, 2};
  }
  if (lf != absl::string_view::npos) return {lf + 1, 1};
  return {absl::string_view::npos, 0};
}

absl::Status AddHeader(absl::string_view line, CgiResponse& response) {
  size_t colon = line.find(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError(absl::StrCat("malformed CGI header line: ", line));
  }
  absl::string_view name = absl::StripAsciiWhitespace(line.substr(0, colon));
  absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
  if (absl::EqualsIgnoreCase(name, "Status")) {
    if (!absl::SimpleAtoi(value.substr(0, value.find(' ')), &response.status)) {
      return absl::InvalidArgumentError(absl::StrCat("malformed CGI status: ", value));
    }
  } else if (absl::EqualsIgnoreCase(name, "Content-Type")) {
    response.content_type = std::string(value);
  } else {
    response.headers.emplace_back(std::string(name), std::string(value));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CgiResponse> ParseCgiOutput(absl::string_view output) {
  auto [end, blank_length] = FindHeaderEnd(output);
  if (end == absl::string_view::npos) {
    return absl::InvalidArgumentError("CGI output has no end of headers");
  }
  CgiResponse response;
  for (absl::string_view line : absl::StrSplit(output.substr(0, end), '\n', absl::SkipEmpty())) {
    line = absl::StripSuffix(line, "\r");
    if (line.empty()) continue;
    if (absl::Status status = AddHeader(line, response); !status.ok()) return status;
  }
  response.body = std::string(output.substr(end + blank_length));
  return response;
}

}  // namespace ovvoc::testing
