#include "agent/registry/egress_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/unique_fd.h"
#include "tests/support/fresh_netns.h"

namespace ovvoc::agent::registry {
namespace {

// Every blocking read in these tests gives up after this; "promptly" means well within it.
constexpr absl::Duration kPatience = absl::Seconds(10);

void SetTimeouts(int fd, absl::Duration timeout) {
  timeval tv = absl::ToTimeval(timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int PortOf(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

UniqueFd ListenLocal() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(fd.get(), 16) != 0) {
    return UniqueFd();
  }
  return fd;
}

// A connection to 127.0.0.1:`port` in the calling thread's namespace; invalid when refused.
UniqueFd Connect(int port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return UniqueFd();
  }
  SetTimeouts(fd.get(), kPatience);
  return fd;
}

bool SendString(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads until `stop` has been read (empty: until EOF), an error, or the receive timeout.
std::string ReadUntil(int fd, absl::string_view stop) {
  std::string data;
  char chunk[4096];
  while (stop.empty() || !absl::StrContains(data, stop)) {
    ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) break;
    data.append(chunk, static_cast<size_t>(n));
  }
  return data;
}

std::string ReadToEnd(int fd) { return ReadUntil(fd, ""); }

// True when the peer closes (EOF or reset) within `within`; bytes read on the way are dropped.
bool SeesEofWithin(int fd, absl::Duration within) {
  SetTimeouts(fd, within);
  char chunk[4096];
  while (true) {
    ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n == 0) return true;
    if (n < 0) return errno == ECONNRESET;
  }
}

// A TCP server on 127.0.0.1:0 running `handle` for each connection on a thread of its own.
class TestServer {
 public:
  explicit TestServer(std::function<void(int)> handle)
      : listener_(ListenLocal()),
        stop_(::eventfd(0, EFD_CLOEXEC)),
        handle_(std::move(handle)),
        thread_([this] { Loop(); }) {}
  ~TestServer() {
    uint64_t one = 1;
    (void)!::write(stop_.get(), &one, sizeof(one));
    thread_.join();
    for (std::thread& t : handlers_) t.join();
  }
  int port() const { return PortOf(listener_.get()); }
  int accepted() const { return accepted_.load(); }

 private:
  void Loop() {
    while (true) {
      pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0 || fds[1].revents != 0) return;
      UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!client.valid()) continue;
      ++accepted_;
      handlers_.emplace_back([this, c = std::move(client)] {
        SetTimeouts(c.get(), kPatience);
        handle_(c.get());
      });
    }
  }

  UniqueFd listener_;
  UniqueFd stop_;
  std::function<void(int)> handle_;
  std::atomic<int> accepted_{0};
  std::vector<std::thread> handlers_;  // touched by Loop(), then by the destructor after it
  std::thread thread_;
};

void Echo(int fd) {
  char chunk[4096];
  ssize_t n;
  while ((n = ::recv(fd, chunk, sizeof(chunk), 0)) > 0) {
    if (!SendString(fd, absl::string_view(chunk, static_cast<size_t>(n)))) return;
  }
}

// A one-request HTTP origin that remembers what it was sent.
struct HttpOrigin {
  absl::Mutex mu;
  std::string head ABSL_GUARDED_BY(mu);
  std::string body ABSL_GUARDED_BY(mu);

