// The attack suite's harness: turns a fixture under tests/fixtures/attacks/ into a git
// repository, runs `ovvoc-agent update` on it with one sandbox backend, and afterwards looks for
// anything the job left on the host (containers, mounts, loop devices, cgroups, processes,
// work dirs). Test support only; every function may block for as long as a job runs.
#ifndef OVVOC_TESTS_E2E_ATTACK_HARNESS_H_
#define OVVOC_TESTS_E2E_ATTACK_HARNESS_H_

#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "tests/support/temp_dir.h"

namespace ovvoc::testing::e2e {

// Why `backend` ("oci" or "docker") cannot run jobs here (not root, no image, no runc, no
// dockerd answering); empty when it can.
std::string BackendUnavailableReason(const std::string& backend);

std::string FixturesDir();
std::string ProbeBinary();
std::string ToolBinary();  // tests/fixtures/attacks/tool.c

// `bytes` random bytes, hex-encoded.
std::string RandomHex(size_t bytes);

// The KEY=value lines of a log, the last value winning.
std::map<std::string, std::string> KeyValues(absl::string_view log);

// What one `ovvoc-agent update` run gave.
struct AgentRun {
  int exit_code = -1;
  std::string out;        // the agent's stdout (its summary)
  std::string err;        // the agent's stderr (its log)
  nlohmann::json result;  // the JobResult written with --json (null when none was written)
  double seconds = 0;     // wall time of the whole run
  std::string job_id;     // from the agent's log

  // The baseline trial of the result (its lockfile, install, build and test); {} when absent.
  nlohmann::json Baseline() const;
  std::string Termination(const char* phase) const;
  std::string Log(const char* phase) const;  // the phase's log_excerpt
  std::map<std::string, std::string> Values(const char* phase) const {
    return KeyValues(Log(phase));
  }
  std::string Outcome() const;
  std::vector<std::string> Findings(const std::string& kind) const;  // their details
  std::string Describe() const;  // for failure messages: exit, summary, the end of the log
};

// One attack on one backend: a scratch dir with the fixture's copy (`src/`), the agent's state
// dir (`state/`) and HOME (`home/`).
class Attack {
 public:
  // `fixture`: a directory of `fixtures_dir` (default: the attacks').
  Attack(std::string fixture, std::string backend, std::string fixtures_dir = FixturesDir());

  // Copies the fixture into src/ (symlinks stay links). Fails the test when it cannot.
  absl::Status Prepare();
  const std::string& fixture() const { return fixture_; }
  const std::string& src() const { return src_; }
  const std::string& state_dir() const { return state_dir_; }
  const std::string& home() const { return home_; }
  const std::string& backend() const { return backend_; }
  std::string Path(const std::string& name) const { return dir_.Sub(name); }

  // Commits src/ (symlinks as symlinks) into a repository and runs
  // `ovvoc-agent update --repo R --sandbox B --json OUT --state-dir S` with `flags` (on top of
  // --phase-timeout 20s --job-timeout 2m), its environment ChildEnv(home) plus `env`.
  absl::StatusOr<AgentRun> Run(const std::vector<std::string>& flags = {},
                               const std::vector<std::string>& env = {});

  // Everything the job left behind on the host: one line per leftover, empty when clean.
  // `markers`: command-line fragments of processes the attack started (none may survive).
  std::vector<std::string> Leftovers(const AgentRun& run,
                                     const std::vector<std::string>& markers = {}) const;

 private:
  const std::string fixture_;
  const std::string fixtures_dir_;
  const std::string backend_;
  TempDir dir_;
  std::string src_, state_dir_, home_;
  std::set<std::string> containers_before_;
};

// The containers the backend knows of that carry the agent's label (docker: any agent's) or
// live in the runc root of the agent with `state_dir` (oci), as "id name" strings; with
// `running_only`, those still running.
absl::StatusOr<std::set<std::string>> ListJobContainers(const std::string& backend,
                                                        const std::string& state_dir,
                                                        bool running_only = false);

// A TCP listener on the host's 127.0.0.1 that counts the connections it accepts: the egress
// test's stand-in for a service on the agent's machine.
class LoopbackRecorder {
 public:
  LoopbackRecorder();
  ~LoopbackRecorder();
  LoopbackRecorder(const LoopbackRecorder&) = delete;
  LoopbackRecorder& operator=(const LoopbackRecorder&) = delete;
  int port() const { return port_; }
  int connections() const { return connections_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

// Watches one host file with inotify: did anything open, read or change it?
class FileWatch {
 public:
  explicit FileWatch(const std::string& path);
  ~FileWatch();
  FileWatch(const FileWatch&) = delete;
  FileWatch& operator=(const FileWatch&) = delete;
  bool ok() const { return fd_ >= 0 && watch_ >= 0; }
  // The events seen so far ("open", "access", "modify", "attrib", ...), comma-separated.
  std::string Events();

 private:
  int fd_ = -1;
  int watch_ = -1;
  std::string seen_;
};

}  // namespace ovvoc::testing::e2e

#endif  // OVVOC_TESTS_E2E_ATTACK_HARNESS_H_
