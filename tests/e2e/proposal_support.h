// What the proposal e2e tests share: packages published to a test's Verdaccio, a small project
// locked against it, and a proposal found in a result.
#ifndef OVVOC_TESTS_E2E_PROPOSAL_SUPPORT_H_
#define OVVOC_TESTS_E2E_PROPOSAL_SUPPORT_H_

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "tests/support/cluster.h"
#include "tests/support/git_http_server.h"
#include "tests/support/temp_dir.h"
#include "tests/support/verdaccio.h"

namespace ovvoc::testing::e2e {

// One more version of `name`, generated: its index.js, package.json fields and dependencies.
inline absl::Status Publish(Verdaccio& registry, const std::string& name,
                            const std::string& version, const std::string& index_js,
                            nlohmann::json fields = nlohmann::json::object(),
                            std::map<std::string, std::string> dependencies = {}) {
  Verdaccio::Generated g;
  g.name = name;
  g.version = version;
  g.index_js = index_js;
  g.fields = std::move(fields);
  g.dependencies = std::move(dependencies);
  return registry.PublishVersion(g);
}

// dir/app of `manifest`, every release taken at once (no cooldown), locked by npm against
// `registry`, as dir/app.git.
inline void MakeSmallApp(Verdaccio& registry, const TempDir& dir, const std::string& manifest) {
  std::filesystem::create_directories(dir.Sub("app"));
  std::ofstream(dir.Sub("app/package.json")) << manifest;
  std::ofstream(dir.Sub("app/.ovvoc.yml")) << "cooldown:\n  default-days: 0\n";
  REQUIRE(
      registry.Npm({"install", "--package-lock-only", "--ignore-scripts"}, dir.Sub("app")).ok());
  REQUIRE(GitHttpServer::CreateBareRepoFromDir(dir.Sub("app"), dir.Sub("app.git")).ok());
}

// `ovvoc-agent update` of dir/app.git against `registry` on the oci backend, no branches written,
// with the state dir dir/state: its --json result (dir/NAME.json). Its log goes to `log`.
inline nlohmann::json UpdateJob(const TempDir& dir, Verdaccio& registry, const std::string& name,
                                std::string* log = nullptr) {
  const std::string json = dir.Sub(name + ".json");
  CliResult run = RunCli(
      AgentBinary(),
      {"update", "--repo", dir.Sub("app.git"), "--state-dir", dir.Sub("state"), "--json", json,
       "--no-branches", "--sandbox", "oci", "--registry", registry.url(), "--allow-internal",
       registry.host_port(), "--phase-timeout", "60s", "--job-timeout", "180s"},
      dir.path(), std::chrono::milliseconds(240'000));
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  if (log != nullptr) *log = run.err;
  std::ifstream in(json);
  return nlohmann::json::parse(in, nullptr, false);
}

// The proposal of `result` (an --json result) that updates `name`; nullptr when none does.
inline const nlohmann::json* ProposalOf(const nlohmann::json& result, const std::string& name) {
  if (!result.contains("proposals")) return nullptr;
  for (const nlohmann::json& p : result["proposals"]) {
    for (const nlohmann::json& u : p.value("updates", nlohmann::json::array())) {
      if (u.value("name", "") == name) return &p;
    }
  }
  return nullptr;
}

// What the agent's `log` says of the proposal whose trials it labels as the `title`d one's
// ("proposal 3 of 8: ovvoc-prove-lib 1.0.0 -> 2.0.0" labels p3): every line of "... [p3]: ",
// the label and what follows, joined by newlines ("p3: the tests failed; ..."). Empty when the
// log names no such proposal.
inline std::string TrialLog(const std::string& log, const std::string& title) {
  const std::string named = ": " + title;
  std::string label;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    const size_t at = line.find(" proposal ");
    if (at == std::string::npos || line.find(named) == std::string::npos) continue;
    const size_t of = line.find(" of ", at);
    if (of != std::string::npos) label = "p" + line.substr(at + 10, of - at - 10);
    break;
  }
  if (label.empty()) return "";
  std::string said;
  std::istringstream again(log);
  for (std::string line; std::getline(again, line);) {
    // Its own trials: "[p3]", "[p3r]"; not "[p31]".
    for (const char* suffix : {"]: ", "r]: ", "n]: "}) {
      const size_t at = line.find("[" + label + suffix);
      if (at != std::string::npos) said += line.substr(at + 1) + "\n";
    }
  }
  return said;
}

}  // namespace ovvoc::testing::e2e

#endif  // OVVOC_TESTS_E2E_PROPOSAL_SUPPORT_H_
