// Both binaries explain themselves: --version, and --help at every level.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "tests/support/cluster.h"

namespace ovvoc::testing {
namespace {

void CheckHelp(const std::string& binary, const std::vector<std::string>& command) {
  std::vector<std::string> args = command;
  args.push_back("--help");
  CliResult r = RunCli(binary, args, "/tmp");
  INFO(binary << " " << absl::StrJoin(command, " "));
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("Usage:"));
}

TEST_CASE("both binaries print their name and version") {
  CliResult cp = RunCli(ControlPlaneBinary(), {"--version"}, "/tmp");
  CHECK(cp.exit_code == 0);
  CHECK_THAT(cp.out, Catch::StartsWith("ovvoc-control-plane " OVVOC_VERSION));
  CliResult agent = RunCli(AgentBinary(), {"--version"}, "/tmp");
  CHECK(agent.exit_code == 0);
  CHECK_THAT(agent.out, Catch::StartsWith("ovvoc-agent " OVVOC_VERSION));
}

TEST_CASE("every command prints its help") {
  for (const auto& command : std::vector<std::vector<std::string>>{{},
                                                                   {"init"},
                                                                   {"serve"},
                                                                   {"org"},
                                                                   {"org", "create"},
                                                                   {"org", "list"},
                                                                   {"enroll-token"},
                                                                   {"enroll-token", "create"},
                                                                   {"repo"},
                                                                   {"repo", "add"},
                                                                   {"repo", "list"},
                                                                   {"job"},
                                                                   {"job", "create"},
                                                                   {"job", "show"},
                                                                   {"job", "list"},
                                                                   {"job", "cancel"},
                                                                   {"agent"},
                                                                   {"agent", "list"},
                                                                   {"agent", "revoke"}}) {
    CheckHelp(ControlPlaneBinary(), command);
  }
  for (const auto& command : std::vector<std::vector<std::string>>{
           {}, {"register"}, {"run"}, {"policy"}, {"policy", "check"}}) {
    CheckHelp(AgentBinary(), command);
  }
}

TEST_CASE("mistakes get a clear error and a non-zero exit") {
  CliResult missing = RunCli(ControlPlaneBinary(), {"job", "show"}, "/tmp");
  CHECK(missing.exit_code != 0);
  CliResult no_server =
      RunCli(ControlPlaneBinary(), {"org", "list", "--data-dir", "/nonexistent"}, "/tmp");
  CHECK(no_server.exit_code != 0);
  CHECK_THAT(no_server.err, Catch::Contains("ovvoc-control-plane serve --data-dir /nonexistent"));
  CliResult not_registered = RunCli(AgentBinary(), {"run", "--config-dir", "/nonexistent"}, "/tmp");
  CHECK(not_registered.exit_code != 0);
  CHECK_THAT(not_registered.err, Catch::Contains("ovvoc-agent register"));
  CliResult bad_duration = RunCli(
      ControlPlaneBinary(), {"serve", "--data-dir", "/nonexistent", "--lease-ttl", "soon"}, "/tmp");
  CHECK(bad_duration.exit_code != 0);
  CHECK_THAT(bad_duration.err, Catch::Contains("--lease-ttl"));
}

TEST_CASE("policy check prints the effective policy and exits 1 on errors") {
  TempDir dir;
  CliResult defaults = RunCli(AgentBinary(), {"policy", "check", dir.path()}, "/tmp");
  CHECK(defaults.exit_code == 0);
  CHECK_THAT(defaults.out, Catch::Contains("policy: Ovvoc's defaults") &&
                               Catch::Contains("cooldown                  3 days"));
  std::ofstream(dir.Sub(".ovvoc.yml")) << "colour: red\nopen-pull-requests-limit: many\n";
  CliResult bad = RunCli(AgentBinary(), {"policy", "check", dir.path()}, "/tmp");
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.out, Catch::Contains("warning: .ovvoc.yml:1: unknown key \"colour\"") &&
                          Catch::Contains("error: .ovvoc.yml:2:27: open-pull-requests-limit"));
  CliResult json = RunCli(AgentBinary(), {"policy", "check", dir.path(), "--json"}, "/tmp");
  CHECK(json.exit_code == 1);
  CHECK(nlohmann::json::parse(json.out)["diagnostics"].size() == 2);
  CliResult missing =
      RunCli(AgentBinary(), {"policy", "check", dir.path(), "--policy", dir.Sub("no.yml")}, "/tmp");
  CHECK(missing.exit_code == 2);
  CHECK_THAT(missing.err, Catch::Contains("no such file"));
}

TEST_CASE("plan reads a checkout without running it and says what it skipped and why") {
  TempDir dir;
  TempDir state;
  std::ofstream(dir.Sub("package.json"))
      << R"({"name": "app", "dependencies": {"lib": "file:../lib", "gh": "github:a/b",
             "tagged": "workspace:*"}, "scripts": {"preinstall": "touch ran"}})";
  CliResult plan = RunCli(AgentBinary(),
                          {"plan", "--repo", dir.path(), "--state-dir", state.path(),
                           "--node-version", "24.0.0", "--npm-version", "10.9.0", "--json",
                           dir.Sub("plan.json")},
                          "/tmp");
  CHECK(plan.exit_code == 0);
  CHECK_THAT(plan.out, Catch::Contains("Package") && Catch::Contains("skipped") &&
                           Catch::Contains("No updates to propose."));
  CHECK_FALSE(std::filesystem::exists(dir.Sub("ran")));
  std::ifstream in(dir.Sub("plan.json"));
  nlohmann::json json = nlohmann::json::parse(in);
  REQUIRE(json["dependencies"].size() == 3);
  for (const auto& row : json["dependencies"]) CHECK(row["decision"] == "PLAN_DECISION_SKIPPED");
  CHECK(json["node_version"] == "v24.0.0");
  CHECK(json["npm_version"] == "10.9.0");

  CliResult no_policy = RunCli(AgentBinary(),
                               {"plan", "--repo", dir.path(), "--state-dir", state.path(),
                                "--policy", dir.Sub("no.yml")},
                               "/tmp");
  CHECK(no_policy.exit_code == 2);
  std::ofstream(dir.Sub("package.json"), std::ios::trunc) << "{ not json";
  CliResult malformed =
      RunCli(AgentBinary(), {"plan", "--repo", dir.path(), "--state-dir", state.path()}, "/tmp");
  CHECK(malformed.exit_code == 0);  // the problem is a line of the plan
  CHECK_THAT(malformed.out, Catch::Contains("Problems:") && Catch::Contains("package.json"));
  CliResult nowhere = RunCli(AgentBinary(), {"plan", "--repo", dir.Sub("nope\x1b]0;owned\a")}, "/tmp");
  CHECK(nowhere.exit_code == 2);
  CHECK_FALSE(absl::StrContains(nowhere.err, "\x1b"));  // what it repeats is printed inert
}

}  // namespace
}  // namespace ovvoc::testing
