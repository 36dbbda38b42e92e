// http::Client over libcurl against a local HTTP server, and SendWithRetries against the fake.
#include "common/http.h"

#include <httplib.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/support/fake_http.h"

namespace ovvoc::http {
namespace {

// An httplib server on 127.0.0.1, on a thread of its own while the object lives.
class LocalServer {
 public:
  httplib::Server server;

  ~LocalServer() { Stop(); }
  void Start() {
    port_ = server.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server.listen_after_bind(); });
    const absl::Time end = absl::Now() + absl::Seconds(10);
    while (!server.is_running() && absl::Now() < end) absl::SleepFor(absl::Milliseconds(1));
    REQUIRE(server.is_running());
  }
  void Stop() {
    server.stop();
    if (thread_.joinable()) thread_.join();
  }
  std::string Url(const std::string& path) const {
    return absl::StrCat("http://127.0.0.1:", port_, path);
  }

 private:
  int port_ = 0;
  std::thread thread_;
};

// Serves `body` at `path` in 64 KiB chunks, with no Content-Length. `body` must outlive `local`.
void ServeChunked(LocalServer& local, const std::string& path, const std::string& body) {
  local.server.Get(path, [&body](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("application/octet-stream",
                                     [&body](size_t offset, httplib::DataSink& sink) {
                                       if (offset >= body.size()) {
                                         sink.done();
                                         return true;
                                       }
                                       return sink.write(body.data() + offset,
                                                         std::min<size_t>(64 << 10, body.size() - offset));
                                     });
  });
}

Request Get(const std::string& url) {
  Request request;
  request.url = url;
  return request;
}

TEST_CASE("the curl client returns status, headers and body, and keeps the connection") {
  LocalServer local;
  std::vector<int> ports;  // the client's port of each request's connection
  local.server.Get("/a", [&](const httplib::Request& req, httplib::Response& res) {
    ports.push_back(req.remote_port);
    res.set_header("X-Answer", "forty-two");
    res.set_content("hello", "text/plain");
  });
  local.server.Get("/missing", [](const httplib::Request&, httplib::Response& res) {
    res.status = 404;
    res.set_content("no such package", "text/plain");
  });
  local.Start();
  auto client = NewCurlClient({.max_parallel = 1});

  absl::StatusOr<Response> first = client->Send(Get(local.Url("/a")));
  REQUIRE(first.ok());
  CHECK(first->status == 200);
  CHECK(first->body == "hello");
  CHECK(first->Header("x-answer") == "forty-two");
  CHECK(first->Header("X-ANSWER") == "forty-two");
  CHECK_FALSE(first->Header("x-other").has_value());
  REQUIRE(client->Send(Get(local.Url("/a"))).ok());
  REQUIRE(ports.size() == 2);
  CHECK(ports[0] == ports[1]);  // one connection, kept alive

  absl::StatusOr<Response> missing = client->Send(Get(local.Url("/missing")));
  REQUIRE(missing.ok());  // any status is an answer
  CHECK(missing->status == 404);
  CHECK(missing->body == "no such package");
}

TEST_CASE("the curl client sends the method, headers and body it is given") {
  LocalServer local;
  std::string seen;
  local.server.Put("/tag", [&](const httplib::Request& req, httplib::Response& res) {
    seen = absl::StrCat(req.method, " ", req.get_header_value("Authorization"), " ", req.body);
    res.status = 201;
  });
  local.server.Get("/h", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Content-Length", "5");
    res.set_content("hello", "text/plain");
  });
  local.Start();
  auto client = NewCurlClient();
  Request put = Get(local.Url("/tag"));
  put.method = "PUT";
  put.headers = {{"Authorization", "Bearer t0ken"}};
  put.body = "\"1.2.3\"";
  absl::StatusOr<Response> answer = client->Send(put);
  REQUIRE(answer.ok());
  CHECK(answer->status == 201);
  CHECK(seen == "PUT Bearer t0ken \"1.2.3\"");

  Request head = Get(local.Url("/h"));
  head.method = "HEAD";
  absl::StatusOr<Response> headed = client->Send(head);
  REQUIRE(headed.ok());
  CHECK(headed->status == 200);
  CHECK(headed->body.empty());
}

TEST_CASE("an answer over the body cap fails, whether its length is declared or not") {
  const std::string big(2 << 20, 'x');
  LocalServer local;
  local.server.Get("/declared", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(big, "application/octet-stream");
  });
  ServeChunked(local, "/streamed", big);
  local.Start();
  auto client = NewCurlClient();
  for (const char* path : {"/declared", "/streamed"}) {
    INFO(path);
    Request request = Get(local.Url(path));
    request.max_body_bytes = 1 << 20;
    absl::StatusOr<Response> answer = client->Send(request);
    REQUIRE_FALSE(answer.ok());
    CHECK(answer.status().code() == absl::StatusCode::kResourceExhausted);
    CHECK_THAT(std::string(answer.status().message()), Catch::Contains(path));
    request.max_body_bytes = 4 << 20;
    answer = client->Send(request);  // the same client still works
    REQUIRE(answer.ok());
    CHECK(answer->body.size() == big.size());
  }
}

