// Runs a child process with an exact environment, feeds it stdin and collects stdout and
// stderr concurrently (poll), so that neither a large input nor a large output can deadlock.
// Test support only. Safe to call from several threads at once.
#ifndef OVVOC_TESTS_SUPPORT_SUBPROCESS_H_
#define OVVOC_TESTS_SUPPORT_SUBPROCESS_H_

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ovvoc::testing {

struct ProcessSpec {
  // argv[0] is looked up in this process's PATH when it holds no '/'.
  std::vector<std::string> argv;
  // "NAME=value" entries: the child's whole environment.
  std::vector<std::string> env;
  // Working directory of the child; empty: ours.
  std::string cwd;
  std::string stdin_data;
  // The child is killed when it runs longer.
  std::chrono::milliseconds timeout{60'000};
};

struct ProcessResult {
  int exit_code = -1;  // 128 + signal number when killed by a signal
  std::string stdout_data;
  std::string stderr_data;
};

// Errors only when the process cannot be started or exceeds its timeout (DeadlineExceeded);
// a non-zero exit is a result, not an error.
absl::StatusOr<ProcessResult> RunProcess(const ProcessSpec& spec);

}  // namespace ovvoc::testing

#endif  // OVVOC_TESTS_SUPPORT_SUBPROCESS_H_
