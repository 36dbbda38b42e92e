// The registry gateway from the container's side: a client on 127.0.0.1 speaking HTTP, CONNECT
// and TLS to it, as npm (or an install script) would, with the registry behind it faked.
#include "agent/registry/gateway.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/unique_fd.h"
#include "tests/support/fake_http.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/agent/registry_fixtures.h"

namespace ovvoc::agent::registry {
namespace {

using testing::FakeHttpClient;
using testing::TempDir;

struct Answer {
  int status = 0;
  std::string body;
  bool closed = false;  // the gateway closed the connection after it
};

// One connection to the gateway, plain or (after CONNECT) TLS.
class Client {
 public:
  explicit Client(int port) {
    // The test's own TLS writes to a gateway that closed must fail, not end the test (the
    // gateway's threads block SIGPIPE themselves).
    ::signal(SIGPIPE, SIG_IGN);
    fd_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    timeval timeout{10, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  }
  ~Client() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  }

  // CONNECT, then TLS with `sni` (none when empty), trusting `ca_pem` and checking `host`.
  // The CONNECT's answer; TLS only after a 200.
  Answer Connect(const std::string& authority, const std::string& ca_pem, const std::string& sni,
                 bool* handshake_ok = nullptr) {
    Write(absl::StrCat("CONNECT ", authority, " HTTP/1.1\r\nHost: ", authority, "\r\n\r\n"));
    Answer connected = ReadAnswer(/*head_only=*/true);
    if (connected.status != 200) return connected;
    ctx_ = SSL_CTX_new(TLS_client_method());
    BIO* bio = BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size()));
    X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    REQUIRE(ca != nullptr);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx_), ca);
    X509_free(ca);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_.get());
    if (!sni.empty()) {
      SSL_set_tlsext_host_name(ssl_, sni.c_str());
      SSL_set1_host(ssl_, sni.c_str());
    }
    const bool ok = SSL_connect(ssl_) == 1;
    if (!ok) {
      char text[256] = {0};
      ERR_error_string_n(ERR_peek_last_error(), text, sizeof(text));
      std::fprintf(stderr, "TLS handshake: %s; verify: %ld\n", text, SSL_get_verify_result(ssl_));
    }
    ERR_clear_error();
    if (handshake_ok != nullptr) *handshake_ok = ok;
    return connected;
  }

  Answer Request(const std::string& method, const std::string& target, const std::string& host,
                 const std::string& extra = "") {
    Write(absl::StrCat(method, " ", target, " HTTP/1.1\r\nHost: ", host, "\r\n", extra, "\r\n"));
    return ReadAnswer(method == "HEAD");
  }

  // Sends what it can; false once the gateway has closed.
  bool TryWrite(absl::string_view data) {
    return ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(data.size());
  }
  bool Readable() {
    pollfd p = {fd_.get(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
  }
  Answer ReadHead() { return ReadAnswer(/*head_only=*/true); }

  void Write(absl::string_view data) {
    if (ssl_ != nullptr) {
      REQUIRE(SSL_write(ssl_, data.data(), static_cast<int>(data.size())) > 0);
    } else {
      REQUIRE(::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL) ==
              static_cast<ssize_t>(data.size()));
    }
  }

 private:
  ssize_t Read(char* buffer, size_t size) {
    if (ssl_ != nullptr) {
      int n = SSL_read(ssl_, buffer, static_cast<int>(size));
      return n > 0 ? n : 0;
    }
    ssize_t n = ::recv(fd_.get(), buffer, size, 0);
    return n > 0 ? n : 0;
  }

  Answer ReadAnswer(bool head_only) {
    Answer answer;
    size_t head_end;
    while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      char chunk[4096];
      ssize_t n = Read(chunk, sizeof(chunk));
      if (n == 0) {
        answer.closed = true;
        return answer;
      }
      buffer_.append(chunk, static_cast<size_t>(n));
    }
    const std::string head = buffer_.substr(0, head_end);
    buffer_.erase(0, head_end + 4);
    REQUIRE(absl::SimpleAtoi(head.substr(9, 3), &answer.status));
    size_t length = 0;
    if (size_t at = head.find("Content-Length: "); at != std::string::npos) {
      REQUIRE(absl::SimpleAtoi(head.substr(at + 16, head.find("\r\n", at) - at - 16), &length));
    }
    answer.closed = absl::StrContains(head, "Connection: close");
    if (head_only) return answer;
    while (buffer_.size() < length) {
      char chunk[65536];
      ssize_t n = Read(chunk, sizeof(chunk));
      if (n == 0) break;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
    answer.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return answer;
  }

  UniqueFd fd_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string buffer_;
};

