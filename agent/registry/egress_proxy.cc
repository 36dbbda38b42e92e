#include "agent/registry/egress_proxy.h"
#include "agent/process/netns.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/registry/address_policy.h"
#include "agent/registry/proxy_request.h"
#include "common/clock.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace ovvoc::agent::registry {
namespace {

constexpr size_t kRelayChunk = 64 * 1024;
constexpr absl::Duration kLingerTime = absl::Seconds(1);
constexpr size_t kLingerBytes = 64 * 1024;
constexpr char kConnectEstablished[] = "HTTP/1.1 200 Connection established\r\n\r\n";
constexpr absl::string_view kNonPublic = "resolves to a non-public address";

absl::Status ErrnoStatus(absl::string_view what, int err = errno) {
  return absl::ErrnoToStatus(err, what);
}

// Milliseconds until `deadline`, rounded up, for poll().
int PollTimeout(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return -1;
  absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, INT_MAX));
}

enum class Ready { kReady, kTimeout, kStopped, kError };

// Waits for `events` on `fd`, giving up at `deadline` or when `stop_fd` becomes readable.
Ready WaitFor(int fd, short events, absl::Time deadline, int stop_fd) {
  while (true) {
    pollfd fds[2] = {{fd, events, 0}, {stop_fd, POLLIN, 0}};
    int rc = ::poll(fds, 2, PollTimeout(deadline));
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return Ready::kError;
    if (fds[1].revents != 0) return Ready::kStopped;
    if (rc > 0) return Ready::kReady;
    if (absl::Now() >= deadline) return Ready::kTimeout;
  }
}

absl::Status SendAll(int fd, absl::string_view data, absl::Time deadline, int stop_fd) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return ErrnoStatus("send");
    Ready ready = WaitFor(fd, POLLOUT, deadline, stop_fd);
    if (ready == Ready::kStopped) return absl::CancelledError("proxy closed");
    if (ready != Ready::kReady) return absl::DeadlineExceededError("send timed out");
  }
  return absl::OkStatus();
}

// Half-closes, then reads and drops what the client still sends for a moment, so that the
// close does not turn into a reset that could destroy the response before it is read.
void LingeringClose(int fd, int stop_fd) {
  ::shutdown(fd, SHUT_WR);
  absl::Time deadline = absl::Now() + kLingerTime;
  size_t dropped = 0;
  char sink[4096];
  while (dropped < kLingerBytes && WaitFor(fd, POLLIN, deadline, stop_fd) == Ready::kReady) {
    ssize_t n = ::recv(fd, sink, sizeof(sink), 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return;
    if (n > 0) dropped += static_cast<size_t>(n);
  }
}

absl::string_view StatusText(int code) {
  switch (code) {
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 408:
      return "Request Timeout";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Error";
  }
}

std::string ErrorResponse(int code, absl::string_view reason) {
  std::string body = absl::StrCat("egress proxy: ", reason, "\n");
  return absl::StrCat("HTTP/1.1 ", code, " ", StatusText(code),
                      "\r\nContent-Type: text/plain\r\nContent-Length: ", body.size(),
                      "\r\nConnection: close\r\n\r\n", body);
}

absl::StatusOr<UniqueFd> ListenOnLoopback(int port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoStatus("socket");
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ErrnoStatus(absl::StrCat("bind 127.0.0.1:", port));
  }
  if (::listen(fd.get(), 128) != 0) return ErrnoStatus("listen");
  return fd;
}

