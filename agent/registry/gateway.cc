#include "agent/registry/gateway.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <optional>
#include <system_error>
#include <utility>

#include "absl/memory/memory.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/process/netns.h"
#include "agent/registry/address_policy.h"
#include "agent/registry/request_head.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace ovvoc::agent::registry {
namespace {

constexpr size_t kChunk = 64 * 1024;

absl::Status ErrnoStatus(absl::string_view what, int err = errno) {
  return absl::ErrnoToStatus(err, what);
}

absl::StatusOr<UniqueFd> ListenOnLoopback() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoStatus("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ErrnoStatus("bind 127.0.0.1");
  }
  if (::listen(fd.get(), 128) != 0) return ErrnoStatus("listen");
  return fd;
}

// The socket is made on a thread that joins the namespace and then ends (RunInNetns), so no
// other thread's namespace ever changes; a socket stays in the namespace it was made in.
absl::StatusOr<UniqueFd> Listen(const std::string& netns_path) {
  if (netns_path.empty()) return ListenOnLoopback();
  absl::StatusOr<UniqueFd> listener = absl::InternalError("namespace thread did not run");
  OVVOC_RETURN_IF_ERROR(RunInNetns(netns_path, [&] {
    listener = ListenOnLoopback();
    return absl::OkStatus();
  }));
  return listener;
}

absl::StatusOr<int> BoundPort(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return ErrnoStatus("getsockname");
  }
  return ntohs(addr.sin_port);
}

// Half-closes, then reads and drops what the client still sends for a moment (the body of a
// refused PUT, say), so that closing does not become a reset that destroys the answer before
// the client has read it.
void LingeringClose(int fd, int stop_fd) {
  ::shutdown(fd, SHUT_WR);
  constexpr size_t kLingerBytes = 64 * 1024;
  const absl::Time deadline = absl::Now() + absl::Seconds(1);
  size_t dropped = 0;
  char sink[4096];
  while (dropped < kLingerBytes) {
    const int left = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (left <= 0) return;
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    if (::poll(fds, 2, left) <= 0 || fds[1].revents != 0) return;
    ssize_t n = ::recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
    if (n <= 0) return;
    dropped += static_cast<size_t>(n);
  }
}

