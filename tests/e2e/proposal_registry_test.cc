// Proposals against registries that change or are shadowed: a private registry serving a name
// the public one also has (dependency confusion), and a dependency of an update's target released
// between two jobs (a remembered pass is not taken without the lockfile it was proven with).
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/e2e/attack_harness.h"
#include "tests/e2e/backend_ready.h"
#include "tests/e2e/proposal_support.h"
#include "tests/support/cluster.h"
#include "tests/support/verdaccio.h"
#include "tests/support/verdaccio_ready.h"
namespace ovvoc::testing::e2e {
namespace {

namespace fs = std::filesystem;

// Dependency confusion against real registries: the project's ovvoc-conf-lib comes from the
// public registry, and the private registry the agent holds credentials for serves a package of
// that name too, with a version of its own; ovvoc-conf-other it does not serve. The finding is the
// agent's (registry reads), not the sandbox's: one backend.
TEST_CASE("a proposal of a name a private registry also serves says dependency confusion") {
  if (!BackendReady("oci") || !VerdaccioReady()) return;
  TempDir dir;
  auto started = Verdaccio::Start(dir.Sub("public"));
  REQUIRE(started.ok());
  Verdaccio& registry = **started;
  auto private_started = Verdaccio::Start(dir.Sub("private"));
  REQUIRE(private_started.ok());
  Verdaccio& internal = **private_started;
  for (const char* name : {"ovvoc-conf-lib", "ovvoc-conf-other"}) {
    REQUIRE(Publish(registry, name, "1.0.0", "module.exports = 1;\n").ok());
  }
  REQUIRE(Publish(internal, "ovvoc-conf-lib", "7.0.0", "module.exports = 'internal';\n").ok());
  MakeSmallApp(registry, dir, R"({
  "name": "ovvoc-conf-app", "private": true, "version": "1.0.0",
  "scripts": {"test": "node -e \"require('ovvoc-conf-lib'); require('ovvoc-conf-other')\""},
  "dependencies": {"ovvoc-conf-lib": "^1.0.0", "ovvoc-conf-other": "^1.0.0"}
}
)");
  for (const char* name : {"ovvoc-conf-lib", "ovvoc-conf-other"}) {
    REQUIRE(Publish(registry, name, "1.0.1", "module.exports = 2;\n").ok());
  }
  const std::string credentials = dir.Sub("credentials.json");
  std::ofstream(credentials)
      << nlohmann::json{{"registries", {{{"url", internal.url()}, {"token", internal.token()}}}}}
             .dump();
  fs::permissions(credentials, fs::perms::owner_read | fs::perms::owner_write);
  CliResult run = RunCli(AgentBinary(),
                         {"update",
                          "--repo",
                          dir.Sub("app.git"),
                          "--state-dir",
                          dir.Sub("state"),
                          "--json",
                          dir.Sub("result.json"),
                          "--no-branches",
                          "--sandbox",
                          "oci",
                          "--registry",
                          registry.url(),
                          "--allow-internal",
                          registry.host_port(),
                          "--allow-internal",
                          internal.host_port(),
                          "--registry-credentials",
                          credentials,
                          "--phase-timeout",
                          "60s",
                          "--job-timeout",
                          "180s"},
                         dir.path(), std::chrono::milliseconds(240'000));
  INFO(run.err);
  std::ifstream in(dir.Sub("result.json"));
  const nlohmann::json result = nlohmann::json::parse(in, nullptr, false);
  INFO(result.dump(2));
  REQUIRE(run.exit_code == 0);
  auto findings_of = [&](const std::string& name) {
    std::map<std::string, std::string> out;
    const nlohmann::json* p = ProposalOf(result, name);
    if (p == nullptr) return out;
    for (const nlohmann::json& f : p->value("findings", nlohmann::json::array())) {
      out[f.value("kind", "")] = f.value("detail", "");
    }
    return out;
  };
  const std::map<std::string, std::string> lib = findings_of("ovvoc-conf-lib");
  REQUIRE(lib.count("dependency-confusion") == 1);
  CHECK_THAT(lib.at("dependency-confusion"),
             Catch::StartsWith(absl::StrCat("ovvoc-conf-lib comes from ", registry.url(), ", and ",
                                            internal.url())) &&
                 Catch::Contains("1 version(s) the public one lacks or holds with other bytes "
                                 "(7.0.0)"));
  REQUIRE(ProposalOf(result, "ovvoc-conf-other") != nullptr);
  CHECK(findings_of("ovvoc-conf-other").count("dependency-confusion") == 0);
}

// Red team, issue 12 (the memo): a pass stands only for the lockfile it was proven with. Between
// two jobs a dependency of the update's target gets a hostile release (it plants a `node` and
// throws when loaded); npm resolving the same update again takes it. A job that writes no branch
// has no lockfile the first pass stands for: it proves the update again, and it fails.
TEST_CASE("a remembered pass is not taken when no branch holds the lockfile it was proven with") {
  if (!BackendReady("oci") || !VerdaccioReady()) return;
  TempDir dir;
  auto started = Verdaccio::Start(dir.Sub("verdaccio"));
  REQUIRE(started.ok());
  Verdaccio& registry = **started;
  REQUIRE(Publish(registry, "ovvoc-memo-lib", "1.0.0", "module.exports = 1;\n").ok());
  REQUIRE(Publish(registry, "ovvoc-memo-helper", "1.0.0", "module.exports = 1;\n").ok());
  MakeSmallApp(registry, dir, R"({
  "name": "ovvoc-memo-app", "private": true, "version": "1.0.0",
  "scripts": {"test": "node -e \"require('ovvoc-memo-lib'); console.log('ok')\""},
  "dependencies": {"ovvoc-memo-lib": "^1.0.0"}
}
)");
  REQUIRE(Publish(registry, "ovvoc-memo-lib", "1.1.0",
                  "require('ovvoc-memo-helper');\nmodule.exports = 2;\n", nlohmann::json::object(),
                  {{"ovvoc-memo-helper", "^1.0.0"}})
              .ok());
  auto job = [&](const std::string& name) { return UpdateJob(dir, registry, name); };
  const nlohmann::json first = job("first");
  INFO(first.dump(2));
  const nlohmann::json* proven = ProposalOf(first, "ovvoc-memo-lib");
  REQUIRE(proven != nullptr);
  REQUIRE((*proven)["outcome"] == "PROPOSAL_OUTCOME_PASSED");

  REQUIRE(Publish(registry, "ovvoc-memo-helper", "1.0.1",
                  "throw new Error('ovvoc-memo-helper 1.0.1 is hostile');\n",
                  {{"scripts",
                    {{"postinstall",
                      "mkdir -p ../.bin && printf '#!/bin/sh\\nexit 0\\n' > ../.bin/node && "
                      "chmod 755 ../.bin/node"}}}})
              .ok());
  // What the registry cache's five minutes would do: the new release is seen.
  fs::remove_all(dir.Sub("state/registry-cache"));
  const nlohmann::json second = job("second");
  INFO(second.dump(2));
  CHECK(second.contains("baseline_reused"));  // the baseline is unchanged: taken
  const nlohmann::json* again = ProposalOf(second, "ovvoc-memo-lib");
  REQUIRE(again != nullptr);
  CHECK(!again->contains("proven_by_job"));
  CHECK((*again)["outcome"] == "PROPOSAL_OUTCOME_FAILED");
}

}  // namespace
}  // namespace ovvoc::testing::e2e