// The socket is created on a thread that joins the namespace and then ends (RunInNetns), so no
// other thread's namespace ever changes. A socket stays in the namespace it was created in,
// whichever thread uses it afterwards.
absl::StatusOr<UniqueFd> ListenInNamespace(const std::string& netns_path, int port) {
  absl::StatusOr<UniqueFd> listener = absl::InternalError("namespace thread did not run");
  absl::Status joined = RunInNetns(netns_path, [&] {
    listener = ListenOnLoopback(port);
    return absl::OkStatus();
  });
  if (!joined.ok()) return joined;
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

absl::StatusOr<EgressPolicy> NormalizePolicy(EgressPolicy policy) {
  if (policy.max_connections < 1) return absl::InvalidArgumentError("max_connections < 1");
  if (policy.connect_timeout <= absl::ZeroDuration() ||
      policy.idle_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("timeouts must be positive");
  }
  for (EgressEndpoint& endpoint : policy.allowed) {
    absl::StatusOr<std::string> host = NormalizeHost(endpoint.host);
    if (!host.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("allowed host \"", endpoint.host, "\": ", host.status().message()));
    }
    if (endpoint.port < 1 || endpoint.port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("allowed port ", endpoint.port));
    }
    endpoint.host = *std::move(host);
  }
  return policy;
}

// "host:port", "[v6]:port"; "-" when there is no host.
std::string HostPort(absl::string_view host, int port) {
  if (host.empty()) return "-";
  if (host.find(':') != absl::string_view::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

UniqueFd MakeEventFd() { return UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)); }

void Signal(int event_fd) {
  uint64_t one = 1;
  ssize_t ignored = ::write(event_fd, &one, sizeof(one));
  (void)ignored;
}

void SetNoDelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

}  // namespace

struct EgressProxy::Worker {
  std::thread thread;
  std::atomic<bool> done{false};
};

absl::StatusOr<std::unique_ptr<EgressProxy>> EgressProxy::Start(EgressPolicy policy,
                                                                const std::string& netns_path,
                                                                int port) {
  if (port < 0 || port > 65535) return absl::InvalidArgumentError(absl::StrCat("port ", port));
  OVVOC_ASSIGN_OR_RETURN(EgressPolicy normalized, NormalizePolicy(std::move(policy)));
  OVVOC_ASSIGN_OR_RETURN(UniqueFd listener, netns_path.empty()
                                                ? ListenOnLoopback(port)
                                                : ListenInNamespace(netns_path, port));
  OVVOC_ASSIGN_OR_RETURN(int bound_port, BoundPort(listener.get()));
  UniqueFd stop = MakeEventFd();
  UniqueFd budget = MakeEventFd();
  if (!stop.valid() || !budget.valid()) return ErrnoStatus("eventfd");
  auto proxy = absl::WrapUnique(new EgressProxy(std::move(normalized), std::move(listener),
                                                std::move(stop), std::move(budget), bound_port));
  proxy->accept_thread_ = std::thread([p = proxy.get()] { p->AcceptLoop(); });
  log::Info("egress proxy listening on 127.0.0.1:%d in %s", bound_port,
            netns_path.empty() ? "the agent's network namespace" : netns_path);
  return proxy;
}

EgressProxy::EgressProxy(EgressPolicy policy, UniqueFd listener, UniqueFd stop, UniqueFd budget,
                         int port)
    : policy_(std::move(policy)),
      port_(port),
      stop_fd_(std::move(stop)),
      budget_fd_(std::move(budget)),
      listener_(std::move(listener)) {}

EgressProxy::~EgressProxy() { Close(); }

void EgressProxy::Close() {
  absl::MutexLock lock(&close_mu_);
  if (closed_) return;
  closed_ = true;
  Signal(stop_fd_.get());
  if (accept_thread_.joinable()) accept_thread_.join();
  listener_.reset();
  ReapWorkers(/*all=*/true);
  log::Info("egress proxy on port %d closed", port_);
}

std::vector<EgressEvent> EgressProxy::Events() const {
  absl::MutexLock lock(&mu_);
  return events_;
}

uint64_t EgressProxy::DroppedEvents() const {
  absl::MutexLock lock(&mu_);
  return dropped_events_;
}

size_t EgressProxy::AddEvent(EgressEvent event) {
  absl::MutexLock lock(&mu_);
  if (events_.size() >= policy_.max_events) {
    if (dropped_events_++ == 0) {
      log::Warning("egress proxy: %d attempts recorded; only counting the rest", events_.size());
    }
    return kNoEvent;
  }
  event.time = Clock::Real().Now();
  if (event.allowed) {
    log::Debug("egress proxy: allowed %s %s", event.method, HostPort(event.host, event.port));
  } else {
    log::Warning("egress proxy: refused %s %s: %s", event.method.empty() ? "-" : event.method,
                 HostPort(event.host, event.port), event.reason);
  }
  events_.push_back(std::move(event));
  return events_.size() - 1;
}