  void Serve(int fd) {
    std::string data = ReadUntil(fd, "\r\n\r\n");
    size_t end = data.find("\r\n\r\n");
    if (end == std::string::npos) return;
    std::string body_part = data.substr(end + 4);
    size_t length = 0;
    if (size_t at = data.find("Content-Length: "); at != std::string::npos && at < end) {
      (void)absl::SimpleAtoi(data.substr(at + 16, data.find("\r\n", at) - at - 16), &length);
    }
    char chunk[4096];
    while (body_part.size() < length) {
      ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
      if (n <= 0) break;
      body_part.append(chunk, static_cast<size_t>(n));
    }
    {
      absl::MutexLock lock(&mu);
      head = data.substr(0, end + 4);
      body = body_part;
    }
    SendString(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
  }
};

std::unique_ptr<EgressProxy> StartProxy(EgressPolicy policy, const std::string& netns = "") {
  absl::StatusOr<std::unique_ptr<EgressProxy>> proxy = EgressProxy::Start(std::move(policy), netns);
  INFO(proxy.status().ToString());
  REQUIRE(proxy.ok());
  return *std::move(proxy);
}

std::string ConnectLine(absl::string_view authority) {
  return absl::StrCat("CONNECT ", authority, " HTTP/1.1\r\nHost: ", authority, "\r\n\r\n");
}

// Sends one request on a fresh connection and returns the whole response (the proxy closes
// after a refusal).
std::string AskOnce(int proxy_port, absl::string_view request) {
  UniqueFd client = Connect(proxy_port);
  if (!client.valid() || !SendString(client.get(), request)) return "<no connection>";
  return ReadToEnd(client.get());
}

// Opens a CONNECT tunnel; invalid when the proxy did not answer 200.
UniqueFd OpenTunnel(int proxy_port, absl::string_view authority) {
  UniqueFd client = Connect(proxy_port);
  if (!client.valid() || !SendString(client.get(), ConnectLine(authority))) return UniqueFd();
  if (ReadUntil(client.get(), "\r\n\r\n") != "HTTP/1.1 200 Connection established\r\n\r\n") {
    return UniqueFd();
  }
  return client;
}

// Polls `check` until it holds or kPatience passes.
bool Eventually(const std::function<bool()>& check) {
  absl::Time deadline = absl::Now() + kPatience;
  while (!check()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

TEST_CASE("CONNECT to an allowed endpoint tunnels bytes both ways") {
  TestServer echo(Echo);
  std::unique_ptr<EgressProxy> proxy =
      StartProxy({.allowed = {{"127.0.0.1", echo.port(), /*allow_internal=*/true}}});
  std::string authority = absl::StrCat("127.0.0.1:", echo.port());
  UniqueFd client = OpenTunnel(proxy->port(), authority);
  REQUIRE(client.valid());

  REQUIRE(SendString(client.get(), "ping"));
  CHECK(ReadUntil(client.get(), "ping") == "ping");
  // Both directions at once, more than any socket buffer holds.
  std::string big(1 << 20, 'x');
  std::thread writer([&] { SendString(client.get(), big); });
  std::string echoed;
  char chunk[65536];
  while (echoed.size() < big.size()) {
    ssize_t n = ::recv(client.get(), chunk, sizeof(chunk), 0);
    if (n <= 0) break;
    echoed.append(chunk, static_cast<size_t>(n));
  }
  writer.join();
  CHECK(echoed == big);
  client.reset();

  REQUIRE(Eventually([&] { return proxy->Events().front().bytes_down == big.size() + 4; }));
  std::vector<EgressEvent> events = proxy->Events();
  REQUIRE(events.size() == 1);
  CHECK(events[0].allowed);
  CHECK(events[0].method == "CONNECT");
  CHECK(events[0].host == "127.0.0.1");
  CHECK(events[0].port == echo.port());
  CHECK(events[0].address == authority);
  CHECK(events[0].connected);
  CHECK(events[0].bytes_up == big.size() + 4);
  CHECK(events[0].reason.empty());
}

TEST_CASE("CONNECT by hostname dials an address the name resolved to") {
  TestServer echo(Echo);
  std::unique_ptr<EgressProxy> proxy =
      StartProxy({.allowed = {{"LocalHost", echo.port(), /*allow_internal=*/true}}});
  // localhost may resolve to ::1 first, where nothing listens: the next address is tried.
  UniqueFd client = OpenTunnel(proxy->port(), absl::StrCat("localhost:", echo.port()));
  REQUIRE(client.valid());
  REQUIRE(SendString(client.get(), "hello"));
  CHECK(ReadUntil(client.get(), "hello") == "hello");
  std::vector<EgressEvent> events = proxy->Events();
  REQUIRE(events.size() == 1);
  CHECK(events[0].host == "localhost");
  CHECK(events[0].address == absl::StrCat("127.0.0.1:", echo.port()));
}

TEST_CASE("CONNECT to a host or port not on the list is refused with 403") {
  std::unique_ptr<EgressProxy> proxy = StartProxy({.allowed = {{"registry.example", 443}}});
  for (const char* authority : {"evil.example:443", "registry.example:8443"}) {
    INFO(authority);
    std::string response = AskOnce(proxy->port(), ConnectLine(authority));
    CHECK(absl::StartsWith(response, "HTTP/1.1 403 Forbidden\r\n"));
    CHECK(absl::StrContains(response, "\r\n\r\negress proxy: host not allowed\n"));
  }
  std::vector<EgressEvent> events = proxy->Events();
  REQUIRE(events.size() == 2);
  CHECK(!events[0].allowed);
  CHECK(events[0].host == "evil.example");
  CHECK(events[0].reason == "host not allowed");
  CHECK(events[1].port == 8443);
  CHECK(events[1].address.empty());
}

TEST_CASE("an allowed host on a loopback address is refused without allow_internal") {
  TestServer echo(Echo);
  int port = echo.port();
  std::unique_ptr<EgressProxy> proxy = StartProxy({.allowed = {
                                                       {"localhost", port},
                                                       {"127.0.0.1", port},
                                                       {"::1", port},
                                                       {"::ffff:127.0.0.1", port},
                                                       {"metadata.google.internal", 80},
                                                   }});
  struct Case {
    std::string request;
    const char* reason;
  };
  const Case cases[] = {
      {ConnectLine(absl::StrCat("localhost:", port)), "resolves to a non-public address"},
      {ConnectLine(absl::StrCat("127.0.0.1:", port)), "127.0.0.1 (loopback 127.0.0.0/8)"},
      {ConnectLine(absl::StrCat("[::1]:", port)), "::1 (loopback ::1/128)"},
      {ConnectLine(absl::StrCat("[::ffff:127.0.0.1]:", port)), "via IPv4-mapped"},
      {absl::StrCat("GET http://127.0.0.1:", port, "/ HTTP/1.1\r\n\r\n"), "loopback"},
      {"GET http://metadata.google.internal/computeMetadata/v1/ HTTP/1.1\r\n\r\n",
       "metadata service hostname"},
  };
  for (const Case& c : cases) {
    INFO(c.request);
    size_t before = proxy->Events().size();
    std::string response = AskOnce(proxy->port(), c.request);
    CHECK(absl::StartsWith(response, "HTTP/1.1 403 Forbidden\r\n"));
    std::vector<EgressEvent> events = proxy->Events();
    REQUIRE(events.size() == before + 1);
    CHECK(!events.back().allowed);
    CHECK(events.back().address.empty());
    CHECK(absl::StrContains(events.back().reason, c.reason));
    // The container is told why, but not which internal address the name resolved to.
    CHECK(response.find("127.0.0.1 (") == std::string::npos);
  }
  CHECK(absl::StrContains(AskOnce(proxy->port(), cases[0].request),
                          "\r\n\r\negress proxy: resolves to a non-public address\n"));
  CHECK(echo.accepted() == 0);
}

TEST_CASE("plain HTTP reaches the origin in origin-form with Connection: close") {
  HttpOrigin origin;
  TestServer server([&](int fd) { origin.Serve(fd); });
  std::unique_ptr<EgressProxy> proxy =
      StartProxy({.allowed = {{"127.0.0.1", server.port(), /*allow_internal=*/true}}});
  std::string response =
      AskOnce(proxy->port(), absl::StrCat("GET http://127.0.0.1:", server.port(),
                                          "/pkg/-/pkg-1.0.0.tgz?x=1 HTTP/1.1\r\n"
                                          "Host: elsewhere.example\r\n"
                                          "Accept: application/json\r\n"
                                          "Proxy-Connection: keep-alive\r\n"
                                          "Proxy-Authorization: Basic c2VjcmV0\r\n"
                                          "Connection: keep-alive, X-Hop\r\n"
                                          "Keep-Alive: timeout=5\r\n"
                                          "X-Hop: 1\r\n\r\n"));
  CHECK(response == "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
  absl::MutexLock lock(&origin.mu);
  CHECK(origin.head == absl::StrCat("GET /pkg/-/pkg-1.0.0.tgz?x=1 HTTP/1.1\r\n"
                                    "Host: 127.0.0.1:",
                                    server.port(),
                                    "\r\n"
                                    "Accept: application/json\r\n"
                                    "Connection: close\r\n\r\n"));
}

TEST_CASE("plain HTTP forwards the request body") {
  HttpOrigin origin;
  TestServer server([&](int fd) { origin.Serve(fd); });
  std::unique_ptr<EgressProxy> proxy =
      StartProxy({.allowed = {{"127.0.0.1", server.port(), /*allow_internal=*/true}}});
  std::string body(100000, 'b');
  std::string response = AskOnce(
      proxy->port(), absl::StrCat("PUT http://127.0.0.1:", server.port(), "/upload HTTP/1.1\r\n",
                                  "Content-Length: ", body.size(), "\r\n\r\n", body));
  CHECK(absl::EndsWith(response, "hello"));
  absl::MutexLock lock(&origin.mu);
  CHECK(absl::StartsWith(origin.head, "PUT /upload HTTP/1.1\r\n"));
  CHECK(origin.body == body);
}

TEST_CASE("an absolute-form request to a host not on the list is refused with 403") {
  HttpOrigin origin;
  TestServer server([&](int fd) { origin.Serve(fd); });
  std::unique_ptr<EgressProxy> proxy = StartProxy({.allowed = {{"registry.example", 80}}});
  std::string response = AskOnce(
      proxy->port(), absl::StrCat("GET http://127.0.0.1:", server.port(), "/ HTTP/1.1\r\n\r\n"));
  CHECK(absl::StartsWith(response, "HTTP/1.1 403 Forbidden\r\n"));
  CHECK(server.accepted() == 0);
  std::vector<EgressEvent> events = proxy->Events();
  REQUIRE(events.size() == 1);
  CHECK(events[0].method == "GET");
  CHECK(events[0].reason == "host not allowed");
}

TEST_CASE("malformed requests get 400 and an event") {
  std::unique_ptr<EgressProxy> proxy = StartProxy({.allowed = {{"registry.example", 443}}});
  const std::string requests[] = {
      "garbage\r\n\r\n",
      "GET /index.html HTTP/1.1\r\nHost: registry.example\r\n\r\n",
      "CONNECT registry.example HTTP/1.1\r\n\r\n",
      "GET http://user:secret@registry.example/ HTTP/1.1\r\n\r\n",
      absl::StrCat("GET http://registry.example/ HTTP/1.1\r\nX-Big: ", std::string(17000, 'a'),
                   "\r\n\r\n"),
  };
  for (const std::string& request : requests) {
    INFO(request.substr(0, 60));
    CHECK(absl::StartsWith(AskOnce(proxy->port(), request), "HTTP/1.1 400 Bad Request\r\n"));
  }
  std::vector<EgressEvent> events = proxy->Events();
  REQUIRE(events.size() == 5);
  for (const EgressEvent& event : events) {
    CHECK(!event.allowed);
    CHECK(!event.reason.empty());
  }
  CHECK(events[1].reason == "origin-form request sent to a proxy");
  CHECK(events[2].method == "CONNECT");
  CHECK(events[2].reason == "missing port");
  CHECK(events[3].reason == "userinfo in URL");
  CHECK(events[4].reason == "request head longer than 16 KiB");
  CHECK(events[3].reason.find("secret") == std::string::npos);
}

TEST_CASE("Close() tears down an active tunnel and stops listening") {
  TestServer echo(Echo);
  std::unique_ptr<EgressProxy> proxy =
      StartProxy({.allowed = {{"127.0.0.1", echo.port(), /*allow_internal=*/true}}});
  int port = proxy->port();
  UniqueFd client = OpenTunnel(port, absl::StrCat("127.0.0.1:", echo.port()));
  REQUIRE(client.valid());
  UniqueFd waiting = Connect(port);  // accepted, but has not sent a request yet
  REQUIRE(waiting.valid());

  absl::Time start = absl::Now();
  proxy->Close();
  CHECK(absl::Now() - start < absl::Seconds(5));
  CHECK(SeesEofWithin(client.get(), absl::Seconds(5)));
  CHECK(SeesEofWithin(waiting.get(), absl::Seconds(5)));
  CHECK(!Connect(port).valid());
  proxy->Close();  // idempotent
  CHECK(proxy->Events().back().reason == "proxy closed");
}

TEST_CASE("connections beyond max_connections get 503") {
  TestServer echo(Echo);
  std::string authority = absl::StrCat("127.0.0.1:", echo.port());
  std::unique_ptr<EgressProxy> proxy = StartProxy(
      {.allowed = {{"127.0.0.1", echo.port(), /*allow_internal=*/true}}, .max_connections = 1});
  UniqueFd first = OpenTunnel(proxy->port(), authority);
  REQUIRE(first.valid());

  std::string response = AskOnce(proxy->port(), ConnectLine(authority));
  CHECK(absl::StartsWith(response, "HTTP/1.1 503 Service Unavailable\r\n"));
  CHECK(absl::StrContains(response, "too many connections (limit 1)"));

  first.reset();  // frees the slot once the proxy notices
  CHECK(Eventually([&] { return OpenTunnel(proxy->port(), authority).valid(); }));
  std::vector<EgressEvent> events = proxy->Events();
  REQUIRE(events.size() >= 3);
  CHECK(events[0].allowed);
  CHECK(!events[1].allowed);
  CHECK(events[1].reason == "too many connections (limit 1)");
  CHECK(events.back().allowed);
}

TEST_CASE("the total byte budget cuts tunnels and refuses new ones") {
  TestServer echo(Echo);
  std::string authority = absl::StrCat("127.0.0.1:", echo.port());
  std::unique_ptr<EgressProxy> proxy = StartProxy(
      {.allowed = {{"127.0.0.1", echo.port(), /*allow_internal=*/true}}, .max_total_bytes = 1000});
  UniqueFd idle = OpenTunnel(proxy->port(), authority);  // cut too, though it moves nothing
  UniqueFd busy = OpenTunnel(proxy->port(), authority);
  REQUIRE(idle.valid());
  REQUIRE(busy.valid());
  REQUIRE(SendString(busy.get(), std::string(600, 'x')));  // 600 up, 600 echoed: over 1000

  std::string received;
  char chunk[4096];
  ssize_t n;
  while ((n = ::recv(busy.get(), chunk, sizeof(chunk), 0)) > 0) received.append(chunk, n);
  CHECK(n == 0);
  CHECK(received.size() < 600);
  CHECK(SeesEofWithin(idle.get(), absl::Seconds(5)));

  std::string response = AskOnce(proxy->port(), ConnectLine(authority));
  CHECK(absl::StartsWith(response, "HTTP/1.1 503 Service Unavailable\r\n"));
  CHECK(absl::StrContains(response, "budget"));
  proxy->Close();
  for (const EgressEvent& event : proxy->Events()) CHECK(absl::StrContains(event.reason, "budget"));
}

TEST_CASE("idle tunnels end after the idle timeout") {
  TestServer echo(Echo);
  std::unique_ptr<EgressProxy> proxy =
      StartProxy({.allowed = {{"127.0.0.1", echo.port(), /*allow_internal=*/true}},
                  .idle_timeout = absl::Milliseconds(300)});
  UniqueFd client = OpenTunnel(proxy->port(), absl::StrCat("127.0.0.1:", echo.port()));
  REQUIRE(client.valid());
  CHECK(SeesEofWithin(client.get(), absl::Seconds(5)));
  REQUIRE(Eventually([&] { return proxy->Events().front().reason == "idle timeout"; }));

  // A client that never finishes its request is answered 408 and dropped too.
  UniqueFd slow = Connect(proxy->port());
  REQUIRE(SendString(slow.get(), "CONNECT 127.0.0.1:"));
  CHECK(absl::StartsWith(ReadToEnd(slow.get()), "HTTP/1.1 408 Request Timeout\r\n"));
}

TEST_CASE("an allowed destination that refuses the connection gets 502") {
  int closed_port;
  {
    UniqueFd probe = ListenLocal();
    closed_port = PortOf(probe.get());
  }
  std::unique_ptr<EgressProxy> proxy =
      StartProxy({.allowed = {{"127.0.0.1", closed_port, /*allow_internal=*/true}}});
  std::string response =
      AskOnce(proxy->port(), ConnectLine(absl::StrCat("127.0.0.1:", closed_port)));
  CHECK(absl::StartsWith(response, "HTTP/1.1 502 Bad Gateway\r\n"));
  std::vector<EgressEvent> events = proxy->Events();
  REQUIRE(events.size() == 1);
  CHECK(events[0].allowed);
  CHECK_FALSE(events[0].connected);
  CHECK(absl::StartsWith(events[0].reason, "connect failed: "));
}

TEST_CASE("Events() keeps allowed and refused attempts in order, with reasons") {
  TestServer echo(Echo);
  std::string authority = absl::StrCat("127.0.0.1:", echo.port());
  std::unique_ptr<EgressProxy> proxy =
      StartProxy({.allowed = {{"127.0.0.1", echo.port(), /*allow_internal=*/true}}});
  AskOnce(proxy->port(), ConnectLine("evil.example:443"));
  UniqueFd tunnel = OpenTunnel(proxy->port(), authority);
  REQUIRE(tunnel.valid());
  AskOnce(proxy->port(), "nonsense\r\n\r\n");
  absl::Time before = absl::Now();

  std::vector<EgressEvent> events = proxy->Events();
  REQUIRE(events.size() == 3);
  CHECK((!events[0].allowed && events[0].reason == "host not allowed"));
  CHECK((events[1].allowed && events[1].address == authority));
  CHECK((!events[2].allowed && events[2].reason == "malformed request line"));
  CHECK(events[0].time <= events[1].time);
  CHECK(events[1].time <= events[2].time);
  CHECK(events[2].time <= before);
}

TEST_CASE("attempts beyond max_events are counted, not kept") {
  std::unique_ptr<EgressProxy> proxy = StartProxy({.max_events = 2});
  for (int i = 0; i < 5; ++i) {
    CHECK(absl::StartsWith(AskOnce(proxy->port(), ConnectLine("evil.example:443")),
                           "HTTP/1.1 403 Forbidden\r\n"));
  }
  CHECK(proxy->Events().size() == 2);
  CHECK(proxy->DroppedEvents() == 3);
}

TEST_CASE("Start refuses bad policies and namespaces") {
  CHECK(absl::IsInvalidArgument(EgressProxy::Start({.allowed = {{"a b", 443}}}, "").status()));
  CHECK(absl::IsInvalidArgument(EgressProxy::Start({.allowed = {{"a", 0}}}, "").status()));
  CHECK(absl::IsInvalidArgument(EgressProxy::Start({.max_connections = 0}, "").status()));
  CHECK(!EgressProxy::Start({}, "/nonexistent/ns/net").ok());
  CHECK(!EgressProxy::Start({}, "/proc/self/ns/uts").ok());  // not a network namespace
}

using testing::FreshNetns;
using testing::RunInNetns;

TEST_CASE("the proxy listens inside another network namespace and dials from ours") {
  if (::geteuid() != 0) {
    WARN("skipped: creating a network namespace needs root");
    return;
  }
  FreshNetns netns;
  if (!netns.status().ok()) {
    WARN("skipped: " << netns.status().ToString());
    return;
  }
  TestServer echo(Echo);  // in the test's own namespace
  std::string authority = absl::StrCat("127.0.0.1:", echo.port());
  std::unique_ptr<EgressProxy> proxy =
      StartProxy({.allowed = {{"127.0.0.1", echo.port(), /*allow_internal=*/true}}}, netns.path());
  int port = proxy->port();

  bool direct_to_server = true;
  std::string tunnelled;
  REQUIRE(RunInNetns(netns.path(), [&] {
    direct_to_server = Connect(echo.port()).valid();
    UniqueFd tunnel = OpenTunnel(port, authority);
    if (tunnel.valid() && SendString(tunnel.get(), "from inside")) {
      tunnelled = ReadUntil(tunnel.get(), "from inside");
    }
  }));
  CHECK(!direct_to_server);           // the namespace has no route to the server...
  CHECK(tunnelled == "from inside");  // ...but the proxy reaches it from ours
  if (port != echo.port()) CHECK(!Connect(port).valid());  // not listening in ours

  proxy->Close();
  bool after_close = true;
  REQUIRE(RunInNetns(netns.path(), [&] { after_close = Connect(port).valid(); }));
  CHECK(!after_close);
}

}  // namespace
}  // namespace ovvoc::agent::registry
