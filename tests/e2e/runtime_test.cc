// Real projects pass in the sandbox as they pass on their own CI (issue 11): one small project
// per cause that made real projects fail before any update was tried (tests/fixtures/runtime/),
// each run as a real `ovvoc-agent update` job on both backends. With the image of one node
// only, no git, no bash, no compiler and no librt, each of them failed.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "tests/e2e/attack_checks.h"
#include "tests/e2e/attack_harness.h"
#include "tests/e2e/backend_ready.h"

namespace ovvoc::testing::e2e {
namespace {

std::string RuntimeFixtures() { return OVVOC_RUNTIME_FIXTURES_DIR; }

// A fixture run as a job: the outcome it should have and a clean host afterwards. An addon's
// compile on one CPU of a loaded machine takes its time, and a baseline failing on every node
// runs three times: phases get two minutes, the job five (bounds on a hang, not windows).
AgentRun RunProject(Attack& attack, std::function<void()> customize = [] {}) {
  AgentRun run = RunAttack(attack, {"--phase-timeout", "120s", "--job-timeout", "300s"}, {},
                           std::move(customize));
  INFO(run.Describe());
  CheckContained(attack, run);
  return run;
}

}  // namespace

TEST_CASE("runtime: .nvmrc picks the node 20 image, where a node-20-only suite passes",
          "[e2e][runtime]") {
  const std::string backend = GENERATE(as<std::string>{}, "oci", "docker");
  if (!BackendReady(backend)) return;
  Attack attack("node20-tests", backend, RuntimeFixtures());
  const AgentRun run = RunProject(attack);
  INFO(run.Describe());
  CHECK(run.Outcome() == "JOB_OUTCOME_SUCCEEDED");
  CHECK(absl::StartsWith(run.Values("test")["NODE"], "v20."));
  const nlohmann::json& node = run.result["node"];
  CHECK(node.value("wanted_major", 0) == 20);
  CHECK(node.value("source", "") == ".nvmrc");
  CHECK(absl::StartsWith(node.value("ran", ""), "20."));
  CHECK(absl::StrContains(run.out, "wants node 20"));
}

TEST_CASE("runtime: a baseline that fails on the chosen node is tried on the others the project allows",
          "[e2e][runtime]") {
  const std::string backend = GENERATE(as<std::string>{}, "oci", "docker");
  if (!BackendReady(backend)) return;
  SECTION("nothing names node 20: 24 and 22 fail, 20 passes, and the result says so") {
    Attack attack("node20-tests", backend, RuntimeFixtures());
    const AgentRun run =
        RunProject(attack, [&attack] { std::filesystem::remove(attack.src() + "/.nvmrc"); });
    INFO(run.Describe());
    CHECK(run.Outcome() == "JOB_OUTCOME_SUCCEEDED");
    CHECK(absl::StartsWith(run.Values("test")["NODE"], "v20."));
    const nlohmann::json& node = run.result["node"];
    CHECK(node.value("source", "") == "default");
    CHECK(absl::StartsWith(node.value("ran", ""), "20."));
    CHECK(node.value("baseline_passed", false));
    REQUIRE(node["attempts"].size() == 2);
    CHECK(absl::StartsWith(node["attempts"][0].value("ran", ""), "24."));
    CHECK(node["attempts"][0].value("phase", "") == "test");
    CHECK(absl::StartsWith(node["attempts"][1].value("ran", ""), "22."));
    CHECK(absl::StrContains(run.out, "where the baseline passed after failing on 24."));
  }
  SECTION("broken before on every node the project allows, said only then") {
    Attack attack("node20-tests", backend, RuntimeFixtures());
    const AgentRun run = RunProject(attack, [&attack] {
      std::filesystem::remove(attack.src() + "/.nvmrc");
      std::ofstream(attack.src() + "/.ovvoc.yml") << "node: \">=22\"\n";
    });
    INFO(run.Describe());
    CHECK(run.Outcome() == "JOB_OUTCOME_FAILED");
    CHECK(run.result["failure"].value("phase", "") == "test");
    const nlohmann::json& node = run.result["node"];
    // 26 chosen, then 24, then 22: the result is 26's, the others beside it.
    CHECK(absl::StartsWith(node.value("ran", ""), "26."));
    REQUIRE(node["attempts"].size() == 2);
    CHECK(absl::StartsWith(node["attempts"][0].value("ran", ""), "24."));
    CHECK(absl::StartsWith(node["attempts"][1].value("ran", ""), "22."));
    CHECK(absl::StartsWith(run.Values("test")["NODE"], "v26."));
    CHECK(node.value("every_node_failed", false));
    CHECK_FALSE(node.value("baseline_passed", false));
    CHECK(absl::StrContains(run.out, "broken before on every node the project allows"));
  }
}

TEST_CASE("runtime: a prepare script installs git hooks and a bash build runs",
          "[e2e][runtime]") {
  const std::string backend = GENERATE(as<std::string>{}, "oci", "docker");
  if (!BackendReady(backend)) return;
  Attack attack("git-prepare", backend, RuntimeFixtures());
  const AgentRun run = RunProject(attack);
  INFO(run.Describe());
  CHECK(run.Outcome() == "JOB_OUTCOME_SUCCEEDED");
  CHECK(run.Termination("install") == "TERMINATION_EXITED");
  CHECK(run.Termination("build") == "TERMINATION_EXITED");
  CHECK(run.Values("install")["PREPARED_HOOKS"] == ".hooks");  // the prepare ran, git worked
  // ... and the agent's .git is back before the tests (attack git-hook): its config unset.
  CHECK(run.Values("test")["HOOKS"] == "none");
}

TEST_CASE("runtime: tests see a CI runner's environment, UTC with zone data",
          "[e2e][runtime]") {
  const std::string backend = GENERATE(as<std::string>{}, "oci", "docker");
  if (!BackendReady(backend)) return;
  Attack attack("ci-environment", backend, RuntimeFixtures());
  const AgentRun run = RunProject(attack);
  INFO(run.Describe());
  REQUIRE(run.Outcome() == "JOB_OUTCOME_SUCCEEDED");
  std::map<std::string, std::string> v = run.Values("test");
  CHECK(v["CI"] == "true");
  CHECK(v["LANG"] == "C.UTF-8");
  CHECK(v["TZ"] == "UTC");
  CHECK(v["LOCALTIME"] == "../usr/share/zoneinfo/Etc/UTC");
  CHECK(v["TIMEZONE"] == "Etc/UTC");
  CHECK(v["INTL_ZONE"] == "UTC");
  CHECK(v["DATE_ZONE"] == "UTC");
  CHECK(v["NEW_YORK_JULY"] == "240");  // EDT: the zone data is there
  CHECK(v["HOME_WRITABLE"] == "ok");
}

TEST_CASE("runtime: tests that ask git see one commit of the tree, no remote, no history",
          "[e2e][runtime]") {
  const std::string backend = GENERATE(as<std::string>{}, "oci", "docker");
  if (!BackendReady(backend)) return;
  Attack attack("git-tests", backend, RuntimeFixtures());
  const AgentRun run = RunProject(attack);
  INFO(run.Describe());
  REQUIRE(run.Outcome() == "JOB_OUTCOME_SUCCEEDED");
  std::map<std::string, std::string> v = run.Values("test");
  CHECK(v["REMOTES"] == "\"\"");
  CHECK(v["COMMITS"] == "1");
  // The job's own commit, not the repository's ("attack fixture git-tests", by the harness).
  CHECK(absl::StartsWith(v["SUBJECT"], "Snapshot of "));
  CHECK(absl::StrContains(v["SUBJECT"], run.result.value("head_commit", "?")));
  CHECK(v["AUTHOR"] == "Ovvoc <ovvoc@localhost>");
  CHECK(v["BRANCH"] == "main");
  // No hook but libgit2's README, no remote or credential helper in the config.
  CHECK(v["HOOKS"] == "\"README.sample\"");
  CHECK_FALSE(absl::StrContains(v["CONFIG"], "remote"));
  CHECK_FALSE(absl::StrContains(v["CONFIG"], "url"));
  CHECK_FALSE(absl::StrContains(v["CONFIG"], "credential"));
}

TEST_CASE("runtime: node-gyp builds an addon that needs librt, and it loads",
          "[e2e][runtime]") {
  const std::string backend = GENERATE(as<std::string>{}, "oci", "docker");
  if (!BackendReady(backend)) return;
  Attack attack("native-addon", backend, RuntimeFixtures());
  const AgentRun run = RunProject(attack);
  INFO(run.Describe());
  CHECK(run.Outcome() == "JOB_OUTCOME_SUCCEEDED");
  CHECK(run.Termination("install") == "TERMINATION_EXITED");
  CHECK(run.Values("test")["LIBRT"] == "loaded");
}

TEST_CASE("runtime: npm test that needs a browser is named, with the line that runs the node suite",
          "[e2e][runtime]") {
  const std::string backend = GENERATE(as<std::string>{}, "oci", "docker");
  if (!BackendReady(backend)) return;
  SECTION("as the project is: karma fails, and the result says what to add") {
    Attack attack("browser-tests", backend, RuntimeFixtures());
    const AgentRun run = RunProject(attack);
    INFO(run.Describe());
    CHECK(run.Outcome() == "JOB_OUTCOME_FAILED");
    CHECK(run.result["failure"].value("phase", "") == "test");
    // Not the node's fault, and the advice says so: not tried on the other nodes.
    CHECK_FALSE(run.result["node"].contains("attempts"));
    REQUIRE(run.result["advice"].is_array());
    REQUIRE(run.result["advice"].size() == 1);
    const nlohmann::json& advice = run.result["advice"][0];
    CHECK(advice.value("subject", "") == "test");
    CHECK(advice.value("suggestion", "") == "test: npm run test:node");
    CHECK(absl::StrContains(advice.value("message", ""), "karma"));
    CHECK(absl::StrContains(run.out, "add `test: npm run test:node` to .ovvoc.yml"));
  }
  SECTION("with that one line of .ovvoc.yml: the node suite runs and passes") {
    Attack attack("browser-tests", backend, RuntimeFixtures());
    const AgentRun run = RunProject(attack, [&attack] {
      std::ofstream(attack.src() + "/.ovvoc.yml") << "test: npm run test:node\n";
    });
    INFO(run.Describe());
    CHECK(run.Outcome() == "JOB_OUTCOME_SUCCEEDED");
    CHECK(run.result["baseline"]["test"].value("command", "") == "npm run test:node");
    CHECK(absl::StrContains(run.Log("test"), "ok 1 - the node suite"));
    CHECK(!run.result.contains("advice"));
  }
}

TEST_CASE("runtime: a v1 lockfile gets npm 6, a packageManager pin its npm", "[e2e][runtime]") {
  const std::string backend = GENERATE(as<std::string>{}, "oci", "docker");
  if (!BackendReady(backend)) return;
  for (const auto& [fixture, version, source] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"npm-lockfile-v1", "6.14.18", "lockfileVersion 1"},
           {"npm-package-manager", "8.19.4", "packageManager"}}) {
    INFO(fixture);
    Attack attack(fixture, backend, RuntimeFixtures());
    const AgentRun run = RunProject(attack);
    INFO(run.Describe());
    CHECK(run.Outcome() == "JOB_OUTCOME_SUCCEEDED");
    CHECK(run.result["npm"].value("version", "") == version);
    CHECK(run.result["npm"].value("source", "") == source);
    CHECK(absl::StartsWith(run.Values("test")["NPM_AGENT"], "npm/" + version));
    // The plan checked engines against the npm that ran.
    CHECK(run.result["plan"].value("npm_version", "") == version);
  }
}

}  // namespace ovvoc::testing::e2e