void EgressProxy::UpdateAddress(size_t index, absl::string_view address, bool connected) {
  absl::MutexLock lock(&mu_);
  if (index == kNoEvent) return;
  events_[index].address = std::string(address);
  events_[index].connected = connected;
}

void EgressProxy::FinishEvent(size_t index, absl::string_view reason, uint64_t up, uint64_t down) {
  absl::MutexLock lock(&mu_);
  if (index == kNoEvent) return;
  EgressEvent& event = events_[index];
  if (!reason.empty()) event.reason = std::string(reason);
  event.bytes_up = up;
  event.bytes_down = down;
  log::Debug("egress proxy: %s %s via %s done: %d bytes up, %d down%s%s", event.method,
             HostPort(event.host, event.port), event.address, up, down, reason.empty() ? "" : ": ",
             reason);
}

bool EgressProxy::ChargeBytes(uint64_t n) {
  uint64_t before = total_bytes_.fetch_add(n);
  if (before + n <= policy_.max_total_bytes) return true;
  if (before <= policy_.max_total_bytes) {
    log::Warning("egress proxy: byte budget of %d spent; cutting every tunnel",
                 policy_.max_total_bytes);
    Signal(budget_fd_.get());
  }
  return false;
}

bool EgressProxy::budget_exhausted() const { return total_bytes_.load() > policy_.max_total_bytes; }

void EgressProxy::ReapWorkers(bool all) {
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (all || (*it)->done.load()) {
      (*it)->thread.join();
      it = workers_.erase(it);
    } else {
      ++it;
    }
  }
}

