#include "agent/registry/request_head.h"

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

TEST_CASE("a request head: method, target, version and lowercased fields in order") {
  absl::StatusOr<RequestHead> r = ParseRequestHead(
      "GET /pkg HTTP/1.1\r\nHost: registry.npmjs.org\r\nAccept: a\r\naccept: b\r\n"
      "Connection: close\r\n\r\n");
  REQUIRE(r.ok());
  CHECK(r->method == "GET");
  CHECK(r->target == "/pkg");
  CHECK(r->version == "HTTP/1.1");
  CHECK(r->Values("accept") == std::vector<std::string>{"a", "b"});
  CHECK(r->Values("host") == std::vector<std::string>{"registry.npmjs.org"});
  CHECK_FALSE(r->KeepAlive());
  CHECK(ParseRequestHead("GET / HTTP/1.1\r\n\r\n")->KeepAlive());
  CHECK_FALSE(ParseRequestHead("GET / HTTP/1.0\r\n\r\n")->KeepAlive());
  CHECK(ParseRequestHead("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")->KeepAlive());
}

TEST_CASE("authorities take host:port, IPv6 in brackets, and normalize the host") {
  absl::StatusOr<Authority> a = ParseAuthority("Registry.NPMjs.org.:443", 0);
  REQUIRE(a.ok());
  CHECK(a->host == "registry.npmjs.org");
  CHECK(a->port == 443);
  a = ParseAuthority("[0::1]:8443", 0);
  REQUIRE(a.ok());
  CHECK(a->host == "::1");
  CHECK(a->port == 8443);
  CHECK(ParseAuthority("h", 80)->port == 80);
}

TEST_CASE("absolute-form targets give their authority and origin-form path") {
  auto url = ParseHttpUrl("http://Registry.Example:8080/pkg/-/pkg-1.0.0.tgz?a=1#frag");
  REQUIRE(url.ok());
  CHECK(url->first.host == "registry.example");
  CHECK(url->first.port == 8080);
  CHECK(url->second == "/pkg/-/pkg-1.0.0.tgz?a=1");
  url = ParseHttpUrl("HTTP://h");
  REQUIRE(url.ok());
  CHECK(url->first.port == 80);
  CHECK(url->second == "/");
  url = ParseHttpUrl("http://[::1]:81?x");
  REQUIRE(url.ok());
  CHECK(url->second == "/?x");
}

TEST_CASE("anything else is refused with a reason that does not echo the request") {
  struct Bad {
    const char* head;
    const char* reason;
  };
  const Bad heads[] = {
      {"garbage\r\n\r\n", "malformed request line"},
      {"CONNECT a:443 HTTP/2.0\r\n\r\n", "version"},
      {"CONNECT  a:443 HTTP/1.1\r\n\r\n", "malformed request line"},
      {"G(T http://a/ HTTP/1.1\r\n\r\n", "bad method"},
      {"GET http://a/ HTTP/1.1\r\nNo-Colon\r\n\r\n", "without a colon"},
      {"GET http://a/ HTTP/1.1\r\nBad Name: x\r\n\r\n", "header name"},
      {"GET http://a/ HTTP/1.1\r\nX: 1\r\n folded\r\n\r\n", "folded"},
      {"GET http://a/ HTTP/1.1\r\nX: a\rb\r\n\r\n", "control character"},
      {"GET http://a/\x01 HTTP/1.1\r\n\r\n", "control character"},
  };
  for (const Bad& c : heads) {
    INFO(c.head);
    absl::StatusOr<RequestHead> r = ParseRequestHead(c.head);
    REQUIRE(!r.ok());
    CHECK(absl::IsInvalidArgument(r.status()));
    CHECK(absl::StrContains(r.status().message(), c.reason));
  }
  const Bad authorities[] = {
      {"a", "missing port"},         {"a:", "bad port"},
      {"a:0", "bad port"},           {"a:65536", "bad port"},
      {"a:+443", "bad port"},        {"user@a:443", "userinfo"},
      {"::1:443", "bad host"},       {"[::1:443", "unterminated"},
      {"[127.0.0.1]:443", "bad IPv6"}, {"a..b:443", "bad host"},
      {"a%00b:443", "bad host"},
  };
  for (const Bad& c : authorities) {
    INFO(c.head);
    absl::StatusOr<Authority> r = ParseAuthority(c.head, 0);
    REQUIRE(!r.ok());
    CHECK(absl::StrContains(r.status().message(), c.reason));
  }
  const Bad urls[] = {
      {"/", "origin-form"},
      {"https://a/", "CONNECT"},
      {"ftp://a/", "not an http:// URL"},
      {"http://user:pw@a/", "userinfo"},
      {"http://a@b:80/", "userinfo"},
  };
  for (const Bad& c : urls) {
    INFO(c.head);
    auto r = ParseHttpUrl(c.head);
    REQUIRE(!r.ok());
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
  CHECK(HostPort("::1", 80) == "[::1]:80");
  CHECK(HostPort("a", 443) == "a:443");
  CHECK(MethodForLog("CONNECT a:1 HTTP/1.1") == "CONNECT");
  CHECK(MethodForLog("G\x01T / HTTP/1.1").empty());
}

}  // namespace
}  // namespace ovvoc::agent::registry