// What the agent logs (common/logging.h: a line per write(2) to stderr) from construction until
// Stop().
class LogCapture {
 public:
  LogCapture() {
    std::fflush(stderr);
    saved_ = UniqueFd(::dup(STDERR_FILENO));
    UniqueFd file(::open(dir_.Sub("log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    REQUIRE((saved_.valid() && file.valid()));
    REQUIRE(::dup2(file.get(), STDERR_FILENO) == STDERR_FILENO);
  }
  ~LogCapture() { Stop(); }

  // The lines logged, in order.
  std::vector<std::string> Stop() {
    if (saved_.valid()) {
      ::dup2(saved_.get(), STDERR_FILENO);
      saved_.reset();
    }
    absl::StatusOr<std::string> text = files::ReadFile(dir_.Sub("log"));
    REQUIRE(text.ok());
    return absl::StrSplit(*text, '\n', absl::SkipEmpty());
  }

 private:
  TempDir dir_;
  UniqueFd saved_;
};

size_t CountContaining(const std::vector<std::string>& lines, absl::string_view text) {
  return std::count_if(lines.begin(), lines.end(),
                       [&](const std::string& line) { return absl::StrContains(line, text); });
}

struct GatewayFixture : RegistryClientFixture {
  RegistryEndpoint https = Endpoint("https://registry.example/");
  RegistryEndpoint plain = Endpoint("http://127.0.0.1:4873/");

  std::unique_ptr<Gateway> Start(GatewayOptions options) {
    if (options.registries.empty()) options.registries = {https, plain};
    absl::StatusOr<std::unique_ptr<Gateway>> gateway =
        Gateway::Start(std::move(options), client, clock, "");
    REQUIRE(gateway.ok());
    return *std::move(gateway);
  }

  static bool Refused(const Gateway& gateway, absl::string_view method, absl::string_view path) {
    for (const GatewayEvent& e : gateway.Events()) {
      if (e.refused && e.method == method && absl::StartsWith(e.path, path)) return true;
    }
    return false;
  }
};

TEST_CASE_METHOD(GatewayFixture, "resolve mode: packuments over TLS with the gateway's own CA") {
  https.credential.set_token("upstream-only");
  std::unique_ptr<Gateway> gateway = Start({.registries = {https, plain}});
  http.Answer("GET", "https://registry.example/left-pad", 200, R"({"name":"left-pad"})");
  Client c(gateway->port());
  bool handshake = false;
  REQUIRE(c.Connect("registry.example:443", gateway->ca_pem(), "registry.example", &handshake)
              .status == 200);
  REQUIRE(handshake);
  Answer a = c.Request("GET", "/left-pad", "registry.example",
                       "Accept: application/vnd.npm.install-v1+json\r\n");
  CHECK(a.status == 200);
  CHECK(a.body == R"({"name":"left-pad"})");
  CHECK_FALSE(a.closed);
  // Keep-alive: a second request on the same connection, from the cache this time.
  CHECK(c.Request("HEAD", "/left-pad", "registry.example",
                  "Accept: application/vnd.npm.install-v1+json\r\n").status == 200);
  const std::vector<http::Request> sent = http.requests();
  REQUIRE(sent.size() == 1);
  bool authorized = false;
  for (const auto& [name, value] : sent[0].headers) {
    authorized |= name == "Authorization" && value == "Bearer upstream-only";
  }
  CHECK(authorized);  // the credential goes upstream, added by the agent
  // A packument the registry does not have is no packument served.
  http.Answer("GET", "https://registry.example/missing", 404, R"({"error":"not found"})");
  CHECK(c.Request("GET", "/missing", "registry.example").status != 200);
  gateway->Close();
  const std::vector<GatewayEvent> events = gateway->Events();
  REQUIRE(events.size() == 3);
  CHECK(events[0].bytes == a.body.size());
  CHECK_FALSE(events[0].refused);
  // What script mode may serve again from the cache: what this job's npm read.
  CHECK(gateway->ServedPackuments() == std::set<std::string>{"left-pad"});
}

TEST_CASE_METHOD(GatewayFixture, "writes and the registry's API are refused and recorded") {
  std::unique_ptr<Gateway> gateway = Start({});
  struct Attempt {
    const char* method;
    const char* target;
    const char* extra;
    int status;
  };
  const Attempt attempts[] = {
      {"PUT", "/stolen-source", "Content-Length: 5\r\n", 405},  // publish
      {"PUT", "/-/user/org.couchdb.user:mallory", "", 405},    // adduser
      {"GET", "/-/v1/search?text=c2VjcmV0cw", "", 403},          // search carrying data
      {"PUT", "/-/package/left-pad/dist-tags/latest", "", 405},
      {"POST", "/-/npm/v1/security/advisories/bulk", "", 405},
      {"GET", "/left-pad", "Content-Length: 10\r\n", 400},       // a read with a body
  };
  for (const Attempt& attempt : attempts) {
    INFO(attempt.method << " " << attempt.target);
    Client c(gateway->port());
    REQUIRE(c.Connect("registry.example:443", gateway->ca_pem(), "registry.example").status == 200);
    Answer a = c.Request(attempt.method, attempt.target, "registry.example", attempt.extra);
    CHECK(a.status == attempt.status);
    CHECK(a.closed);
  }
  // Plain http: absolute-form, the same rules.
  Client c(gateway->port());
  CHECK(c.Request("PUT", "http://127.0.0.1:4873/stolen", "127.0.0.1:4873").status == 405);
  gateway->Close();
  CHECK(Refused(*gateway, "PUT", "/stolen-source"));
  CHECK(Refused(*gateway, "PUT", "/-/user/"));
  CHECK(Refused(*gateway, "GET", "/-/v1/search (with a query of"));
  CHECK(Refused(*gateway, "PUT", "/-/package/left-pad/dist-tags/latest"));
  CHECK(Refused(*gateway, "POST", "/-/npm/v1/security/advisories/bulk"));
  CHECK(Refused(*gateway, "PUT", "/stolen"));
  for (const GatewayEvent& e : gateway->Events()) CHECK(!absl::StrContains(e.path, "c2VjcmV0cw"));
  CHECK(http.requests().empty());  // nothing of it went upstream
}

TEST_CASE_METHOD(GatewayFixture, "other hosts, other names inside TLS and other Host headers") {
  std::unique_ptr<Gateway> gateway = Start({});
  {
    Client c(gateway->port());
    CHECK(c.Connect("evil.example:443", gateway->ca_pem(), "evil.example").status == 403);
  }
  {
    Client c(gateway->port());  // the registry's host on another port
    CHECK(c.Connect("registry.example:8443", gateway->ca_pem(), "registry.example").status == 403);
  }
  {
    Client c(gateway->port());
    CHECK(c.Request("GET", "http://evil.example/x", "evil.example").status == 403);
  }
  {
    // Fronting: CONNECT the registry, then ask TLS for another name. The gateway has no
    // certificate for it, and refuses the name even if the client does not check.
    Client c(gateway->port());
    bool handshake = true;
    REQUIRE(c.Connect("registry.example:443", gateway->ca_pem(), "evil.example", &handshake)
                .status == 200);
    CHECK_FALSE(handshake);
  }
  {
    Client c(gateway->port());
    bool handshake = false;
    REQUIRE(c.Connect("registry.example:443", gateway->ca_pem(), "registry.example", &handshake)
                .status == 200);
    REQUIRE(handshake);
    Answer a = c.Request("GET", "/left-pad", "evil.example");
    CHECK(a.status == 421);
    CHECK(a.closed);
  }
  {
    Client c(gateway->port());
    CHECK(c.Request("GET", "http://127.0.0.1:4873/left-pad", "evil.example").status == 421);
  }
  gateway->Close();
  int refused = 0;
  for (const GatewayEvent& e : gateway->Events()) refused += e.refused;
  CHECK(refused >= 5);
  CHECK(http.requests().empty());
}

TEST_CASE_METHOD(GatewayFixture, "script mode serves the prefetched tarballs and nothing else") {
  const std::string bytes(200000, 'x');
  const Integrity integrity = Sha512Of(bytes);
  REQUIRE(cache->PutTarball("", integrity, bytes).ok());
  std::unique_ptr<Gateway> gateway =
      Start({.mode = GatewayMode::kScript,
             .tarballs = {{"http://127.0.0.1:4873/a/-/a-1.0.0.tgz", integrity}}});
  Client c(gateway->port());
  Answer a = c.Request("GET", "http://127.0.0.1:4873/a/-/a-1.0.0.tgz", "127.0.0.1:4873");
  CHECK(a.status == 200);
  CHECK(a.body == bytes);
  Client d(gateway->port());
  CHECK(d.Request("GET", "http://127.0.0.1:4873/b/-/b-1.0.0.tgz", "127.0.0.1:4873").status == 403);
  Client e(gateway->port());
  CHECK(e.Request("GET", "http://127.0.0.1:4873/a", "127.0.0.1:4873").status == 403);
  gateway->Close();
  CHECK(Refused(*gateway, "GET", "/b/-/b-1.0.0.tgz"));
  CHECK(Refused(*gateway, "GET", "/a"));
  CHECK(http.requests().empty());  // nothing went upstream
}

TEST_CASE_METHOD(GatewayFixture, "script mode streams the lockfile's cached packuments") {
  const std::string big = absl::StrCat(R"({"name":"p","pad":")", std::string(3 << 20, 'x'), R"("})");
  http.Answer("GET", "http://127.0.0.1:4873/p", 200, big);
  REQUIRE(client.Packument(plain, "/p", kAcceptCorgi).ok());  // as the prefetch caches it
  const size_t asked = http.requests().size();
  std::unique_ptr<Gateway> gateway = Start({.mode = GatewayMode::kScript, .packages = {"p"}});
  Client c(gateway->port());
  Answer a = c.Request("GET", "http://127.0.0.1:4873/p", "127.0.0.1:4873",
                       absl::StrCat("Accept: ", kAcceptCorgi, "\r\n"));
  CHECK(a.status == 200);
  CHECK(a.body == big);
  // Another form than the one cached is not fetched: nothing goes upstream in script mode.
  CHECK(c.Request("GET", "http://127.0.0.1:4873/p", "127.0.0.1:4873").status == 404);
  gateway->Close();
  CHECK(http.requests().size() == asked);
}

TEST_CASE_METHOD(GatewayFixture, "a registry that fails or lies is a clear failure, not a hang") {
  const Integrity integrity = Sha512Of("the real bytes");
  std::unique_ptr<Gateway> gateway =
      Start({.tarballs = {{"http://127.0.0.1:4873/a/-/a-1.0.0.tgz", integrity}}});
  http.Answer("GET", "http://127.0.0.1:4873/a/-/a-1.0.0.tgz", 200, "forged bytes");
  http.Answer("GET", "http://127.0.0.1:4873/down", 503, "");
  http.Answer("GET", "http://127.0.0.1:4873/garbage", 200, "<html>");
  Client c(gateway->port());
  CHECK(c.Request("GET", "http://127.0.0.1:4873/a/-/a-1.0.0.tgz", "127.0.0.1:4873").status == 502);
  CHECK(c.Request("GET", "http://127.0.0.1:4873/down", "127.0.0.1:4873").status == 502);
  CHECK(c.Request("GET", "http://127.0.0.1:4873/garbage", "127.0.0.1:4873").status == 502);
  gateway->Close();
  int failed = 0;
  for (const GatewayEvent& e : gateway->Events()) {
    failed += e.failed;
    CHECK_FALSE(e.refused);
  }
  CHECK(failed == 3);
  CHECK(!cache->HasTarball("", integrity));
}

// Regression (found while testing the gateway): a container that hung up while the gateway
// wrote to it over TLS raised SIGPIPE, which ended the whole agent.
TEST_CASE_METHOD(GatewayFixture, "a client hanging up mid-answer over TLS does not end the agent") {
  const std::string bytes(4 << 20, 'x');
  const Integrity integrity = Sha512Of(bytes);
  REQUIRE(cache->PutTarball("", integrity, bytes).ok());
  std::unique_ptr<Gateway> gateway =
      Start({.mode = GatewayMode::kScript,
             .tarballs = {{"https://registry.example/a/-/a-1.0.0.tgz", integrity}}});
  for (int i = 0; i < 4; ++i) {
    auto c = std::make_unique<Client>(gateway->port());
    bool handshake = false;
    REQUIRE(c->Connect("registry.example:443", gateway->ca_pem(), "registry.example", &handshake)
                .status == 200);
    REQUIRE(handshake);
    ::signal(SIGPIPE, SIG_DFL);  // as in the agent: a SIGPIPE would end this process
    c->Write("GET /a/-/a-1.0.0.tgz HTTP/1.1\r\nHost: registry.example\r\n\r\n");
    c.reset();  // gone, with the answer unread: the gateway's next writes meet a reset
  }
  gateway->Close();
  ::signal(SIGPIPE, SIG_IGN);
  CHECK(gateway->Events().size() <= 4);  // still here: no SIGPIPE ended the process
}

TEST_CASE_METHOD(GatewayFixture, "a client trickling a request head is cut off at its deadline") {
  std::unique_ptr<Gateway> gateway = Start({.request_head_timeout = absl::Milliseconds(300)});
  GatewayEvent event;
  SECTION("plain HTTP: one header line at a time, each well within the idle timeout") {
    Client slow(gateway->port());
    REQUIRE(slow.TryWrite("GET http://127.0.0.1:4873/a HTTP/1.1\r\nHost: 127.0.0.1:4873\r\n"));
    // At most 10 s of trickling; the gateway answers after 0.3 s (later only under heavy load).
    for (int i = 0; i < 200 && !slow.Readable(); ++i) {
      if (!slow.TryWrite("X-Slow: 1\r\n")) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    Answer answer = slow.ReadHead();
    CHECK(answer.status == 408);
    CHECK(answer.closed);
    REQUIRE(gateway->Events().size() == 1);
    event = gateway->Events()[0];
    CHECK(event.method == "GET");
    CHECK_THAT(event.reason, Catch::Contains("request head not complete within 300ms"));
  }
  SECTION("a CONNECT whose TLS handshake never comes") {
    Client silent(gateway->port());
    silent.Write("CONNECT registry.example:443 HTTP/1.1\r\nHost: registry.example:443\r\n\r\n");
    REQUIRE(silent.ReadHead().status == 200);
    CHECK(silent.ReadHead().closed);  // the gateway hung up, long before the client's 10 s
    REQUIRE(gateway->Events().size() == 1);
    event = gateway->Events()[0];
    CHECK(event.host == "registry.example");
    CHECK(event.reason == "the TLS handshake with the gateway did not end in time");
  }
  CHECK(event.failed);
  CHECK(!event.refused);
}

TEST_CASE_METHOD(GatewayFixture, "Close() cuts idle and half-sent connections at once") {
  std::unique_ptr<Gateway> gateway = Start({});
  Client idle(gateway->port());
  Client half(gateway->port());
  half.Write("GET http://127.0.0.1:4873/a HTTP/1.1\r\nHost: 127.0.0.1");
  gateway->Close();  // returns: nothing waits on the idle timeout
  CHECK(gateway->Events().empty());
}

// Red team: an install script sending refused requests in a loop for 20 s made the agent write
// 112,000 warnings (34 MB) to its log: about 1 GB per job at a 10-minute phase timeout.
TEST_CASE_METHOD(GatewayFixture, "requests refused or failed in a loop do not flood the log") {
  constexpr int kRefused = 300;
  constexpr int kFailed = 40;
  http.Answer("GET", "http://127.0.0.1:4873/down", 503, "");
  LogCapture log;
  std::unique_ptr<Gateway> gateway = Start({});
  for (int i = 0; i < kRefused; ++i) {
    Client c(gateway->port());
    REQUIRE(c.Request("PUT", absl::StrCat("http://127.0.0.1:4873/stolen-", i), "127.0.0.1:4873")
                .status == 405);
  }
  Client c(gateway->port());
  for (int i = 0; i < kFailed; ++i) {
    REQUIRE(c.Request("GET", "http://127.0.0.1:4873/down", "127.0.0.1:4873").status == 502);
  }
  gateway->Close();
  const std::vector<std::string> lines = log.Stop();
  // Positive control: every one was refused or failed, and recorded as such.
  REQUIRE(gateway->Events().size() == kRefused + kFailed);
  // The first ones in full, so that the log says what happened; then one line for the rest.
  CHECK(CountContaining(lines, "registry gateway: refused PUT 127.0.0.1:4873/stolen-0: ") == 1);
  CHECK(CountContaining(lines, "registry gateway: refused") == Gateway::kLoggedRequests);
  CHECK(CountContaining(lines, "/down: ") == 0);
  CHECK(CountContaining(lines, absl::StrCat(kRefused - Gateway::kLoggedRequests, " refused and ",
                                            kFailed, " failed requests were not logged")) == 1);
  CHECK(lines.size() <= Gateway::kLoggedRequests + 5);
}

// Red team: an exception on a connection's thread (nlohmann::json throwing on a registry's ETag
// of invalid UTF-8 as the cache stored it) reached std::terminate: the agent aborted, and with
// it every job it ran. Now it fails that one request; the gateway and the agent go on. (The
// cache no longer throws on either of these; the test keeps both as they were found.)
TEST_CASE_METHOD(GatewayFixture,
                 "a request whose serving throws fails alone and the gateway goes on") {
  const std::string packument = R"({"name":"p"})";
  http.Answer("GET", "http://127.0.0.1:4873/q", 200, R"({"name":"q"})");
  const std::string accept = absl::StrCat("Accept: ", kAcceptCorgi, "\r\n");
  GatewayOptions options;
  SECTION("resolve mode: a packument whose ETag is not UTF-8") {
    http.Answer(
        "GET", "http://127.0.0.1:4873/p",
        http::Response{.status = 200, .headers = {{"etag", "\xff\xfe"}}, .body = packument});
  }
  SECTION("script mode: a cached packument whose content type is not a string") {
    http.Answer("GET", "http://127.0.0.1:4873/p", 200, packument);
    REQUIRE(client.Packument(plain, "/q", kAcceptCorgi).ok());  // as the prefetch caches them
    REQUIRE(client.Packument(plain, "/p", kAcceptCorgi).ok());
    bool damaged = false;
    for (const auto& entry : std::filesystem::directory_iterator(dir.Sub("cache/packuments"))) {
      absl::StatusOr<std::string> file = files::ReadFile(entry.path());
      REQUIRE(file.ok());
      if (!absl::EndsWith(*file, packument)) continue;
      REQUIRE(files::WriteFile(entry.path(),
                               absl::StrCat(R"({"content_type":5,"fetched":1})", "\n", packument))
                  .ok());
      damaged = true;
    }
    REQUIRE(damaged);
    options = {.mode = GatewayMode::kScript, .packages = {"p", "q"}};
  }
  std::unique_ptr<Gateway> gateway = Start(std::move(options));
  for (int i = 0; i < 3; ++i) {
    Client c(gateway->port());
    Answer a = c.Request("GET", "http://127.0.0.1:4873/p", "127.0.0.1:4873", accept);
    if (a.status != 200) CHECK((a.status == 0 && a.closed));  // cut, without an answer
  }
  // Still serving.
  Client c(gateway->port());
  CHECK(c.Request("GET", "http://127.0.0.1:4873/q", "127.0.0.1:4873", accept).status == 200);
  gateway->Close();
  for (const GatewayEvent& e : gateway->Events()) {
    if (e.path != "/p" || !e.failed) continue;
    CHECK_THAT(e.reason, Catch::StartsWith("internal error serving the request: "));
    CHECK(e.method == "GET");
    CHECK(e.host == "127.0.0.1");
  }
}

GatewayEvent Refusal(std::string method, std::string host, int port, std::string path,
                     std::string reason) {
  return GatewayEvent{.method = std::move(method),
                      .host = std::move(host),
                      .port = port,
                      .path = std::move(path),
                      .refused = true,
                      .reason = std::move(reason)};
}

std::vector<std::string> Details(const std::vector<ovvoc::v1::SecurityFinding>& findings) {
  std::vector<std::string> details;
  for (const ovvoc::v1::SecurityFinding& finding : findings) details.push_back(finding.detail());
  return details;
}

// Red team: a refused request in a loop made one blocked-egress finding per request: 10,001 of
// them, with the job's real findings (a direct connection, a tampered manifest) after them,
// past the 200 that the control plane keeps of a result.
TEST_CASE("a loop of refused requests is one finding, and what else was refused is itemised") {
  std::vector<GatewayEvent> events;
  for (int i = 0; i < 9000; ++i) {
    events.push_back(Refusal("PUT", "127.0.0.1", 4873, absl::StrCat("/decoy-", i),
                             "only GET and HEAD read a registry"));
    if (i == 4000) {
      events.push_back(
          Refusal("CONNECT", "exfil.example", 443, "", "not one of the job's registries"));
    }
  }
  events.push_back(GatewayEvent{.method = "GET", .host = "127.0.0.1", .port = 4873, .path = "/a"});
  const std::vector<ovvoc::v1::SecurityFinding> findings = RefusalFindings(events, 0, "install");
  // Positive control: as a finding each, that was 9,001 findings.
  REQUIRE(events.size() == 9002);
  CHECK(Details(findings) ==
        std::vector<std::string>{
            "PUT 127.0.0.1:4873/decoy-0 refused by the registry gateway during install: only GET "
            "and HEAD read a registry (9000 times, also at /decoy-1, /decoy-2, /decoy-3, /decoy-4 "
            "and other paths)",
            "CONNECT exfil.example:443 refused by the registry gateway during install: not one of "
            "the job's registries"});
  for (const ovvoc::v1::SecurityFinding& finding : findings) {
    CHECK(finding.kind() == "blocked-egress");
    CHECK(finding.severity() == ovvoc::v1::SEVERITY_HIGH);
  }
}

TEST_CASE("refusals of many kinds: the first itemised, the rest summed up and named") {
  std::vector<GatewayEvent> events;
  // The worm's writes: one kind, each path named (tests/e2e/registry_test.cc looks for them).
  for (const char* path : {"/-/user/org.couchdb.user:worm", "/ovvoc-stolen-source",
                           "/-/package/ovvoc-fixture-dep/dist-tags/latest"}) {
    events.push_back(Refusal("PUT", "127.0.0.1", 4873, path, "only GET and HEAD read a registry"));
  }
  // Decoys of as many kinds as an attacker likes: methods and hosts are the client's to choose.
  for (int i = 0; i < 50; ++i) {
    for (int j = 0; j <= i % 3; ++j) {
      events.push_back(Refusal(absl::StrCat("X", i), absl::StrCat("decoy-", i, ".example"), 80, "/",
                               "only GET and HEAD read a registry"));
    }
  }
  events.push_back(Refusal("CONNECT", "late.example", 443, "", "not one of the job's registries"));
  const std::vector<ovvoc::v1::SecurityFinding> findings =
      RefusalFindings(events, /*dropped=*/70, "install");
  INFO(absl::StrJoin(Details(findings), "\n"));
  REQUIRE(findings.size() == kMaxRefusalFindings + 2);
  CHECK(findings[0].detail() ==
        "PUT 127.0.0.1:4873/-/user/org.couchdb.user:worm refused by the registry gateway during "
        "install: only GET and HEAD read a registry (3 times, also at /ovvoc-stolen-source, "
        "/-/package/ovvoc-fixture-dep/dist-tags/latest)");
  CHECK(findings[1].detail() ==
        "X0 decoy-0.example:80/ refused by the registry gateway during install: only GET and HEAD "
        "read a registry");
  CHECK_THAT(findings[2].detail(), Catch::EndsWith("(2 times)"));
  // 19 decoy kinds itemised; 31 more and the CONNECT summed up, named as far as they fit.
  const std::string& rest = findings[kMaxRefusalFindings].detail();
  CHECK(findings[kMaxRefusalFindings].kind() == "blocked-egress");
  CHECK(findings[kMaxRefusalFindings].severity() == ovvoc::v1::SEVERITY_HIGH);
  uint64_t summed = 1;  // the CONNECT
  for (int i = 19; i < 50; ++i) summed += i % 3 + 1;
  CHECK_THAT(rest, Catch::StartsWith(absl::StrCat("... and ", summed,
                                                  " more requests of 32 other "
                                                  "kinds refused by the registry gateway during "
                                                  "install: X19 decoy-19.example:80 (2 times), "
                                                  "X20 decoy-20.example:80 (3 times), ")));
  CHECK_THAT(rest, Catch::EndsWith(", ..."));
  CHECK(rest.size() <= 1024);  // whole in a stored result
  CHECK(findings.back().kind() == "egress-flood");
  CHECK(findings.back().detail() ==
        "70 more requests to the registry gateway during install, counted but not itemised");
}

TEST_CASE("refusals of a few kinds more than are itemised: the rest are all named") {
  std::vector<GatewayEvent> events;
  for (size_t i = 0; i < kMaxRefusalFindings + 2; ++i) {
    events.push_back(Refusal("CONNECT", absl::StrCat("h", i, ".example"), 443, "",
                             "not one of the job's registries"));
  }
  const std::vector<ovvoc::v1::SecurityFinding> findings = RefusalFindings(events, 0, "build");
  REQUIRE(findings.size() == kMaxRefusalFindings + 1);
  CHECK(findings.back().detail() ==
        "... and 2 more requests of 2 other kinds refused by the registry gateway during build: "
        "CONNECT h20.example:443, CONNECT h21.example:443");
}

TEST_CASE("what the gateway served or failed to serve is no finding") {
  const std::vector<GatewayEvent> events = {
      GatewayEvent{.method = "GET", .host = "127.0.0.1", .port = 4873, .path = "/a"},
      GatewayEvent{
          .method = "GET", .path = "/b", .failed = true, .reason = "the registry answered 503"},
  };
  CHECK(RefusalFindings(events, 0, "install").empty());
}

}  // namespace
}  // namespace ovvoc::agent::registry