void EgressProxy::RefuseBusy(UniqueFd client) {
  std::string reason = absl::StrCat("too many connections (limit ", policy_.max_connections, ")");
  AddEvent(EgressEvent{.reason = reason});
  std::string response = ErrorResponse(503, reason);
  // A fresh socket's send buffer takes this at once; never block the accept thread on it.
  ::send(client.get(), response.data(), response.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(client.get(), SHUT_WR);
  // Drop what already arrived, so that closing sends FIN rather than a reset.
  char sink[4096];
  for (int i = 0; i < 16 && ::recv(client.get(), sink, sizeof(sink), MSG_DONTWAIT) > 0; ++i) {
  }
}

// One client connection: read and parse the head, apply the policy, dial, relay.
class EgressProxy::Connection {
 public:
  Connection(EgressProxy& proxy, UniqueFd client)
      : proxy_(proxy), policy_(proxy.policy_), client_(std::move(client)) {}

  void Run() {
    SetNoDelay(client_.get());
    std::string buffer;
    std::optional<size_t> head_length = ReadHead(buffer);
    if (!head_length) return;
    absl::string_view head = absl::string_view(buffer).substr(0, *head_length);
    absl::StatusOr<ProxyRequest> request = ParseProxyRequest(head);
    if (!request.ok()) {
      return Refuse(400, EgressEvent{.method = MethodForLog(head),
                                     .reason = std::string(request.status().message())});
    }
    std::string rest = buffer.substr(*head_length);
    Serve(*std::move(request), std::move(rest));
  }

 private:
  struct Target {
    sockaddr_storage addr;
    socklen_t len;
    IpAddress ip;
  };

  // The length of the head, with the head and anything after it in `buffer`; nullopt when
  // the connection ended or was answered.
  std::optional<size_t> ReadHead(std::string& buffer) {
    absl::Time deadline = absl::Now() + policy_.idle_timeout;
    char chunk[4096];
    while (true) {
      if (std::optional<size_t> end = FindHeadEnd(buffer); end && *end <= kMaxRequestHeadBytes) {
        return end;
      }
      if (buffer.size() > kMaxRequestHeadBytes) {
        Refuse(400, EgressEvent{.method = MethodForLog(buffer),
                                .reason = "request head longer than 16 KiB"});
        return std::nullopt;
      }
      Ready ready = WaitFor(client_.get(), POLLIN, deadline, proxy_.stop_fd_.get());
      if (ready == Ready::kTimeout) {
        Refuse(408, EgressEvent{.method = MethodForLog(buffer),
                                .reason = "no complete request head before the idle timeout"});
      }
      if (ready != Ready::kReady) return std::nullopt;
      ssize_t n = ::recv(client_.get(), chunk, sizeof(chunk), 0);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n <= 0) return std::nullopt;  // gone before asking for anything
      buffer.append(chunk, static_cast<size_t>(n));
    }
  }

  void Serve(ProxyRequest request, std::string rest) {
    EgressEvent event{.method = request.method, .host = request.host, .port = request.port};
    const EgressEndpoint* endpoint = nullptr;
    for (const EgressEndpoint& candidate : policy_.allowed) {
      if (candidate.host == request.host && candidate.port == request.port &&
          (endpoint == nullptr || candidate.allow_internal)) {
        endpoint = &candidate;
      }
    }
    if (IsMetadataHostname(request.host) && (endpoint == nullptr || !endpoint->allow_internal)) {
      event.reason = "metadata service hostname";
      return Refuse(403, std::move(event));
    }
    if (endpoint == nullptr) {
      event.reason = "host not allowed";
      return Refuse(403, std::move(event));
    }
    if (proxy_.budget_exhausted()) {
      event.reason = "egress byte budget spent";
      return Refuse(503, std::move(event));
    }
    absl::StatusOr<std::vector<Target>> targets = Resolve(request.host, request.port);
    if (!targets.ok()) {
      event.reason = std::string(targets.status().message());
      return Refuse(502, std::move(event));
    }
    if (!endpoint->allow_internal) {
      for (const Target& target : *targets) {
        if (std::optional<BlockedRange> range = FindBlockedRange(target.ip)) {
          event.reason =
              absl::StrCat(kNonPublic, " ", target.ip.ToString(), " (", range->Describe(), ")");
          // The container learns no more than that: not how our network is laid out.
          return Refuse(403, std::move(event), kNonPublic);
        }
      }
    }
    event.allowed = true;
    size_t index = proxy_.AddEvent(std::move(event));
    Tunnel(index, request, *targets, std::move(rest));
  }

  void Tunnel(size_t index, const ProxyRequest& request, const std::vector<Target>& targets,
              std::string rest) {
    std::string dialled;
    absl::StatusOr<UniqueFd> upstream = Dial(targets, dialled);
    proxy_.UpdateAddress(index, dialled, upstream.ok());
    if (!upstream.ok()) {
      std::string reason = absl::StrCat("connect failed: ", upstream.status().message());
      proxy_.FinishEvent(index, reason, 0, 0);
      log::Warning("egress proxy: %s %s: %s", request.method, HostPort(request.host, request.port),
                   reason);
      if (absl::IsCancelled(upstream.status())) return;
      Respond(absl::IsDeadlineExceeded(upstream.status()) ? 504 : 502, reason);
      return;
    }
    std::string pending = std::move(rest);
    if (request.is_connect) {
      absl::Time deadline = absl::Now() + policy_.idle_timeout;
      if (!SendAll(client_.get(), kConnectEstablished, deadline, proxy_.stop_fd_.get()).ok()) {
        return proxy_.FinishEvent(index, "client went away", 0, 0);
      }
    } else {
      pending = absl::StrCat(request.upstream_head, pending);
    }
    Relay(index, upstream->get(), std::move(pending));
  }

  absl::StatusOr<std::vector<Target>> Resolve(const std::string& host, int port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;  // no AI_ADDRCONFIG: it drops answers on loopback-only hosts
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_NUMERICSERV | (IpAddress::Parse(host) ? AI_NUMERICHOST : 0);
    addrinfo* result = nullptr;
    int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &result);
    if (rc != 0) {
      return absl::UnavailableError(absl::StrCat("cannot resolve host: ", gai_strerror(rc)));
    }
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owned(result, &::freeaddrinfo);
    std::vector<Target> targets;
    for (const addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
      std::optional<IpAddress> ip = IpAddress::FromSockaddr(ai->ai_addr, ai->ai_addrlen);
      if (!ip || ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
      Target target{{}, ai->ai_addrlen, *ip};
      std::memcpy(&target.addr, ai->ai_addr, ai->ai_addrlen);
      targets.push_back(target);
    }
    if (targets.empty()) return absl::UnavailableError("host has no IP addresses");
    return targets;
  }

  // Tries each checked address in turn, within one connect timeout in total.
  absl::StatusOr<UniqueFd> Dial(const std::vector<Target>& targets, std::string& dialled) {
    absl::Time deadline = absl::Now() + policy_.connect_timeout;
    absl::Status last = absl::UnavailableError("no address");
    for (const Target& target : targets) {
      int port = ntohs(target.addr.ss_family == AF_INET
                           ? reinterpret_cast<const sockaddr_in*>(&target.addr)->sin_port
                           : reinterpret_cast<const sockaddr_in6*>(&target.addr)->sin6_port);
      dialled = HostPort(target.ip.ToString(), port);
      UniqueFd fd(::socket(target.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      if (!fd.valid()) return ErrnoStatus("socket");
      if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&target.addr), target.len) != 0) {
        if (errno != EINPROGRESS) {
          last = ErrnoStatus(dialled);
          continue;
        }
        Ready ready = WaitFor(fd.get(), POLLOUT, deadline, proxy_.stop_fd_.get());
        if (ready == Ready::kStopped) return absl::CancelledError("proxy closed");
        if (ready == Ready::kTimeout) return absl::DeadlineExceededError("connect timed out");
        int err = 0;
        socklen_t len = sizeof(err);
        ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (ready == Ready::kError || err != 0) {
          last = ErrnoStatus(dialled, err != 0 ? err : errno);
          continue;
        }
      }
      SetNoDelay(fd.get());
      return fd;
    }
    return last;
  }

  void Relay(size_t index, int upstream, std::string pending_up);

  void Respond(int code, absl::string_view reason) {
    std::string response = ErrorResponse(code, reason);
    absl::Time deadline = absl::Now() + absl::Seconds(5);
    if (SendAll(client_.get(), response, deadline, proxy_.stop_fd_.get()).ok()) {
      LingeringClose(client_.get(), proxy_.stop_fd_.get());
    }
  }

  // Records `event` and answers `code` with the event's reason, or `public_reason`.
  void Refuse(int code, EgressEvent event, absl::string_view public_reason = "") {
    std::string reason = public_reason.empty() ? event.reason : std::string(public_reason);
    proxy_.AddEvent(std::move(event));
    Respond(code, reason);
  }

  EgressProxy& proxy_;
  const EgressPolicy& policy_;
  UniqueFd client_;
};

