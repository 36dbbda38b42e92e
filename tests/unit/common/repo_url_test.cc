#include "common/repo_url.h"

#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <vector>

namespace ovvoc {
namespace {

RepoUrl Parsed(const std::string& text) {
  absl::StatusOr<RepoUrl> url = ParseRepoUrl(text);
  INFO(text << ": " << url.status().ToString());
  REQUIRE(url.ok());
  return *url;
}

std::string Normal(const std::string& text) { return Parsed(text).ToString(); }

// The message ParseRepoUrl refuses `text` with (the test fails if it accepts it).
std::string Refusal(const std::string& text) {
  absl::StatusOr<RepoUrl> url = ParseRepoUrl(text);
  INFO(text);
  REQUIRE_FALSE(url.ok());
  CHECK(url.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(url.status().message());
}

TEST_CASE("a repository URL parses into scheme, host, port and segments") {
  RepoUrl url = Parsed("https://git.example.com/acme/web.git");
  CHECK(url.scheme == "https");
  CHECK(url.host == "git.example.com");
  CHECK(url.port == 0);
  CHECK(url.segments == std::vector<std::string>{"acme", "web.git"});
  CHECK(url.ToString() == "https://git.example.com/acme/web.git");

  RepoUrl local = Parsed("file:///srv/git/web.git");
  CHECK(local.scheme == "file");
  CHECK(local.host.empty());
  CHECK(local.segments == std::vector<std::string>{"srv", "git", "web.git"});
  CHECK(local.ToString() == "file:///srv/git/web.git");

  CHECK(Parsed("http://127.0.0.1:8080/a").port == 8080);
  CHECK(Parsed("https://git.example.com").segments.empty());  // a prefix may name a host
}

TEST_CASE("repository URLs are normalised") {
  CHECK(Normal("HTTPS://Git.Example.COM/Acme/Web.git") == "https://git.example.com/Acme/Web.git");
  CHECK(Normal("https://git.example.com:443/acme/x") == "https://git.example.com/acme/x");
  CHECK(Normal("https://git.example.com:0443/acme/x") == "https://git.example.com/acme/x");
  CHECK(Normal("http://git.example.com:80/acme/x") == "http://git.example.com/acme/x");
  CHECK(Normal("http://git.example.com:443/acme/x") == "http://git.example.com:443/acme/x");
  CHECK(Normal("https://git.example.com:/acme/x") == "https://git.example.com/acme/x");
  CHECK(Normal("https://git.example.com/acme/x/") == "https://git.example.com/acme/x");
  CHECK(Normal("https://git.example.com/") == "https://git.example.com");
  CHECK(Normal("https://[0:0:0:0:0:0:0:1]:8443/a") == "https://[::1]:8443/a");
  CHECK(Normal("https://[FE80::AB]/a") == "https://[fe80::ab]/a");
  CHECK(Normal("file://localhost/srv/x.git") == "file:///srv/x.git");
  CHECK(Normal("FILE://LOCALHOST/srv/x.git") == "file:///srv/x.git");
  CHECK(Normal("https://h/~user/a+b@c=d,e:f_g.h-i") == "https://h/~user/a+b@c=d,e:f_g.h-i");
}

// Regression (attacker's report): the org `evil` registered `acme/../evil/x.git` and
// `acmecorp-evil/x.git`, which a string prefix took for repositories under `.../acme`.
TEST_CASE("dot segments are refused in every spelling") {
  for (const char* url :
       {"https://git.example.com/acme/../evil/x.git", "https://git.example.com/acme/./x.git",
        "https://git.example.com/..", "https://git.example.com/acme/..",
        "https://git.example.com/acme/../", "file:///srv/git/../../etc", "file:///./x"}) {
    CHECK_THAT(Refusal(url), Catch::Contains("\".\" and \"..\" path segments are not accepted"));
  }
  for (const char* url :
       {"https://git.example.com/acme/%2e%2e/evil/x.git",
        "https://git.example.com/acme/%2E%2E/evil/x.git", "https://git.example.com/acme/.%2e/x",
        "https://git.example.com/acme%2f..%2fevil/x.git", "https://git.example.com/acme%00/x",
        "https://git.example.com/%61cme/x", "https://git.example.com/acme/%252e%252e/x",
        "https://git.example%2ecom/acme/x", "https://[fe80::1%25eth0]/x"}) {
    CHECK_THAT(Refusal(url), Catch::Contains("percent-encoded characters are not accepted"));
  }
  CHECK_THAT(Refusal("https://git.example.com/acme\\..\\evil/x.git"),
             Catch::Contains("backslashes"));
  // `..;` is `..` to some servers (Tomcat), so ';' is not a path character here.
  CHECK_THAT(Refusal("https://git.example.com/acme/..;/evil/x.git"),
             Catch::Contains("';' is not accepted in a path"));
}

TEST_CASE("credentials, queries, fragments and odd bytes are refused") {
  const std::string credentials = Refusal("https://user:hunter2@git.example.com/acme/x.git");
  CHECK_THAT(credentials, Catch::Contains("credentials in the URL"));
  CHECK_THAT(credentials, !Catch::Contains("hunter2"));  // never echo a password
  CHECK_THAT(Refusal("https://git.example.com@evil.com/acme/x.git"),
             Catch::Contains("credentials in the URL"));
  CHECK_THAT(Refusal("https://h/acme/x.git?ref=main"), Catch::Contains("query strings"));
  CHECK_THAT(Refusal("https://h/acme/x.git#frag"), Catch::Contains("fragments"));
  for (const std::string& url : std::vector<std::string>{
           "https://h/acme /x", "https://h/acme\t/x", "https://h/acme\n/x", "https://h/acme\r/x",
           std::string("https://h/acme\0/x", 16), "https://h/acme\x7f/x", "https://h/\xc3\xa9",
           " https://h/acme/x", "https://h/acme/x ", "https://h/acme\x1b[2J/x"}) {
    CHECK_THAT(Refusal(url), Catch::Contains("control characters, whitespace and non-ASCII"));
  }
  const std::string escape = Refusal("https://h/\x1b]0;pwned\x07");
  CHECK(escape.find('\x1b') == std::string::npos);  // the URL is quoted inert
}

TEST_CASE("structure is checked: scheme, host, port, empty segments, length") {
  struct Case {
    const char* url;
    const char* reason;
  };
  for (const Case& c : std::vector<Case>{
           {"ssh://git.example.com/acme/x.git", "unsupported scheme"},
           {"git://h/x", "unsupported scheme"},
           {"javascript://h/x", "unsupported scheme"},
           {"git@github.com:acme/x.git", "expected https://, http:// or file://"},
           {"/srv/git/x.git", "expected https://, http:// or file://"},
           {"https:/h/x", "expected https://, http:// or file://"},
           {"", "expected https://, http:// or file://"},
           {"https:///acme/x", "no host"},
           {"https://a..b/x", "invalid host"},
           {"https://.h/x", "invalid host"},
           {"https://h./x", "invalid host"},
           {"https://h_x/x", "invalid host"},
           {"https://::1/x", "invalid host"},
           {"https://h:1:2/x", "invalid port"},
           {"https://h:0/x", "invalid port"},
           {"https://h:65536/x", "invalid port"},
           {"https://h:99999999999/x", "invalid port"},
           {"https://h:+80/x", "invalid port"},
           {"https://h:8o/x", "invalid port"},
           {"https://[::1/x", "unterminated IPv6"},
           {"https://[nope]/x", "invalid IPv6"},
           {"https://[::1]x/x", "after the IPv6"},
           {"https://h//acme/x", "empty path segments"},
           {"https://h/acme//x", "empty path segments"},
           {"https://h/acme/x//", "empty path segments"},
           {"https://h//", "empty path segments"},
           {"file:////srv/x", "empty path segments"},
           {"file://otherhost/srv/x", "file URL names no host"},
           {"file://", "file URL needs a path"},
           {"file:///", "file URL needs a path"},
           {"https://h/a\"b", "'\"' is not accepted in a path"},
       }) {
    CHECK_THAT(Refusal(c.url), Catch::Contains(c.reason));
  }
  const std::string head = "https://h/";
  CHECK(ParseRepoUrl(head + std::string(kMaxRepoUrlBytes - head.size(), 'a')).ok());
  CHECK_THAT(Refusal(head + std::string(kMaxRepoUrlBytes - head.size() + 1, 'a')),
             Catch::Contains("longer than 2048 bytes"));
}

TEST_CASE("a prefix matches whole leading segments of the same origin") {
  struct Case {
    const char* url;
    const char* prefix;
    bool matches;
  };
  const char* acme = "https://git.example.com/acme";
  for (const Case& c : std::vector<Case>{
           {"https://git.example.com/acme/x.git", acme, true},
           {"https://git.example.com/acme/group/x.git", acme, true},
           {"https://git.example.com/acme/", acme, true},
           {"https://GIT.example.com:443/acme/x", acme, true},
           {"https://git.example.com/acme/x", "https://git.example.com", true},
           {"https://git.example.com/acmecorp-evil/x.git", acme, false},
           {"https://git.example.com/acme-evil/x.git", acme, false},
           {"https://git.example.com/ACME/x.git", acme, false},  // matches less, never more
           {"https://git.example.com/evil/acme/x.git", acme, false},
           {"https://git.example.com", acme, false},
           {"http://git.example.com/acme/x", acme, false},
           {"https://git.example.com:8443/acme/x", acme, false},
           {"https://git.example.com.evil.com/acme/x", acme, false},
           {"https://evil.com/acme/x", acme, false},
           {"file:///acme/x", acme, false},
           // `.git` is part of the segment: a plain git server serves `x` and `x.git` as two.
           {"https://git.example.com/acme/x.git", "https://git.example.com/acme/x", false},
           {"https://git.example.com/acme/x", "https://git.example.com/acme/x.git", false},
       }) {
    INFO(c.url << " under " << c.prefix);
    CHECK(Parsed(c.url).HasPrefix(Parsed(c.prefix)) == c.matches);
  }
}

// Random URLs built from the characters that matter: whatever parses is in normal form (it
// parses back to itself), has no dot or empty segment, and holds no byte the parser refuses.
TEST_CASE("random URLs: what parses is normal and clean") {
  const std::vector<std::string> pieces = {
      "https://", "http://", "file://", "HTTPS://", "git.example.com",
      "h",        "[::1]",   ":443",    ":80",      ":8080",
      ":",        "/",       "//",      ".",        "..",
      "acme",     "evil",    "x.git",   "%2e",      "%2f",
      "@",        "?",       "#",       "\\",       ";",
      " ",        "\t",      "\x01",    "\xc3\xa9", "~",
      "A",        "-"};
  std::mt19937 random(20240611);
  std::uniform_int_distribution<size_t> pick(0, pieces.size() - 1);
  std::uniform_int_distribution<int> length(1, 12);
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text = i % 2 == 0 ? "https://git.example.com/" : "";
    for (int n = length(random); n > 0; --n) text += pieces[pick(random)];
    absl::StatusOr<RepoUrl> url = ParseRepoUrl(text);
    if (!url.ok()) {
      CHECK(url.status().code() == absl::StatusCode::kInvalidArgument);
      continue;
    }
    ++parsed;
    INFO(text);
    const std::string normal = url->ToString();
    absl::StatusOr<RepoUrl> again = ParseRepoUrl(normal);
    REQUIRE(again.ok());
    CHECK(*again == *url);
    CHECK(again->ToString() == normal);
    for (const std::string& segment : url->segments) {
      CHECK(!segment.empty());
      CHECK(segment != ".");
      CHECK(segment != "..");
    }
    for (char c : normal.substr(normal.find("://") + 3)) {
      CHECK(std::string("%\\?#; \t").find(c) == std::string::npos);
    }
  }
  CHECK(parsed > 100);  // the generator reaches the accepting paths too
}

}  // namespace
}  // namespace ovvoc
