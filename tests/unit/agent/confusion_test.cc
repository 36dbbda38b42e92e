// Dependency confusion: which registries are private, and when a name they serve is a finding.
#include "agent/pipeline/confusion.h"

#include <catch2/catch.hpp>
#include <map>
#include <string>

#include "agent/npm/packument.h"

namespace ovvoc::agent {
namespace {

registry::RegistryEndpoint Endpoint(const std::string& url, const std::string& scope = "") {
  ovvoc::v1::Registry r;
  r.set_url(url);
  r.set_scope(scope);
  absl::StatusOr<registry::RegistryEndpoint> e = registry::RegistryEndpoint::FromProto(r, false);
  REQUIRE(e.ok());
  return *e;
}

TEST_CASE("a job's private registries: its scoped ones and the agent's credentialed ones, once") {
  SandboxSettings settings;
  ovvoc::v1::Registry credentialed;
  credentialed.set_url("https://npm.acme.internal:8443/");
  credentialed.mutable_credential()->set_token("t");
  settings.credentials.push_back(credentialed);
  ovvoc::v1::Registry mirror;  // credentials for the default registry itself: not private
  mirror.set_url("https://registry.npmjs.org/");
  settings.credentials.push_back(mirror);
  ovvoc::v1::Registry twice;  // the scoped registry again
  twice.set_url("https://npm.pkg.github.com/");
  settings.credentials.push_back(twice);
  settings.allow_internal = {"npm.acme.internal:8443"};
  const std::vector<registry::RegistryEndpoint> job = {
      Endpoint("https://npm.pkg.github.com/", "@acme"), Endpoint("https://registry.npmjs.org/")};
  const std::vector<registry::RegistryEndpoint> found = PrivateRegistries(job, settings);
  REQUIRE(found.size() == 2);
  CHECK(found[0].url == "https://npm.pkg.github.com/");
  CHECK(found[1].url == "https://npm.acme.internal:8443/");
  CHECK(found[1].allow_internal);
  CHECK(found[1].credential.token() == "t");
  CHECK(PrivateRegistries({Endpoint("https://registry.npmjs.org/")}, SandboxSettings()).empty());
}

TEST_CASE("a name a private registry serves with versions of its own is dependency confusion") {
  const registry::RegistryEndpoint npm = Endpoint("https://registry.npmjs.org/");
  const registry::RegistryEndpoint acme = Endpoint("https://npm.acme.internal/");
  // What each registry serves: name -> version -> integrity.
  std::map<std::string, std::map<std::string, std::map<std::string, std::string>>> served;
  served[npm.url] = {
      {"acme-utils", {{"99.0.0", "sha512-evil"}}},
      {"left-pad", {{"1.3.0", "sha512-lp"}}},
      {"rebuilt", {{"1.0.0", "sha512-public"}}},
      {"only-private", {}},
  };
  served[acme.url] = {
      {"acme-utils", {{"1.2.0", "sha512-internal"}, {"1.3.0", "sha512-internal2"}}},
      {"left-pad", {{"1.3.0", "sha512-lp"}}},  // a proxy of npm: the same bytes
      {"rebuilt", {{"1.0.0", "sha512-private"}}},
      {"@acme/ui", {{"1.0.0", "sha512-ui"}}},
  };
  served[npm.url].erase("only-private");
  served[acme.url]["only-private"] = {{"1.0.0", "sha512-op"}};
  int asked = 0;
  ConfusionInputs in;
  in.public_registry = npm;
  in.private_registries = {acme};
  in.view = [&](const registry::RegistryEndpoint& r,
                const std::string& name) -> absl::StatusOr<std::map<std::string, std::string>> {
    ++asked;
    if (name == "down") return absl::UnavailableError("connection refused");
    auto it = served[r.url].find(name);
    if (it == served[r.url].end()) return absl::NotFoundError("404");
    return it->second;
  };
  in.names = {"acme-utils",   "left-pad", "rebuilt",   "@acme/ui",
              "only-private", "down",     "acme-utils"};
  const std::vector<ovvoc::v1::SecurityFinding> findings = ConfusionFindings(in);
  REQUIRE(findings.size() == 2);
  CHECK(findings[0].kind() == "dependency-confusion");
  CHECK(findings[0].severity() == ovvoc::v1::SEVERITY_HIGH);
  CHECK(findings[0].package() == "acme-utils");
  CHECK(findings[0].detail() ==
        "acme-utils comes from https://registry.npmjs.org/, and https://npm.acme.internal/ (a "
        "private registry of this job) serves a package of that name with 2 version(s) the "
        "public one lacks or holds with other bytes (1.2.0, 1.3.0): the public package may be "
        "impersonating the private one");
  CHECK(findings[1].package() == "rebuilt");  // the same version, other bytes
  // Scoped names are never asked (their scope names their registry), each name once.
  CHECK(asked == 2 * 3 + 1 + 1);

  in.max_names = 1;
  CHECK(ConfusionFindings(in).size() == 1);
  in.private_registries.clear();
  asked = 0;
  CHECK(ConfusionFindings(in).empty());
  CHECK(asked == 0);
}

TEST_CASE("a packument version says which bytes it is: its integrity, else its shasum") {
  absl::StatusOr<npm::Packument> p = npm::ParsePackument(R"({"name": "a", "versions": {
      "1.0.0": {"dist": {"shasum": "abc", "integrity": "sha512-xyz"}},
      "1.0.1": {"dist": {"shasum": "def", "attestations": {"provenance": {"x": 1}}}},
      "1.0.2": {"dist": {"integrity": 7}},
      "1.0.3": {}}})");
  REQUIRE(p.ok());
  CHECK(p->Find("1.0.0")->integrity == "sha512-xyz");
  CHECK(p->Find("1.0.1")->integrity == "sha1-hex:def");
  CHECK(p->Find("1.0.1")->provenance);
  CHECK(p->Find("1.0.2")->integrity.empty());
  CHECK(p->Find("1.0.3")->integrity.empty());
}

}  // namespace
}  // namespace ovvoc::agent