namespace {

// One direction of a tunnel: bytes read from `from` wait in `buffer` until written to `to`.
struct Direction {
  int from;
  int to;
  std::string buffer;
  size_t offset = 0;
  bool eof = false;
  uint64_t delivered = 0;
  uint64_t activity = 0;  // reads, writes and EOF seen: for the idle timeout

  bool empty() const { return offset == buffer.size(); }
};

// Writes what it can; an error message when the tunnel must end.
std::optional<std::string> Flush(Direction& d) {
  ssize_t n = ::send(d.to, d.buffer.data() + d.offset, d.buffer.size() - d.offset,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return std::nullopt;
    return absl::StrCat("send: ", std::strerror(errno));
  }
  d.offset += static_cast<size_t>(n);
  d.delivered += static_cast<uint64_t>(n);
  ++d.activity;
  return std::nullopt;
}

// Reads into an empty buffer; an error message when the tunnel must end.
std::optional<std::string> Fill(Direction& d, absl::FunctionRef<bool(uint64_t)> charge) {
  d.buffer.resize(kRelayChunk);
  d.offset = 0;
  ssize_t n = ::recv(d.from, d.buffer.data(), d.buffer.size(), MSG_DONTWAIT);
  int err = errno;
  d.buffer.resize(n > 0 ? static_cast<size_t>(n) : 0);
  if (n == 0) d.eof = true;
  if (n >= 0) ++d.activity;
  if (n >= 0 || err == EAGAIN || err == EINTR) {
    if (n > 0 && !charge(static_cast<uint64_t>(n))) return "egress byte budget spent";
    return std::nullopt;
  }
  return absl::StrCat("recv: ", std::strerror(err));
}

short WantedEvents(const Direction& reading_into, const Direction& writing_from) {
  short events = 0;
  if (!reading_into.eof && reading_into.empty()) events |= POLLIN;
  if (!writing_from.empty()) events |= POLLOUT;
  return events;
}

}  // namespace