// Collects what a body sink is given, as a file would.
class CollectingSink final : public BodySink {
 public:
  absl::Status Restart() override {
    ++restarts;
    bytes.clear();
    return absl::OkStatus();
  }
  absl::Status Write(absl::string_view chunk) override {
    ++writes;
    if (bytes.size() + chunk.size() > fail_past) return absl::DataLossError("sink full");
    bytes.append(chunk.data(), chunk.size());
    return absl::OkStatus();
  }
  std::string bytes;
  int restarts = 0;
  int writes = 0;
  size_t fail_past = SIZE_MAX;
};

TEST_CASE("a body sink gets the body as it arrives, within the cap, and can end the exchange") {
  std::string big(3 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + i % 26);
  LocalServer local;
  ServeChunked(local, "/big", big);
  local.Start();
  auto client = NewCurlClient();
  CollectingSink sink;
  Request request = Get(local.Url("/big"));
  request.max_body_bytes = 4 << 20;
  request.body_sink = &sink;
  absl::StatusOr<Response> answer = client->Send(request);
  REQUIRE(answer.ok());
  CHECK(answer->status == 200);
  CHECK(answer->body.empty());
  CHECK(sink.bytes == big);
  CHECK(sink.restarts == 1);
  CHECK(sink.writes > 1);  // in pieces, as it came

  request.max_body_bytes = 1 << 20;
  answer = client->Send(request);
  CHECK(answer.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(sink.bytes.size() <= (1u << 20));

  request.max_body_bytes = 4 << 20;
  sink.fail_past = 100 << 10;
  answer = client->Send(request);
  CHECK(answer.status() == absl::DataLossError("sink full"));
}

TEST_CASE("a server too slow, a closed port and a scheme other than http(s) are clear errors") {
  LocalServer local;
  local.server.Get("/slow", [](const httplib::Request&, httplib::Response& res) {
    absl::SleepFor(absl::Milliseconds(1500));
    res.set_content("late", "text/plain");
  });
  local.Start();
  auto client = NewCurlClient();

  Request slow = Get(local.Url("/slow"));
  slow.timeout = absl::Milliseconds(200);
  absl::StatusOr<Response> answer = client->Send(slow);
  REQUIRE_FALSE(answer.ok());
  CHECK(answer.status().code() == absl::StatusCode::kDeadlineExceeded);
  CHECK_THAT(std::string(answer.status().message()), Catch::Contains("/slow"));

  const std::string closed = local.Url("/gone");
  local.Stop();
  answer = client->Send(Get(closed));
  REQUIRE_FALSE(answer.ok());
  CHECK(answer.status().code() == absl::StatusCode::kUnavailable);

  for (const char* url : {"file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1/"}) {
    INFO(url);
    answer = client->Send(Get(url));
    REQUIRE_FALSE(answer.ok());
    CHECK(answer.status().code() == absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("the curl client has at most max_parallel requests in flight") {
  LocalServer local;
  std::atomic<int> now{0};
  std::atomic<int> most{0};
  local.server.Get("/wait", [&](const httplib::Request&, httplib::Response& res) {
    const int in_flight = ++now;
    int seen = most.load();
    while (in_flight > seen && !most.compare_exchange_weak(seen, in_flight)) {
    }
    absl::SleepFor(absl::Milliseconds(200));
    --now;
    res.set_content("ok", "text/plain");
  });
  local.Start();
  auto client = NewCurlClient({.max_parallel = 2});
  std::vector<std::thread> callers;
  std::atomic<int> ok{0};
  for (int i = 0; i < 6; ++i) {
    callers.emplace_back([&] {
      if (client->Send(Get(local.Url("/wait"))).ok()) ++ok;
    });
  }
  for (std::thread& t : callers) t.join();
  CHECK(ok == 6);
  CHECK(most == 2);
}

TEST_CASE("Retry-After is read as seconds or as an HTTP date") {
  const absl::Time now = absl::FromUnixSeconds(1'445'412'000);  // Wed, 21 Oct 2015 07:20:00 GMT
  CHECK(ParseRetryAfter("120", now) == absl::Seconds(120));
  CHECK(ParseRetryAfter(" 0 ", now) == absl::ZeroDuration());
  CHECK(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", now) == absl::Minutes(8));
  CHECK(ParseRetryAfter("Wed, 21 Oct 2015 07:00:00 GMT", now) == absl::ZeroDuration());  // past
  CHECK_FALSE(ParseRetryAfter("-5", now).has_value());
  CHECK_FALSE(ParseRetryAfter("soon", now).has_value());
  CHECK_FALSE(ParseRetryAfter("", now).has_value());
}

struct Retrying {
  testing::FakeHttpClient fake;
  std::vector<absl::Duration> waits;
  RetryPolicy policy;
  Retrying() {
    policy.sleep = [this](absl::Duration d) { waits.push_back(d); };
  }
  absl::StatusOr<Response> Send(const std::string& url) {
    return SendWithRetries(fake, Get(url), policy);
  }
};

Response WithRetryAfter(int status, const std::string& value) {
  Response response;
  response.status = status;
  response.headers = {{"retry-after", value}};
  return response;
}

TEST_CASE("5xx and 429 are retried with exponential backoff, other answers are not") {
  Retrying r;
  const std::string url = "https://registry.example/pkg";
  r.fake.Answer("GET", url, 503);
  r.fake.Answer("GET", url, 502);
  r.fake.Answer("GET", url, 200, "{}");
  absl::StatusOr<Response> answer = r.Send(url);
  REQUIRE(answer.ok());
  CHECK(answer->status == 200);
  CHECK(r.fake.requests().size() == 3);
  CHECK(r.waits == std::vector<absl::Duration>{absl::Milliseconds(250), absl::Milliseconds(500)});

  Retrying missing;
  missing.fake.Answer("GET", url, 404);
  answer = missing.Send(url);
  REQUIRE(answer.ok());
  CHECK(answer->status == 404);
  CHECK(missing.fake.requests().size() == 1);
  CHECK(missing.waits.empty());
}

TEST_CASE("retries stop after the last attempt and return what the server said last") {
  Retrying r;
  const std::string url = "https://registry.example/pkg";
  r.fake.Answer("GET", url, 500, "still broken");
  absl::StatusOr<Response> answer = r.Send(url);
  REQUIRE(answer.ok());
  CHECK(answer->status == 500);
  CHECK(answer->body == "still broken");
  CHECK(r.fake.requests().size() == 4);
  CHECK(r.waits.size() == 3);
  CHECK(r.waits.back() == absl::Seconds(1));
}

TEST_CASE("Retry-After is honoured when it asks for longer, up to the backoff cap") {
  const std::string url = "https://registry.example/pkg";
  Retrying r;
  r.fake.Answer("GET", url, WithRetryAfter(429, "7"));
  r.fake.Answer("GET", url, 200);
  REQUIRE(r.Send(url).ok());
  CHECK(r.waits == std::vector<absl::Duration>{absl::Seconds(7)});

  Retrying shorter;  // asks for less than the backoff: the backoff holds
  shorter.fake.Answer("GET", url, WithRetryAfter(503, "0"));
  shorter.fake.Answer("GET", url, 200);
  REQUIRE(shorter.Send(url).ok());
  CHECK(shorter.waits == std::vector<absl::Duration>{absl::Milliseconds(250)});

  Retrying greedy;  // a server may not park the agent for an hour
  greedy.fake.Answer("GET", url, WithRetryAfter(503, "3600"));
  greedy.fake.Answer("GET", url, 200);
  REQUIRE(greedy.Send(url).ok());
  CHECK(greedy.waits == std::vector<absl::Duration>{absl::Seconds(30)});
}

TEST_CASE("transport failures are retried, a body over its cap and a refused URL are not") {
  const std::string url = "https://registry.example/pkg";
  Retrying r;
  r.fake.Answer("GET", url, absl::UnavailableError("connection refused"));
  r.fake.Answer("GET", url, absl::DeadlineExceededError("timed out"));
  r.fake.Answer("GET", url, 200);
  REQUIRE(r.Send(url).ok());
  CHECK(r.fake.requests().size() == 3);

  for (absl::Status final : {absl::ResourceExhaustedError("too big"),
                             absl::InvalidArgumentError("not http")}) {
    Retrying once;
    once.fake.Answer("GET", url, final);
    absl::StatusOr<Response> answer = once.Send(url);
    CHECK(answer.status() == final);
    CHECK(once.fake.requests().size() == 1);
  }
}

TEST_CASE("the fake refuses what nobody scripted, and records it") {
  testing::FakeHttpClient fake;
  absl::StatusOr<Response> answer = fake.Send(Get("https://registry.example/-/v1/search?q=x"));
  REQUIRE_FALSE(answer.ok());
  CHECK_THAT(std::string(answer.status().message()), Catch::Contains("-/v1/search"));
  REQUIRE(fake.requests().size() == 1);
  CHECK(fake.requests()[0].url == "https://registry.example/-/v1/search?q=x");
}

}  // namespace
}  // namespace ovvoc::http
