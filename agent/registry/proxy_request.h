// Parsing what a client inside the container sends to the egress proxy: one request head
// (request line and header fields). All of it is untrusted. Only two shapes are accepted:
//   CONNECT host:port HTTP/1.1              (authority-form; the port is required)
//   GET http://host[:port]/path HTTP/1.1    (absolute-form, plain HTTP; any method)
// Pure functions, thread-safe.
#ifndef OVVOC_AGENT_REGISTRY_PROXY_REQUEST_H_
#define OVVOC_AGENT_REGISTRY_PROXY_REQUEST_H_

#include <cstddef>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ovvoc::agent::registry {

// Longest request head the proxy reads; a longer one is refused.
inline constexpr size_t kMaxRequestHeadBytes = 16 * 1024;

struct ProxyRequest {
  std::string method;  // "CONNECT", "GET", ...
  std::string host;    // NormalizeHost() form
  int port = 0;
  bool is_connect = false;
  // Plain HTTP only: the head to send upstream. Origin-form request line; hop-by-hop and
  // proxy fields dropped; Host set from the URL; "Connection: close"; ends with CRLF CRLF.
  std::string upstream_head;
};

// The length of the head at the start of `buffer` (through the blank line that ends it, CRLF
// or bare LF), or nullopt while it is incomplete.
std::optional<size_t> FindHeadEnd(absl::string_view buffer);

// Parses one complete head (as delimited by FindHeadEnd). InvalidArgument with a short,
// loggable reason (never echoing the client's bytes) for anything else.
absl::StatusOr<ProxyRequest> ParseProxyRequest(absl::string_view head);

// The form hosts are compared in: a hostname lowercased without its trailing dot, or an IP
// literal in canonical text without brackets ("[::1]" and "0::1" -> "::1"). InvalidArgument
// for anything that is neither (empty labels, characters outside [A-Za-z0-9._-], ...).
absl::StatusOr<std::string> NormalizeHost(absl::string_view host);

// The request's method if it is a plausible token, for logging a refusal; else "".
std::string MethodForLog(absl::string_view head);

}  // namespace ovvoc::agent::registry

#endif  // OVVOC_AGENT_REGISTRY_PROXY_REQUEST_H_
