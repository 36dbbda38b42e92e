// Checks the attack tests share: running an attack with its timing printed, and what every
// attack's result must show. Test support for tests/e2e only; uses Catch2's macros.
#ifndef OVVOC_TESTS_E2E_ATTACK_CHECKS_H_
#define OVVOC_TESTS_E2E_ATTACK_CHECKS_H_

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "agent/sandbox/job_uid.h"
#include "tests/e2e/attack_harness.h"

namespace ovvoc::testing::e2e {

inline void WriteFile(const std::string& path, const std::string& content, mode_t mode = 0644) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    REQUIRE(out.good());
  }
  REQUIRE(::chmod(path.c_str(), mode) == 0);
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Prepares the fixture, lets `customize` add to src/, runs the job and prints its timing.
template <typename Customize>
AgentRun RunAttack(Attack& attack, const std::vector<std::string>& flags,
                   const std::vector<std::string>& env, Customize customize) {
  REQUIRE(attack.Prepare().ok());
  customize();
  absl::StatusOr<AgentRun> run = attack.Run(flags, env);
  if (!run.ok()) FAIL("could not run the agent: " << run.status().ToString());
  std::printf("attack %-20s %-6s %5.1f s  exit %d  %s  install=%s build=%s test=%s\n",
              attack.fixture().c_str(), attack.backend().c_str(), run->seconds, run->exit_code,
              run->Outcome().c_str(), run->Termination("install").c_str(),
              run->Termination("build").c_str(), run->Termination("test").c_str());
  std::fflush(stdout);
  return *std::move(run);
}

inline AgentRun RunAttack(Attack& attack, const std::vector<std::string>& flags = {},
                          const std::vector<std::string>& env = {}) {
  return RunAttack(attack, flags, env, [] {});
}

// What every attack must give: a JobResult, a classified outcome (exit 0 or 1, never "could
// not run", never killed at the harness's hang bound), and a clean host. How promptly a limit
// stopped an attack is the phase's own time (PhaseSeconds), not the loaded machine's clock.
inline void CheckContained(const Attack& attack, const AgentRun& run,
                           const std::vector<std::string>& markers = {}) {
  CHECK((run.exit_code == 0 || run.exit_code == 1));
  CHECK(run.result.is_object());
  CHECK(!run.Outcome().empty());
  CHECK(!run.job_id.empty());
  for (const std::string& leftover : attack.Leftovers(run, markers)) {
    FAIL_CHECK("left behind after the job: " << leftover);
  }
}

inline double PhaseSeconds(const AgentRun& run, const char* phase) {
  const nlohmann::json baseline = run.Baseline();
  if (!baseline.contains(phase)) return -1;
  const std::string text = baseline[phase].value("duration", "");
  return text.empty() ? 0 : std::strtod(text.c_str(), nullptr);
}

inline int PhaseExit(const AgentRun& run, const char* phase) {
  const nlohmann::json baseline = run.Baseline();
  if (!baseline.contains(phase)) return -1;
  return baseline[phase].value("exit_code", 0);  // proto JSON leaves out a 0
}

inline std::string FailedPhase(const AgentRun& run) {
  if (!run.result.is_object() || !run.result.contains("failure")) return "";
  return run.result["failure"].value("phase", "");
}

// The job failed in `phase`, and the phase ended with `termination` ("TERMINATION_OOM").
inline void CheckStoppedIn(const AgentRun& run, const std::string& phase,
                           const std::string& termination) {
  INFO("expected: failed in " << phase << " with " << termination);
  CHECK(run.Outcome() == "JOB_OUTCOME_FAILED");
  CHECK(FailedPhase(run) == phase);
  CHECK(run.Termination(phase.c_str()) == termination);
}

// A uid from the range jobs run as (agent/sandbox/job_uid.h).
inline bool IsJobUid(const std::string& text) {
  uint32_t uid = 0;
  return absl::SimpleAtoi(text, &uid) && uid >= agent::sandbox::kFirstJobUid &&
         uid < agent::sandbox::kFirstJobUid + agent::sandbox::kJobUids;
}

inline bool HasOption(const std::string& mount_options, absl::string_view option) {
  for (absl::string_view o : absl::StrSplit(mount_options, ',')) {
    if (o == option) return true;
  }
  return false;
}

}  // namespace ovvoc::testing::e2e

#endif  // OVVOC_TESTS_E2E_ATTACK_CHECKS_H_
