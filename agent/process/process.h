// Running a helper program (runc, mkfs.ext4) with an exact environment, its output merged and
// bounded, a timeout and a cancel check. The agent's only way to start processes.
#ifndef OVVOC_AGENT_PROCESS_PROCESS_H_
#define OVVOC_AGENT_PROCESS_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ovvoc::agent {

struct RunOptions {
  std::vector<std::string> argv;  // argv[0] must be an absolute path
  std::vector<std::string> env;   // the whole environment, "NAME=value"
  std::string cwd;                // empty: the agent's
  std::string stdin_data;
  size_t output_limit = 64 * 1024;  // bytes kept from the start and from the end
  // When set, output goes to this file (created 0600) instead of a pipe, and is read back after
  // the process exits: for programs that hand their stdio to a long-lived child (`runc
  // create`), which would hold a pipe open.
  std::string output_file;
  absl::Duration timeout = absl::InfiniteDuration();
  std::function<bool()> cancelled;  // polled about every 100 ms
  // Called once when the timeout passes or `cancelled` turns true, before the process itself is
  // killed (after a 5 s grace): lets the caller stop what the process started elsewhere, such as
  // the processes `runc exec` runs inside a container.
  std::function<void()> on_stop;
};

struct RunResult {
  int exit_code = -1;  // 128 + signal number when killed by a signal
  bool timed_out = false;
  bool cancelled = false;
  std::string output;  // stdout and stderr as they interleaved, bounded (see BoundedOutput)
  uint64_t output_bytes = 0;
  absl::Duration duration;
};

// Errors only when the process cannot be started; a failing process is a result.
absl::StatusOr<RunResult> RunProcess(const RunOptions& options);

// A process that outlives the call that started it (`runc run`, which lives as long as its
// container). Uses argv, env, cwd and output_file (required: its stdout and stderr) of
// RunOptions; stdin is /dev/null; it runs in a process group of its own, so a Ctrl-C at the
// agent's terminal does not reach it. Destroying a still running ChildProcess kills its group
// and reaps it. Move-only.
class ChildProcess {
 public:
  static absl::StatusOr<ChildProcess> Start(const RunOptions& options);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  // Readable (POLLIN) once the process has exited: for poll() beside other fds.
  int exit_fd() const { return pidfd_; }
  // Its exit code (128 + signal when killed) once it has exited; DeadlineExceeded when it is
  // still running after `timeout`.
  absl::StatusOr<int> Wait(absl::Duration timeout);
  // SIGKILLs its process group, then reaps it.
  void Kill();

 private:
  ChildProcess(pid_t pid, int pidfd) : pid_(pid), pidfd_(pidfd) {}
  void Release();

  pid_t pid_ = -1;  // -1 once reaped
  int pidfd_ = -1;
  int exit_code_ = -1;
};

}  // namespace ovvoc::agent

#endif  // OVVOC_AGENT_PROCESS_PROCESS_H_
