// Parses the output of a CGI program (RFC 3875 section 6): header lines, a blank line, a body.
// Test support only.
#ifndef OVVOC_TESTS_SUPPORT_CGI_H_
#define OVVOC_TESTS_SUPPORT_CGI_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ovvoc::testing {

struct CgiResponse {
  int status = 200;          // from "Status: 404 Not Found"; 200 when absent
  std::string content_type;  // from "Content-Type:"
  std::vector<std::pair<std::string, std::string>> headers;  // every other header, in order
  std::string body;
};

// InvalidArgument when the output has no header block or a malformed line.
absl::StatusOr<CgiResponse> ParseCgiOutput(absl::string_view output);

}  // namespace ovvoc::testing

#endif  // OVVOC_TESTS_SUPPORT_CGI_H_