// Relays until the upstream side has closed and everything it sent is delivered (a client
// that only half-closes still gets the whole response), or until an error, the idle timeout,
// the byte budget or Close().
void EgressProxy::Connection::Relay(size_t index, int upstream, std::string pending_up) {
  Direction up{client_.get(), upstream, std::move(pending_up)};
  Direction down{upstream, client_.get()};
  auto charge = [this](uint64_t n) { return proxy_.ChargeBytes(n); };
  std::optional<std::string> end;
  if (!up.empty() && !charge(up.buffer.size())) end = "egress byte budget spent";
  absl::Time last_activity = absl::Now();
  bool up_shut = false;
  while (!end && !(down.eof && down.empty())) {
    if (up.eof && up.empty() && !up_shut) {
      ::shutdown(upstream, SHUT_WR);
      up_shut = true;
    }
    short client_events = WantedEvents(up, down);
    short upstream_events = WantedEvents(down, up);
    pollfd fds[4] = {{proxy_.stop_fd_.get(), POLLIN, 0},
                     {proxy_.budget_fd_.get(), POLLIN, 0},
                     {client_events != 0 ? client_.get() : -1, client_events, 0},
                     {upstream_events != 0 ? upstream : -1, upstream_events, 0}};
    absl::Time deadline = last_activity + policy_.idle_timeout;
    int rc = ::poll(fds, 4, PollTimeout(deadline));
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) {
      end = absl::StrCat("poll: ", std::strerror(errno));
    } else if (fds[0].revents != 0) {
      end = "proxy closed";
    } else if (fds[1].revents != 0) {
      end = "egress byte budget spent";
    } else if (rc == 0) {
      if (absl::Now() >= deadline) end = "idle timeout";
      continue;
    }
    if (end) break;
    constexpr short kAny = POLLIN | POLLOUT | POLLHUP | POLLERR;
    uint64_t before = up.activity + down.activity;
    if ((fds[2].revents & kAny) && (client_events & POLLOUT)) end = Flush(down);
    if (!end && (fds[3].revents & kAny) && (upstream_events & POLLOUT)) end = Flush(up);
    if (!end && (fds[2].revents & kAny) && (client_events & POLLIN)) end = Fill(up, charge);
    if (!end && (fds[3].revents & kAny) && (upstream_events & POLLIN)) end = Fill(down, charge);
    if (up.activity + down.activity != before) last_activity = absl::Now();
  }
  proxy_.FinishEvent(index, end.value_or(""), up.delivered, down.delivered);
}

void EgressProxy::AcceptLoop() {
  while (true) {
    pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      log::Error("egress proxy: poll: %s", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!client.valid()) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        log::Warning("egress proxy: accept: %s", std::strerror(errno));
        WaitFor(-1, 0, absl::Now() + absl::Milliseconds(100), stop_fd_.get());
      }
      continue;
    }
    ReapWorkers(/*all=*/false);
    if (active_connections_.load() >= policy_.max_connections) {
      RefuseBusy(std::move(client));
      continue;
    }
    ++active_connections_;
    auto worker = std::make_unique<Worker>();
    Worker* w = worker.get();
    w->thread = std::thread([this, w, c = std::move(client)]() mutable {
      Connection(*this, std::move(c)).Run();
      --active_connections_;
      w->done.store(true);
    });
    workers_.push_back(std::move(worker));
  }
}

}  // namespace ovvoc::agent::registry
