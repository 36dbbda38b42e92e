#include "control-plane/forge_tokens/forge_tokens.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "tests/support/temp_dir.h"

namespace ovvoc::cp {
namespace {

const OrgRecord kAcme{"org_acme", "acme", absl::UnixEpoch()};
const OrgRecord kEvil{"org_evil", "evil", absl::UnixEpoch()};

// A 0600 credentials file holding `text`, and what StaticForgeTokens makes of it.
class Credentials {
 public:
  explicit Credentials(const std::string& text, mode_t mode = 0600) {
    std::ofstream(path()) << text;
    ::chmod(path().c_str(), mode);
  }
  std::string path() const { return dir_.Sub("git-credentials"); }
  absl::StatusOr<std::unique_ptr<ForgeTokenSource>> Load() const {
    return StaticForgeTokens(path());
  }

 private:
  testing::TempDir dir_;
};

std::unique_ptr<ForgeTokenSource> Loaded(const std::string& text) {
  auto tokens = Credentials(text).Load();
  INFO(tokens.status().ToString());
  REQUIRE(tokens.ok());
  return *std::move(tokens);
}

// The token `org`'s repo at `url` gets: "" for none.
std::string TokenFor(ForgeTokenSource& tokens, const OrgRecord& org, const std::string& url) {
  RepoRecord repo{"repo_1", org.id, url, "default", "git", absl::UnixEpoch()};
  auto token = tokens.TokenFor(org, repo);
  INFO(url << ": " << token.status().ToString());
  REQUIRE(token.ok());
  return token->has_value() ? (*token)->token() : "";
}

std::string LoadError(const std::string& text) {
  auto tokens = Credentials(text).Load();
  REQUIRE_FALSE(tokens.ok());
  return tokens.status().ToString();
}

constexpr char kTwoOrgs[] =
    "# ORG URL-PREFIX TOKEN\n"
    "acme https://git.example.com/acme tok-acme\n"
    "\n"
    "evil\thttps://git.example.com/evil   tok-evil\n";

struct Expect {
  const OrgRecord& org;
  const char* url;
  const char* token;  // "" for none
};

void CheckTokens(ForgeTokenSource& tokens, const std::vector<Expect>& cases) {
  for (const Expect& e : cases) {
    INFO("org " << e.org.name << ", repo " << e.url);
    CHECK(TokenFor(tokens, e.org, e.url) == e.token);
  }
}

// Regression (attacker's report): repos of org `evil` at `.../acme/../evil/x.git` and
// `.../acmecorp-evil/x.git` received acme's token, because `.../acme` was a string prefix of
// both URLs and every org's repos were matched against every line.
TEST_CASE("another org's repo never gets acme's token, whatever its URL") {
  auto tokens = Loaded(kTwoOrgs);
  // Positive control: as strings, the attack URLs do start with acme's prefix.
  CHECK(absl::StartsWith("https://git.example.com/acmecorp-evil/x.git",
                         "https://git.example.com/acme"));
  const OrgRecord acmecorp{"org_acmecorp", "acmecorp", absl::UnixEpoch()};
  CheckTokens(*tokens, {
                           {kAcme, "https://git.example.com/acme/x.git", "tok-acme"},
                           {kEvil, "https://git.example.com/acme/x.git", ""},
                           {kEvil, "https://git.example.com/acmecorp-evil/x.git", ""},
                           {kEvil, "https://git.example.com/evil/x.git", "tok-evil"},
                           {kAcme, "https://git.example.com/evil/x.git", ""},
                           {acmecorp, "https://git.example.com/acme/x.git", ""},
                       });
}

TEST_CASE("a prefix matches whole path segments, not characters") {
  auto tokens = Loaded(kTwoOrgs);
  CheckTokens(*tokens, {
                           {kAcme, "https://git.example.com/acmecorp-evil/x.git", ""},
                           {kAcme, "https://git.example.com/acme-evil/x.git", ""},
                           {kAcme, "https://git.example.com.evil.com/acme/x.git", ""},
                           {kAcme, "http://git.example.com/acme/x.git", ""},
                           {kAcme, "https://git.example.com:8443/acme/x.git", ""},
                           {kAcme, "https://GIT.example.com:443/acme/sub/x.git", "tok-acme"},
                       });
}

TEST_CASE("the longest matching prefix of the repo's own org wins") {
  auto tokens = Loaded(
      "acme https://git.example.com tok-host\n"
      "acme https://git.example.com/acme/web/ tok-web\n"
      "acme https://git.example.com/acme tok-acme\n"
      "evil https://git.example.com/acme/web/x.git tok-evil-longer\n");
  CheckTokens(*tokens, {
                           {kAcme, "https://git.example.com/acme/web/x.git", "tok-web"},
                           {kAcme, "https://git.example.com/acme/web", "tok-web"},
                           {kAcme, "https://git.example.com/acme/webapp.git", "tok-acme"},
                           {kAcme, "https://git.example.com/other/x.git", "tok-host"},
                           {kAcme, "https://elsewhere.example.com/acme/x.git", ""},
                       });
}

TEST_CASE("the old two-field format is refused with the line and the new form") {
  const std::string error = LoadError(
      "# tokens\n"
      "\n"
      "https://git.example.com/acme/ tok-acme\n");
  CHECK_THAT(error, Catch::Contains("git-credentials:3: "));
  CHECK_THAT(error, Catch::Contains("\"ORG URL-PREFIX TOKEN\""));
  CHECK_THAT(error, Catch::Contains("write the org's name before the URL prefix"));
  CHECK_THAT(error, Catch::Contains("INVALID_ARGUMENT"));
}

TEST_CASE("malformed lines and prefixes are refused, naming file and line") {
  CHECK_THAT(LoadError("acme https://git.example.com/acme/../evil tok\n"),
             Catch::Contains("git-credentials:1: ") &&
                 Catch::Contains("\".\" and \"..\" path segments are not accepted"));
  CHECK_THAT(LoadError("acme https://git.example.com/acme tok\n"
                       "acme https://git.example.com/acme/%2e%2e/evil tok\n"),
             Catch::Contains("git-credentials:2: ") &&
                 Catch::Contains("percent-encoded characters are not accepted"));
  CHECK_THAT(LoadError("acme https://user:pw@git.example.com/acme tok\n"),
             Catch::Contains("credentials in the URL") && !Catch::Contains("pw@"));
  CHECK_THAT(
      LoadError("acme https://git.example.com/acme\n"),
      Catch::Contains("git-credentials:1: expected \"ORG URL-PREFIX TOKEN\", found 2 fields"));
  CHECK_THAT(LoadError("acme https://git.example.com/acme tok extra\n"),
             Catch::Contains("found 4 fields"));
  CHECK_THAT(LoadError("https://git.example.com/acme tok acme\n"),
             Catch::Contains("the first field is not an org name"));
  CHECK_THAT(LoadError("Acme https://git.example.com/acme tok\n"),
             Catch::Contains("the first field is not an org name"));
  CHECK_THAT(LoadError("acme tok-secret https://git.example.com/acme\n"),
             Catch::Contains("the second field is not a URL") && !Catch::Contains("tok-secret"));
  CHECK_THAT(LoadError("acme https://git.example.com/acme tok-1\n"
                       "acme https://git.example.com/acme/ tok-2\n"),
             Catch::Contains("git-credentials:2: org acme already has a token for "
                             "https://git.example.com/acme (line 1)"));
  // The same prefix for two orgs is two credentials, not a conflict.
  CHECK(Credentials("acme https://h/shared tok-a\nevil https://h/shared tok-e\n").Load().ok());
}

TEST_CASE("a credentials file readable by others is refused") {
  auto tokens = Credentials(kTwoOrgs, 0640).Load();
  REQUIRE_FALSE(tokens.ok());
  CHECK(tokens.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK_THAT(std::string(tokens.status().message()), Catch::Contains("chmod 600"));
}

// Rows stored before repo URLs were checked may hold URLs that no longer parse.
TEST_CASE("a stored URL that no longer parses gets no token: the job is refused instead") {
  auto tokens = Loaded(kTwoOrgs);
  RepoRecord old{"repo_old", kAcme.id, "https://git.example.com/acme/../evil/x.git",
                 "default",  "git",    absl::UnixEpoch()};
  auto token = tokens->TokenFor(kAcme, old);
  REQUIRE_FALSE(token.ok());
  CHECK(token.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(token.status().message()), Catch::Contains("add it again"));

  // An org with no credentials at all is not affected: it never needed a token.
  const OrgRecord other{"org_other", "other", absl::UnixEpoch()};
  old.org_id = other.id;
  auto none = tokens->TokenFor(other, old);
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());
}

TEST_CASE("no credentials file: no token for anyone") {
  auto tokens = NoForgeTokens();
  CHECK(TokenFor(*tokens, kAcme, "https://git.example.com/acme/x.git") == "");
}

}  // namespace
}  // namespace ovvoc::cp
