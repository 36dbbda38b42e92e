// Daemon: a long-running child process under test (a control plane, an agent). Its stdout is
// collected as it arrives so a test can wait for a line such as "listening on ..."; stdout and
// stderr are also appended to a log file that stays behind for diagnosis. The destructor kills
// whatever is still running. Test support only.
#ifndef OVVOC_TESTS_SUPPORT_DAEMON_H_
#define OVVOC_TESTS_SUPPORT_DAEMON_H_

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace ovvoc::testing {

class Daemon {
 public:
  // `env` is the child's whole environment ("NAME=value"). `log_path` receives both streams.
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(const std::vector<std::string>& argv,
                                                       const std::vector<std::string>& env,
                                                       const std::string& log_path);
  ~Daemon();

  // The first stdout line starting with `prefix`, once it has been printed.
  absl::StatusOr<std::string> WaitForLine(const std::string& prefix,
                                          std::chrono::milliseconds timeout);
  // True once the log (stdout and stderr) contains `text`; waits up to `timeout`.
  bool WaitForLog(const std::string& text, std::chrono::milliseconds timeout);
  std::string Log() const;

  void Signal(int signal_number);
  // The exit code (128 + signal when killed), or DeadlineExceeded if still running.
  absl::StatusOr<int> Wait(std::chrono::milliseconds timeout);
  bool running();
  pid_t pid() const { return pid_; }

 private:
  Daemon(pid_t pid, int stdout_fd, int stderr_fd, std::string log_path);
  void Pump(int fd, bool is_stdout);

  const pid_t pid_;
  const std::string log_path_;
  std::thread stdout_thread_;
  std::thread stderr_thread_;

  mutable absl::Mutex mu_;
  std::string stdout_ ABSL_GUARDED_BY(mu_);
  std::string log_ ABSL_GUARDED_BY(mu_);
  std::optional<int> exit_code_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ovvoc::testing

#endif  // OVVOC_TESTS_SUPPORT_DAEMON_H_
