#include "agent/registry/proxy_request.h"

#include <catch2/catch.hpp>
#include <string>

#include "absl/strings/match.h"

namespace ovvoc::agent::registry {
namespace {

TEST_CASE("the head ends at the first blank line, CRLF or bare LF") {
  CHECK(!FindHeadEnd("CONNECT a:1 HTTP/1.1\r\nHost: a\r\n"));
  CHECK(FindHeadEnd("CONNECT a:1 HTTP/1.1\r\n\r\nrest") == size_t{24});
  CHECK(FindHeadEnd("CONNECT a:1 HTTP/1.1\n\nrest") == size_t{22});
  CHECK(FindHeadEnd("GET http://a/ HTTP/1.1\r\nX: 1\r\n\r\n\r\n") == size_t{32});
}

TEST_CASE("CONNECT takes host:port, IPv6 in brackets, and normalizes the host") {
  absl::StatusOr<ProxyRequest> r = ParseProxyRequest(
      "CONNECT Registry.NPMjs.org.:443 HTTP/1.1\r\nHost: registry.npmjs.org:443\r\n"
      "Proxy-Authorization: Basic eA==\r\n\r\n");
  REQUIRE(r.ok());
  CHECK(r->is_connect);
  CHECK(r->method == "CONNECT");
  CHECK(r->host == "registry.npmjs.org");
  CHECK(r->port == 443);
  CHECK(r->upstream_head.empty());

  r = ParseProxyRequest("CONNECT [0::1]:8443 HTTP/1.1\r\n\r\n");
  REQUIRE(r.ok());
  CHECK(r->host == "::1");
  CHECK(r->port == 8443);
}

TEST_CASE("absolute-form requests become origin-form with hop-by-hop fields dropped") {
  absl::StatusOr<ProxyRequest> r = ParseProxyRequest(
      "GET http://Registry.Example:8080/pkg/-/pkg-1.0.0.tgz?a=1#frag HTTP/1.1\r\n"
      "Host: elsewhere.example\r\n"
      "Accept: */*\r\n"
      "Proxy-Connection: keep-alive\r\n"
      "Proxy-Authorization: Basic eA==\r\n"
      "Connection: keep-alive, X-Secret, Content-Length\r\n"
      "Keep-Alive: timeout=5\r\n"
      "X-Secret: 1\r\n"
      "Content-Length: 0\r\n"
      "\r\n");
  REQUIRE(r.ok());
  CHECK(!r->is_connect);
  CHECK(r->host == "registry.example");
  CHECK(r->port == 8080);
  CHECK(r->upstream_head ==
        "GET /pkg/-/pkg-1.0.0.tgz?a=1 HTTP/1.1\r\n"
        "Host: registry.example:8080\r\n"
        "Accept: */*\r\n"
        "Content-Length: 0\r\n"
        "Connection: close\r\n\r\n");

  r = ParseProxyRequest("POST HTTP://h HTTP/1.0\n\n");
  REQUIRE(r.ok());
  CHECK(r->port == 80);
  CHECK(r->upstream_head == "POST / HTTP/1.0\r\nHost: h\r\nConnection: close\r\n\r\n");

  r = ParseProxyRequest("GET http://[::1]:81?x HTTP/1.1\r\n\r\n");
  REQUIRE(r.ok());
  CHECK(absl::StartsWith(r->upstream_head, "GET /?x HTTP/1.1\r\nHost: [::1]:81\r\n"));
}

TEST_CASE("anything else is refused with a reason that does not echo the request") {
  struct Bad {
    const char* head;
    const char* reason;
  };
  const Bad cases[] = {
      {"garbage\r\n\r\n", "malformed request line"},
      {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "origin-form"},
      {"GET https://a/ HTTP/1.1\r\n\r\n", "CONNECT"},
      {"GET ftp://a/ HTTP/1.1\r\n\r\n", "not an http:// URL"},
      {"GET http://user:pw@a/ HTTP/1.1\r\n\r\n", "userinfo"},
      {"GET http://a@b:80/ HTTP/1.1\r\n\r\n", "userinfo"},
      {"CONNECT a HTTP/1.1\r\n\r\n", "missing port"},
      {"CONNECT a: HTTP/1.1\r\n\r\n", "bad port"},
      {"CONNECT a:0 HTTP/1.1\r\n\r\n", "bad port"},
      {"CONNECT a:65536 HTTP/1.1\r\n\r\n", "bad port"},
      {"CONNECT a:+443 HTTP/1.1\r\n\r\n", "bad port"},
      {"CONNECT user@a:443 HTTP/1.1\r\n\r\n", "userinfo"},
      {"CONNECT ::1:443 HTTP/1.1\r\n\r\n", "bad host"},
      {"CONNECT [::1:443 HTTP/1.1\r\n\r\n", "unterminated"},
      {"CONNECT [127.0.0.1]:443 HTTP/1.1\r\n\r\n", "bad IPv6"},
      {"CONNECT a..b:443 HTTP/1.1\r\n\r\n", "bad host"},
      {"CONNECT a%00b:443 HTTP/1.1\r\n\r\n", "bad host"},
      {"CONNECT a:443 HTTP/2.0\r\n\r\n", "version"},
      {"CONNECT  a:443 HTTP/1.1\r\n\r\n", "malformed request line"},
      {"G(T http://a/ HTTP/1.1\r\n\r\n", "bad method"},
      {"GET http://a/ HTTP/1.1\r\nNo-Colon\r\n\r\n", "without a colon"},
      {"GET http://a/ HTTP/1.1\r\nBad Name: x\r\n\r\n", "header name"},
      {"GET http://a/ HTTP/1.1\r\nX: 1\r\n folded\r\n\r\n", "folded"},
      {"GET http://a/ HTTP/1.1\r\nX: a\rb\r\n\r\n", "control character"},
      {"GET http://a/\x01 HTTP/1.1\r\n\r\n", "control character"},
  };
  for (const Bad& c : cases) {
    INFO(c.head);
    absl::StatusOr<ProxyRequest> r = ParseProxyRequest(c.head);
    REQUIRE(!r.ok());
    CHECK(absl::IsInvalidArgument(r.status()));
    CHECK(absl::StrContains(r.status().message(), c.reason));
  }
}

TEST_CASE("hosts normalize to one comparable form") {
  CHECK(*NormalizeHost("Registry.NPMJS.org.") == "registry.npmjs.org");
  CHECK(*NormalizeHost("[::FFFF:127.0.0.1]") == "::ffff:127.0.0.1");
  CHECK(*NormalizeHost("::1") == "::1");
  CHECK(*NormalizeHost("127.0.0.1") == "127.0.0.1");
  CHECK(*NormalizeHost("my_host-1.local") == "my_host-1.local");
  CHECK(!NormalizeHost("").ok());
  CHECK(!NormalizeHost(".").ok());
  CHECK(!NormalizeHost("a b").ok());
  CHECK(!NormalizeHost(std::string(64, 'a') + ".com").ok());
  CHECK(MethodForLog("CONNECT a:1 HTTP/1.1") == "CONNECT");
  CHECK(MethodForLog("G\x01T / HTTP/1.1").empty());
}

}  // namespace
}  // namespace ovvoc::agent::registry