absl::string_view StatusText(int code) {
  switch (code) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 421: return "Misdirected Request";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

// A byte stream to the client: the plain socket, or TLS over it. Blocking, with the socket's
// own send and receive timeouts bounding every call.
class Stream {
 public:
  virtual ~Stream() = default;
  // >0 bytes read, 0 at the end, <0 on an error or timeout.
  virtual ssize_t Read(char* buffer, size_t size) = 0;
  virtual bool WriteAll(absl::string_view data) = 0;
};

class PlainStream final : public Stream {
 public:
  explicit PlainStream(int fd) : fd_(fd) {}
  ssize_t Read(char* buffer, size_t size) override {
    while (true) {
      ssize_t n = ::recv(fd_, buffer, size, 0);
      if (n < 0 && errno == EINTR) continue;
      return n;
    }
  }
  bool WriteAll(absl::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

 private:
  const int fd_;
};

class TlsStream final : public Stream {
 public:
  explicit TlsStream(SSL* ssl) : ssl_(ssl) {}
  ~TlsStream() override { SSL_free(ssl_); }
  ssize_t Read(char* buffer, size_t size) override {
    int n = SSL_read(ssl_, buffer, static_cast<int>(std::min<size_t>(size, INT32_MAX)));
    if (n > 0) return n;
    return SSL_get_error(ssl_, n) == SSL_ERROR_ZERO_RETURN ? 0 : -1;
  }
  bool WriteAll(absl::string_view data) override {
    while (!data.empty()) {
      int n = SSL_write(ssl_, data.data(), static_cast<int>(std::min<size_t>(data.size(), kChunk)));
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

 private:
  SSL* const ssl_;
};

// What a request is about, for its event.
struct Target {
  const RegistryEndpoint* endpoint = nullptr;
  std::string path;  // origin-form
};


}  // namespace

struct Gateway::Worker {
  UniqueFd client;  // the connection, the worker thread's once it runs
  std::thread thread;
  std::atomic<bool> done{false};
};

// One client connection: its requests in turn, until it closes, idles out, asks for something
// that is not a read, or the gateway closes.
class Gateway::Connection {
 public:
  Connection(Gateway& gateway, int fd)
      : gateway_(gateway),
        options_(gateway.options_),
        fd_(fd),
        cancelled_([&gateway] { return gateway.stopping(); }) {}

  // An exception out of Run(): the request being served, if any, failed.
  void Crashed(absl::string_view what) {
    constexpr size_t kMaxWhat = 200;
    GatewayEvent event = std::move(serving_);
    event.failed = true;
    event.reason = absl::StrCat("internal error serving the request: ", what.substr(0, kMaxWhat));
    gateway_.AddEvent(std::move(event));
  }

  void Run() {
    PlainStream plain(fd_);
    while (!gateway_.stopping()) {
      std::optional<RequestHead> head = ReadRequest(plain, /*first=*/served_ == 0);
      if (!head) return;
      if (head->method == "CONNECT") return Tunnel(*head);
      absl::StatusOr<std::pair<Authority, std::string>> url = ParseHttpUrl(head->target);
      if (!url.ok()) return Refuse(plain, 400, *head, {}, url.status().message());
      const RegistryEndpoint* endpoint = Find(/*https=*/false, url->first, url->second);
      if (endpoint == nullptr) {
        return Refuse(plain, 403, *head, url->first, "not one of the job's registries",
                      url->second);
      }
      if (!Serve(plain, *head, Target{endpoint, url->second})) return;
    }
  }

 private:
  // The next request head, or nullopt (answered, or the client went away).
  std::optional<RequestHead> ReadRequest(Stream& stream, bool first) {
    // Between requests the idle timeout applies; from a head's first byte, its deadline.
    absl::Time head_deadline = absl::InfiniteFuture();
    while (true) {
      if (std::optional<size_t> end = FindHeadEnd(buffer_); end && *end <= kMaxRequestHeadBytes) {
        if (head_deadline != absl::InfiniteFuture()) SetReceiveTimeout(options_.idle_timeout);
        absl::StatusOr<RequestHead> head = ParseRequestHead(absl::string_view(buffer_).substr(0, *end));
        const std::string method = MethodForLog(buffer_);
        buffer_.erase(0, *end);
        if (head.ok()) return *std::move(head);
        Refuse(stream, 400, RequestHead{.method = method}, {}, head.status().message());
        return std::nullopt;
      }
      if (buffer_.size() > kMaxRequestHeadBytes) {
        Refuse(stream, 400, RequestHead{.method = MethodForLog(buffer_)}, {},
               "request head longer than 16 KiB");
        return std::nullopt;
      }
      if (!buffer_.empty() && head_deadline == absl::InfiniteFuture()) {
        head_deadline = absl::Now() + options_.request_head_timeout;
      }
      if (head_deadline != absl::InfiniteFuture()) {
        const absl::Duration left = head_deadline - absl::Now();
        if (left <= absl::ZeroDuration()) return SlowHead(stream);
        SetReceiveTimeout(std::min(left, options_.idle_timeout));
      }
      char chunk[4096];
      ssize_t n = stream.Read(chunk, sizeof(chunk));
      if (n <= 0) {
        if (head_deadline != absl::InfiniteFuture() && absl::Now() >= head_deadline) {
          return SlowHead(stream);
        }
        return std::nullopt;  // closed, timed out, or cut by Close()
      }
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  std::optional<RequestHead> SlowHead(Stream& stream) {
    GatewayEvent event;
    event.method = MethodForLog(buffer_);
    event.failed = true;
    event.reason = absl::StrCat("request head not complete within ",
                                absl::FormatDuration(options_.request_head_timeout),
                                " (a client sending it byte by byte)");
    const std::string body = absl::StrCat("ovvoc registry gateway: ", event.reason, "\n");
    gateway_.AddEvent(std::move(event));
    Respond(stream, 408, "text/plain", body, false, false);
    return std::nullopt;
  }

  void SetReceiveTimeout(absl::Duration timeout) {
    const timeval tv = absl::ToTimeval(std::max(timeout, absl::Milliseconds(1)));
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }

  // A registry at this origin, the one whose path is the longest prefix of `target` when
  // several share it (a scoped and a default registry on one host); null when none.
  const RegistryEndpoint* Find(bool https, const Authority& authority,
                               absl::string_view target = "") const {
    const RegistryEndpoint* best = nullptr;
    for (const RegistryEndpoint& endpoint : options_.registries) {
      if (!endpoint.SameOrigin(https, authority.host, authority.port)) continue;
      const bool under = absl::StartsWith(target, endpoint.path);
      const bool best_under = best != nullptr && absl::StartsWith(target, best->path);
      if (best == nullptr || (under && (!best_under || endpoint.path.size() > best->path.size()))) {
        best = &endpoint;
      }
    }
    return best;
  }

  // CONNECT to an https registry: TLS as that registry, then its requests.
  void Tunnel(const RequestHead& head) {
    PlainStream plain(fd_);
    absl::StatusOr<Authority> authority = ParseAuthority(head.target, 0);
    if (!authority.ok()) return Refuse(plain, 400, head, {}, authority.status().message());
    const RegistryEndpoint* endpoint = Find(/*https=*/true, *authority);
    if (endpoint == nullptr) {
      return Refuse(plain, 403, head, *authority, "not one of the job's registries");
    }
    if (!buffer_.empty()) return Refuse(plain, 400, head, *authority, "data sent before the tunnel");
    if (!plain.WriteAll("HTTP/1.1 200 Connection established\r\n\r\n")) return;
    SSL* ssl = SSL_new(gateway_.tls_->ContextFor(endpoint->host));
    if (ssl == nullptr) return;
    TlsStream tls(ssl);
    SSL_set_fd(ssl, fd_);
    // The handshake has the head's deadline: a client cannot hold the connection with it either.
    SetReceiveTimeout(std::min(options_.request_head_timeout, options_.idle_timeout));
    const absl::Time handshake_deadline = absl::Now() + options_.request_head_timeout;
    if (SSL_accept(ssl) != 1) {
      ERR_clear_error();
      return Fail(head, *endpoint, "",
                  absl::Now() >= handshake_deadline
                      ? "the TLS handshake with the gateway did not end in time"
                      : "the TLS handshake with the gateway failed");
    }
    SetReceiveTimeout(options_.idle_timeout);
    // No fronting: the name inside TLS is the registry's. IP literals carry no SNI.
    const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    absl::StatusOr<std::string> sni_host =
        sni != nullptr ? NormalizeHost(sni) : absl::StatusOr<std::string>(std::string());
    if (!sni_host.ok() || (sni != nullptr ? *sni_host != endpoint->host
                                          : !IpAddress::Parse(endpoint->host).has_value())) {
      return Refuse(tls, 421, head, *authority, "the TLS server name is not the registry's");
    }
    while (!gateway_.stopping()) {
      std::optional<RequestHead> inner = ReadRequest(tls, false);
      if (!inner) return;
      if (!absl::StartsWith(inner->target, "/")) {
        return Refuse(tls, 400, *inner, *authority, "not an origin-form request inside TLS");
      }
      if (!Serve(tls, *inner, Target{Find(true, *authority, inner->target), inner->target})) {
        return;
      }
    }
  }

  // Answers one request; whether the connection may carry another.
  bool Serve(Stream& stream, const RequestHead& head, const Target& target) {
    const RegistryEndpoint& endpoint = *target.endpoint;
    const Authority authority{endpoint.host, endpoint.port};
    // The Host header must name the registry too: one, and the same origin.
    std::vector<std::string> hosts = head.Values("host");
    absl::StatusOr<Authority> host =
        hosts.size() == 1 ? ParseAuthority(hosts[0], endpoint.https ? 443 : 80)
                          : absl::StatusOr<Authority>(absl::InvalidArgumentError(""));
    if (!host.ok() || host->host != endpoint.host || host->port != endpoint.port) {
      Refuse(stream, 421, head, authority, "the Host header is not the registry's", target.path);
      return false;
    }
    absl::StatusOr<RegistryRead> read = ClassifyRead(endpoint, head.method, target.path);
    if (!read.ok()) {
      Refuse(stream, head.method == "GET" || head.method == "HEAD" ? 403 : 405, head, authority,
             read.status().message(), target.path);
      return false;
    }
    if (!head.Values("transfer-encoding").empty() || HasBody(head)) {
      Refuse(stream, 400, head, authority, "a read with a body", target.path);
      return false;
    }
    const bool keep = head.KeepAlive();
    GatewayEvent event = Event(head, authority, target.path);
    serving_ = event;
    bool wrote = read->kind == ReadKind::kPackument ? ServePackument(stream, head, *read, endpoint, event, keep)
                                                     : ServeTarball(stream, head, *read, endpoint, event, keep);
    serving_ = GatewayEvent();
    gateway_.AddEvent(std::move(event));
    ++served_;
    return wrote && keep;
  }

  static bool HasBody(const RequestHead& head) {
    for (const std::string& value : head.Values("content-length")) {
      if (value != "0") return true;
    }
    return false;
  }

  bool ServePackument(Stream& stream, const RequestHead& head, const RegistryRead& read,
                      const RegistryEndpoint& endpoint, GatewayEvent& event, bool keep) {
    std::vector<std::string> accept = head.Values("accept");
    const std::string wanted = accept.empty() ? "" : accept[0];
    if (options_.mode == GatewayMode::kScript) {
      if (options_.packages.count(read.package) == 0) {
        return RefuseRead(stream, event, "not a package of the lockfile (nothing goes upstream "
                                         "while dependency code runs)");
      }
      // Streamed from the cache file: dependency code asking for it many times at once cannot
      // make the agent hold it many times.
      absl::StatusOr<RegistryCache::PackumentFile> file =
          gateway_.client_.CachedOnlyFile(endpoint, read.path, wanted);
      if (!file.ok()) return Unavailable(stream, event, file.status(), keep);
      return SendFile(stream, file->fd.get(), file->size, file->content_type,
                      head.method == "HEAD", keep, event);
    }
    absl::StatusOr<CachedPackument> packument =
        gateway_.client_.Packument(endpoint, read.path, wanted, cancelled_);
    if (!packument.ok()) return Unavailable(stream, event, packument.status(), keep);
    gateway_.NotePackument(read.package);
    event.bytes = packument->body.size();
    return Respond(stream, 200, packument->content_type, packument->body, head.method == "HEAD",
                   keep);
  }

  bool ServeTarball(Stream& stream, const RequestHead& head, const RegistryRead& read,
                    const RegistryEndpoint& endpoint, GatewayEvent& event, bool keep) {
    auto known = options_.tarballs.find(absl::StrCat(endpoint.origin(), read.path));
    if (known == options_.tarballs.end()) {
      if (options_.mode == GatewayMode::kScript) {
        return RefuseRead(stream, event, "not a tarball of the lockfile (nothing goes upstream "
                                         "while dependency code runs)");
      }
      absl::StatusOr<http::Response> response = gateway_.client_.Uncached(endpoint, read.path, cancelled_);
      if (!response.ok()) return Unavailable(stream, event, response.status(), keep);
      if (response->status != 200) {
        return Unavailable(stream, event,
                           absl::UnavailableError(absl::StrCat("the registry answered ",
                                                               response->status)),
                           keep);
      }
      event.bytes = response->body.size();
      return Respond(stream, 200, "application/octet-stream", response->body,
                     head.method == "HEAD", keep);
    }
    absl::StatusOr<UniqueFd> file = options_.mode == GatewayMode::kScript
                                        ? gateway_.client_.CachedTarball(endpoint, known->second)
                                        : gateway_.client_.Tarball(endpoint, read.path, known->second, cancelled_);
    if (!file.ok()) return Unavailable(stream, event, file.status(), keep);
    const off_t size = ::lseek(file->get(), 0, SEEK_END);
    if (size < 0 || ::lseek(file->get(), 0, SEEK_SET) != 0) return false;
    return SendFile(stream, file->get(), static_cast<uint64_t>(size), "application/octet-stream",
                    head.method == "HEAD", keep, event);
  }

  // `size` bytes from `fd`'s offset.
  bool SendFile(Stream& stream, int fd, uint64_t size, absl::string_view content_type,
                bool head_only, bool keep, GatewayEvent& event) {
    if (!stream.WriteAll(Head(200, content_type, size, keep))) return false;
    if (head_only) return true;
    std::string chunk(kChunk, '\0');
    uint64_t sent = 0;
    while (sent < size) {
      ssize_t n = ::read(fd, chunk.data(), std::min<uint64_t>(chunk.size(), size - sent));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      if (!stream.WriteAll(absl::string_view(chunk.data(), static_cast<size_t>(n)))) return false;
      sent += static_cast<uint64_t>(n);
    }
    event.bytes = sent;
    return true;
  }

  static std::string Head(int code, absl::string_view content_type, uint64_t length, bool keep) {
    return absl::StrCat("HTTP/1.1 ", code, " ", StatusText(code), "\r\nContent-Type: ",
                        content_type, "\r\nContent-Length: ", length, "\r\nConnection: ",
                        keep ? "keep-alive" : "close", "\r\n\r\n");
  }

  bool Respond(Stream& stream, int code, absl::string_view content_type, absl::string_view body,
               bool head_only, bool keep) {
    return stream.WriteAll(Head(code, content_type, body.size(), keep)) &&
           (head_only || stream.WriteAll(body));
  }

  // The registry could not give what was asked: 404 when it has no such package, else 502;
  // the event says why (the job names it when the install fails).
  bool Unavailable(Stream& stream, GatewayEvent& event, const absl::Status& status, bool keep) {
    const bool missing = absl::IsNotFound(status);
    event.failed = !missing || options_.mode == GatewayMode::kScript;
    event.reason = std::string(status.message());
    const std::string body = absl::StrCat("ovvoc registry gateway: ", status.message(), "\n");
    return Respond(stream, missing ? 404 : 502, "text/plain", body, event.method == "HEAD", keep);
  }

  // A read that script mode does not serve: refused like a write, the connection closed.
  bool RefuseRead(Stream& stream, GatewayEvent& event, absl::string_view reason) {
    event.refused = true;
    event.reason = std::string(reason);
    const std::string body = absl::StrCat("ovvoc registry gateway: ", reason, "\n");
    Respond(stream, 403, "text/plain", body, false, false);
    return false;
  }

  GatewayEvent Event(const RequestHead& head, const Authority& authority,
                     absl::string_view target) const {
    GatewayEvent event;
    event.method = head.method;
    event.host = authority.host;
    event.port = authority.port;
    event.path = PathForReport(target);
    return event;
  }

  void Refuse(Stream& stream, int code, const RequestHead& head, const Authority& authority,
              absl::string_view reason, absl::string_view target = "") {
    GatewayEvent event = Event(head, authority, target);
    if (event.path.empty() && absl::StartsWith(head.target, "/")) {
      event.path = PathForReport(head.target);
    }
    event.refused = true;
    event.reason = std::string(reason);
    gateway_.AddEvent(std::move(event));
    const std::string body = absl::StrCat("ovvoc registry gateway: ", reason, "\n");
    Respond(stream, code, "text/plain", body, false, false);
  }

  void Fail(const RequestHead& head, const RegistryEndpoint& endpoint, absl::string_view target,
            absl::string_view reason) {
    GatewayEvent event = Event(head, Authority{endpoint.host, endpoint.port}, target);
    event.failed = true;
    event.reason = std::string(reason);
    gateway_.AddEvent(std::move(event));
  }

  Gateway& gateway_;
  const GatewayOptions& options_;
  const int fd_;
  const RegistryClient::Cancelled cancelled_;  // upstream reads end when the gateway closes
  std::string buffer_;  // read but not yet parsed
  int served_ = 0;
  GatewayEvent serving_;  // the request being served, for Crashed()
};

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Start(GatewayOptions options,
                                                        RegistryClient& client, const Clock& clock,
                                                        const std::string& netns_path) {
  if (options.max_connections < 1) return absl::InvalidArgumentError("max_connections < 1");
  std::vector<std::string> https_hosts;
  for (const RegistryEndpoint& endpoint : options.registries) {
    if (endpoint.https) https_hosts.push_back(endpoint.host);
  }
  // The container checks the certificates against the kernel's clock, whatever `clock` says.
  OVVOC_ASSIGN_OR_RETURN(std::unique_ptr<GatewayTls> tls,
                         GatewayTls::Create(https_hosts, Clock::Real().Now()));
  OVVOC_ASSIGN_OR_RETURN(UniqueFd listener, Listen(netns_path));
  OVVOC_ASSIGN_OR_RETURN(int port, BoundPort(listener.get()));
  UniqueFd stop(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!stop.valid()) return ErrnoStatus("eventfd");
  auto gateway = absl::WrapUnique(new Gateway(std::move(options), client, clock, std::move(tls),
                                              std::move(listener), std::move(stop), port));
  gateway->accept_thread_ = std::thread([g = gateway.get()] { g->AcceptLoop(); });
  log::Info("registry gateway (%s mode) listening on 127.0.0.1:%d in %s",
            gateway->options_.mode == GatewayMode::kScript ? "script" : "resolve", port,
            netns_path.empty() ? "the agent's network namespace" : netns_path);
  return gateway;
}

Gateway::Gateway(GatewayOptions options, RegistryClient& client, const Clock& clock,
                 std::unique_ptr<GatewayTls> tls, UniqueFd listener, UniqueFd stop, int port)
    : options_(std::move(options)),
      client_(client),
      clock_(clock),
      tls_(std::move(tls)),
      port_(port),
      stop_fd_(std::move(stop)),
      listener_(std::move(listener)) {}

Gateway::~Gateway() { Close(); }

void Gateway::Close() {
  absl::MutexLock close_lock(&close_mu_);
  if (closed_) return;
  closed_ = true;
  stopping_.store(true);
  uint64_t one = 1;
  (void)!::write(stop_fd_.get(), &one, sizeof(one));
  if (accept_thread_.joinable()) accept_thread_.join();
  listener_.reset();
  {
    absl::MutexLock lock(&mu_);
    for (int fd : client_fds_) ::shutdown(fd, SHUT_RDWR);  // wakes every blocked read and write
  }
  ReapWorkers(/*all=*/true);
  uint64_t refused, failed;
  {
    absl::MutexLock lock(&mu_);
    refused = unlogged_refused_;
    failed = unlogged_failed_;
  }
  if (refused + failed > 0) {
    log::Warning(
        "registry gateway on port %d: %d refused and %d failed requests were not logged "
        "(only the first %d are)",
        port_, refused, failed, kLoggedRequests);
  }
  log::Info("registry gateway on port %d closed", port_);
}

std::vector<GatewayEvent> Gateway::Events() const {
  absl::MutexLock lock(&mu_);
  return events_;
}

uint64_t Gateway::DroppedEvents() const {
  absl::MutexLock lock(&mu_);
  return dropped_events_;
}

std::set<std::string> Gateway::ServedPackuments() const {
  absl::MutexLock lock(&mu_);
  return served_packuments_;
}

void Gateway::NotePackument(const std::string& package) {
  absl::MutexLock lock(&mu_);
  served_packuments_.insert(package);
}

bool Gateway::MayLog(bool refused) {
  absl::MutexLock lock(&mu_);
  if (logged_requests_ < kLoggedRequests) {
    ++logged_requests_;
    return true;
  }
  ++(refused ? unlogged_refused_ : unlogged_failed_);
  return false;
}

void Gateway::AddEvent(GatewayEvent event) {
  if ((event.refused || event.failed) && MayLog(event.refused)) {
    log::Warning("registry gateway: %s %s: %s", event.refused ? "refused" : "failed",
                 RequestForReport(event), event.reason);
  }
  absl::MutexLock lock(&mu_);
  if (events_.size() >= options_.max_events) {
    if (dropped_events_++ == 0) {
      log::Warning("registry gateway: %d requests recorded; only counting the rest", events_.size());
    }
    return;
  }
  event.time = clock_.Now();
  events_.push_back(std::move(event));
}

void Gateway::ReapWorkers(bool all) {
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (all || (*it)->done.load()) {
      (*it)->thread.join();
      it = workers_.erase(it);
    } else {
      ++it;
    }
  }
}

void Gateway::AcceptLoop() {
  while (true) {
    pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      log::Error("registry gateway: poll: %s", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    // Blocking: each connection's thread reads and writes under the socket's own timeouts.
    UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!client.valid()) {
      const int err = errno;
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        if (MayLog(/*refused=*/false)) {
          log::Warning("registry gateway: accept: %s", std::strerror(err));
        }
        pollfd stop = {stop_fd_.get(), POLLIN, 0};
        ::poll(&stop, 1, 100);
      }
      continue;
    }
    ReapWorkers(/*all=*/false);
    if (active_connections_.load() >= options_.max_connections) {
      TurnAway(client.get(),
               absl::StrCat("too many connections (limit ", options_.max_connections, ")"));
      continue;
    }
    StartWorker(std::move(client));
  }
}

void Gateway::TurnAway(int fd, std::string reason) {
  constexpr absl::string_view kBusy =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  ::send(fd, kBusy.data(), kBusy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  AddEvent(GatewayEvent{.failed = true, .reason = std::move(reason)});
}

void Gateway::StartWorker(UniqueFd client) {
  const timeval idle = absl::ToTimeval(options_.idle_timeout);
  ::setsockopt(client.get(), SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof(idle));
  ::setsockopt(client.get(), SOL_SOCKET, SO_SNDTIMEO, &idle, sizeof(idle));
  int one = 1;
  ::setsockopt(client.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  const int fd = client.get();
  {
    absl::MutexLock lock(&mu_);
    client_fds_.insert(fd);
  }
  ++active_connections_;
  Worker& worker = *workers_.emplace_back(std::make_unique<Worker>());
  worker.client = std::move(client);
  try {
    worker.thread = std::thread([this, &worker] { ServeConnection(worker); });
  } catch (const std::system_error& e) {
    // No thread to be had (the host is out of them): this connection is turned away, the
    // gateway goes on.
    TurnAway(fd, absl::StrCat("no thread to serve the connection: ", e.what()));
    {
      absl::MutexLock lock(&mu_);
      client_fds_.erase(fd);
    }
    --active_connections_;
    workers_.pop_back();
  }
}

void Gateway::ServeConnection(Worker& worker) {
  // A client that closes while TLS writes to it raises SIGPIPE on this thread (OpenSSL writes
  // without MSG_NOSIGNAL), which would end the agent. Blocked, it stays pending on this thread
  // and goes with it; the write fails with EPIPE instead.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  const int fd = worker.client.get();
  Connection connection(*this, fd);
  // An exception would reach std::terminate and end the agent with every job it runs: it ends
  // this connection only.
  try {
    connection.Run();
  } catch (const std::exception& e) {
    connection.Crashed(e.what());
  } catch (...) {
    connection.Crashed("an exception of unknown type");
  }
  LingeringClose(fd, stop_fd_.get());
  {
    absl::MutexLock lock(&mu_);
    client_fds_.erase(fd);
  }
  worker.client.reset();
  --active_connections_;
  worker.done.store(true);
}

}  // namespace ovvoc::agent::registry
