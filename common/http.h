// HTTP client: the one way the agent talks HTTP(S) to registries and forges (libcurl), behind an
// interface that tests replace with an in-memory fake (tests/support/fake_http.h).
//
// A Client sends one request and returns whatever status the server answered; only a transport
// failure (no connection, TLS, timeout, an answer over its size cap) is an error status.
// SendWithRetries() adds what a good registry client does on top: it retries transport
// failures, 429 and 5xx with exponential backoff, and honours Retry-After.
//
// Thread-safety: Client::Send may be called from any number of threads at once.
#ifndef OVVOC_COMMON_HTTP_H_
#define OVVOC_COMMON_HTTP_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

struct sockaddr;  // <sys/socket.h>

namespace ovvoc::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Where a body goes when it is not to be held in memory (a tarball of hundreds of MiB).
class BodySink {
 public:
  virtual ~BodySink() = default;
  // An attempt begins (SendWithRetries may make several): forget what earlier ones wrote.
  virtual absl::Status Restart() = 0;
  // The body's next bytes as they arrive (within max_body_bytes); an error ends the exchange
  // and Send() returns it.
  virtual absl::Status Write(absl::string_view bytes) = 0;
};

struct Request {
  std::string method = "GET";
  std::string url;  // http:// or https:// only
  Headers headers;
  std::string body;
  absl::Duration connect_timeout = absl::Seconds(10);
  absl::Duration timeout = absl::Seconds(60);  // the whole exchange, body included
  // An answer whose body would exceed this fails with RESOURCE_EXHAUSTED, before or while it
  // arrives: a lying registry cannot fill the agent's memory.
  size_t max_body_bytes = 64 << 20;
  // When set (not owned), the body goes there and Response::body stays empty.
  BodySink* body_sink = nullptr;
  // Asked before every connection the request opens, with the address about to be dialled
  // (after name resolution, so a name cannot be re-pointed between a check and the connect).
  // An error refuses the connection: Send() fails PERMISSION_DENIED with its message.
  std::function<absl::Status(const ::sockaddr* address, size_t length)> check_address;
  // Polled while the exchange runs (and between SendWithRetries' attempts): true abandons it
  // with CANCELLED.
  std::function<bool()> cancelled;
};

struct Response {
  int status = 0;
  Headers headers;  // names lower-cased, in the order received
  std::string body;

  // The first value of header `name` (any case), if present.
  std::optional<std::string> Header(absl::string_view name) const;
};

class Client {
 public:
  virtual ~Client() = default;
  // Errors: UNAVAILABLE (could not connect, connection lost), DEADLINE_EXCEEDED (a timeout),
  // RESOURCE_EXHAUSTED (the body cap), INVALID_ARGUMENT (a URL it will not fetch),
  // PERMISSION_DENIED (check_address refused), CANCELLED (request.cancelled), each with a
  // message naming the URL.
  virtual absl::StatusOr<Response> Send(const Request& request) = 0;
};

struct CurlOptions {
  // Requests in flight at once; further Send() calls wait for one to finish. Each slot keeps
  // its connections alive for the next request to the same host.
  int max_parallel = 8;
  std::string ca_file;  // PEM bundle to trust instead of the system's; "" for the system's
  std::string user_agent = "ovvoc-agent";
};

// libcurl: HTTP/1.1 keep-alive, HTTP/2 where the server offers it (ALPN), TLS verified against
// the system's (or `ca_file`'s) roots, no redirects followed, http and https only.
std::unique_ptr<Client> NewCurlClient(const CurlOptions& options = {});

struct RetryPolicy {
  int attempts = 4;  // in all, the first included
  absl::Duration first_backoff = absl::Milliseconds(250);
  absl::Duration max_backoff = absl::Seconds(30);  // also caps what Retry-After may ask
  // How to wait between attempts (tests record instead); defaults to absl::SleepFor.
  std::function<void(absl::Duration)> sleep;
};

// True for the statuses worth another attempt: 408, 429, 500, 502, 503, 504.
bool Retryable(int status);

// How long a Retry-After value asks to wait ("120" or an HTTP-date, relative to `now`);
// nullopt when it says nothing usable.
std::optional<absl::Duration> ParseRetryAfter(absl::string_view value, absl::Time now);

// Sends `request`, retrying transport failures other than the body cap, INVALID_ARGUMENT,
// PERMISSION_DENIED and CANCELLED,
// and retryable statuses, up to `policy.attempts` in all. Waits first_backoff, then twice as
// long each time (at most max_backoff), or what the server's Retry-After asks when it asks for
// longer. Returns the last response or error.
absl::StatusOr<Response> SendWithRetries(Client& client, const Request& request,
                                         const RetryPolicy& policy = {});

}  // namespace ovvoc::http

#endif  // OVVOC_COMMON_HTTP_H_
