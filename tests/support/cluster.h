// The real binaries under test: a control plane (init + serve) and agents (register + run),
// started as child processes with test-speed timings, plus the admin CLI. Test support only.
#ifndef OVVOC_TESTS_SUPPORT_CLUSTER_H_
#define OVVOC_TESTS_SUPPORT_CLUSTER_H_

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "tests/support/daemon.h"
#include "tests/support/temp_dir.h"

namespace ovvoc::testing {

// `defaults` and `overrides` are "--flag value" pairs; an override replaces the default of the
// same flag (CLI11 refuses a single-valued flag given twice).
std::vector<std::string> MergeFlags(std::vector<std::string> defaults,
                                    const std::vector<std::string>& overrides);

// The environment every child gets: PATH, HOME=`home`, nothing of ours but the agents' shared
// image cache (OVVOC_AGENT_IMAGE_CACHE, in the build tree).
std::vector<std::string> ChildEnv(const std::string& home);

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  std::string LastLine() const;
};

// Runs `binary args...` to completion, killed after `timeout` (exit code -1 then).
CliResult RunCli(const std::string& binary, const std::vector<std::string>& args,
                 const std::string& home,
                 std::chrono::milliseconds timeout = std::chrono::milliseconds(30'000));

std::string ControlPlaneBinary();
std::string AgentBinary();
// ovvoc-agent with test-only sandbox choices (agent_under_test_main.cc).
std::string AgentUnderTestBinary();

class ControlPlaneUnderTest {
 public:
  // Test timings unless overridden by `flags`: lease 3s, heartbeat 1s, poll hold 5s, reap 200ms.
  static absl::StatusOr<std::unique_ptr<ControlPlaneUnderTest>> Start(
      const std::string& data_dir, std::vector<std::string> flags = {});

  const std::string& address() const { return address_; }
  const std::string& data_dir() const { return data_dir_; }
  Daemon& daemon() { return *daemon_; }

  // `ovvoc-control-plane ARGS --data-dir D`.
  CliResult Cli(std::vector<std::string> args) const;
  // Runs a command that must succeed and returns its last line (the id it created).
  absl::StatusOr<std::string> Create(std::vector<std::string> args) const;
  // Runs a command with --json that must succeed and returns the parsed output.
  absl::StatusOr<nlohmann::json> Json(std::vector<std::string> args) const;
  // An org, a token for (org, pool), in one call; returns the token.
  absl::StatusOr<std::string> Token(const std::string& org, const std::string& pool = "default",
                                    const std::string& ttl = "10m") const;

  // SIGTERM and wait for a clean exit.
  absl::Status Stop();
  // Starts again on the same data dir and the same port.
  absl::Status Restart();

  // Polls `job show` until the job is in one of `states` (e.g. "JOB_STATE_SUCCEEDED").
  absl::StatusOr<nlohmann::json> WaitForJob(const std::string& job_id,
                                            const std::set<std::string>& states,
                                            std::chrono::milliseconds timeout) const;

 private:
  absl::Status Launch(const std::vector<std::string>& flags);

  std::string data_dir_;
  std::vector<std::string> flags_;
  std::string address_;
  std::unique_ptr<Daemon> daemon_;
};

class AgentUnderTest {
 public:
  // `ovvoc-agent register`; returns the agent id.
  static absl::StatusOr<std::string> Register(const std::string& config_dir,
                                              const std::string& server, const std::string& token);
  // `ovvoc-agent-under-test run --config-dir D [--allow-file-remotes] FLAGS`: test repos are
  // local. Without --sandbox in FLAGS, jobs run in the fake sandbox (tests/support/
  // fake_sandbox.h): the whole pipeline, no container, every command succeeds.
  static absl::StatusOr<std::unique_ptr<AgentUnderTest>> Run(const std::string& config_dir,
                                                             std::vector<std::string> flags = {},
                                                             bool allow_file_remotes = true);
  Daemon& daemon() { return *daemon_; }

 private:
  std::unique_ptr<Daemon> daemon_;
};

// A small npm project committed into a bare repository under `dir`; returns its file:// URL.
absl::StatusOr<std::string> MakeSampleRepo(const std::string& dir);

}  // namespace ovvoc::testing

#endif  // OVVOC_TESTS_SUPPORT_CLUSTER_H_
