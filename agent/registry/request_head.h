// Parsing what a client inside the container sends to the registry gateway: one HTTP/1.x
// request head (request line and header fields). All of it is untrusted; every error is a
// short, loggable reason that never echoes the client's bytes. Pure functions, thread-safe.
#ifndef OVVOC_AGENT_REGISTRY_REQUEST_HEAD_H_
#define OVVOC_AGENT_REGISTRY_REQUEST_HEAD_H_

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ovvoc::agent::registry {

// Longest request head the gateway reads; a longer one is refused.
inline constexpr size_t kMaxRequestHeadBytes = 16 * 1024;

struct RequestHead {
  std::string method;   // a token: "GET", "CONNECT", ...
  std::string target;   // as sent: "host:443", "http://h/p", "/p?q"
  std::string version;  // "HTTP/1.1" or "HTTP/1.0"
  std::vector<std::pair<std::string, std::string>> fields;  // names lowercased, in order

  // The values of field `lower_name`, in order.
  std::vector<std::string> Values(absl::string_view lower_name) const;
  // Whether the client asked to keep the connection open after this exchange.
  bool KeepAlive() const;
};

struct Authority {
  std::string host;  // NormalizeHost() form
  int port = 0;
};

// The length of the head at the start of `buffer` (through the blank line that ends it, CRLF
// or bare LF), or nullopt while it is incomplete.
std::optional<size_t> FindHeadEnd(absl::string_view buffer);

// Parses one complete head (as delimited by FindHeadEnd).
absl::StatusOr<RequestHead> ParseRequestHead(absl::string_view head);

// "host:port", "[v6]:port", or, when default_port > 0, "host" alone.
absl::StatusOr<Authority> ParseAuthority(absl::string_view authority, int default_port);

// An absolute-form "http://authority/path?query#fragment" target: its authority and its
// origin-form path ("/path?query", fragment dropped). https:// is refused: it must come
// through CONNECT.
absl::StatusOr<std::pair<Authority, std::string>> ParseHttpUrl(absl::string_view target);

// The form hosts are compared in: a hostname lowercased without its trailing dot, or an IP
// literal in canonical text without brackets ("[::1]" and "0::1" -> "::1"). InvalidArgument
// for anything that is neither (empty labels, characters outside [A-Za-z0-9._-], ...).
absl::StatusOr<std::string> NormalizeHost(absl::string_view host);

// "host:port", "[v6]:port".
std::string HostPort(absl::string_view host, int port);

// The request's method if it is a plausible token, for logging a refusal; else "".
std::string MethodForLog(absl::string_view head);

}  // namespace ovvoc::agent::registry

#endif  // OVVOC_AGENT_REGISTRY_REQUEST_HEAD_H_
