#include "tests/support/daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace ovvoc::testing {
namespace {

std::vector<char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (const std::string& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(const std::vector<std::string>& argv,
                                                      const std::vector<std::string>& env,
                                                      const std::string& log_path) {
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  std::vector<char*> c_argv = CStrings(argv);
  std::vector<char*> c_env = CStrings(env);
  pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(err[1], STDERR_FILENO);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, STDIN_FILENO);
    ::setpgid(0, 0);  // its own group: a test's Ctrl-C does not double-signal it
    ::execve(c_argv[0], c_argv.data(), c_env.data());
    std::fprintf(stderr, "exec %s: %s\n", c_argv[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  return std::unique_ptr<Daemon>(new Daemon(pid, out[0], err[0], log_path));
}

Daemon::Daemon(pid_t pid, int stdout_fd, int stderr_fd, std::string log_path)
    : pid_(pid), log_path_(std::move(log_path)) {
  stdout_thread_ = std::thread([this, stdout_fd] { Pump(stdout_fd, true); });
  stderr_thread_ = std::thread([this, stderr_fd] { Pump(stderr_fd, false); });
}

Daemon::~Daemon() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    (void)Wait(std::chrono::milliseconds(10'000));
  }
  stdout_thread_.join();
  stderr_thread_.join();
}

void Daemon::Pump(int fd, bool is_stdout) {
  FILE* log = std::fopen(log_path_.c_str(), "a");
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    absl::MutexLock lock(&mu_);
    if (is_stdout) stdout_.append(buf, static_cast<size_t>(n));
    log_.append(buf, static_cast<size_t>(n));
    if (log != nullptr) {
      std::fwrite(buf, 1, static_cast<size_t>(n), log);
      std::fflush(log);
    }
  }
  if (log != nullptr) std::fclose(log);
  ::close(fd);
}

absl::StatusOr<std::string> Daemon::WaitForLine(const std::string& prefix,
                                                std::chrono::milliseconds timeout) {
  absl::MutexLock lock(&mu_);
  std::string found;
  auto has_line = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (absl::string_view line : absl::StrSplit(stdout_, '\n')) {
      if (absl::StartsWith(line, prefix)) {
        found = std::string(line);
        return true;
      }
    }
    return false;
  };
  if (mu_.AwaitWithTimeout(absl::Condition(&has_line), absl::FromChrono(timeout))) return found;
  return absl::DeadlineExceededError(
      absl::StrCat("no line starting with \"", prefix, "\"; log so far:\n", log_));
}

bool Daemon::WaitForLog(const std::string& text, std::chrono::milliseconds timeout) {
  absl::MutexLock lock(&mu_);
  auto has_text = [&]()
                      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return absl::StrContains(log_, text); };
  return mu_.AwaitWithTimeout(absl::Condition(&has_text), absl::FromChrono(timeout));
}

std::string Daemon::Log() const {
  absl::MutexLock lock(&mu_);
  return log_;
}

void Daemon::Signal(int signal_number) {
  if (running()) ::kill(pid_, signal_number);
}

bool Daemon::running() {
  absl::MutexLock lock(&mu_);
  if (exit_code_.has_value()) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return false;
}

absl::StatusOr<int> Daemon::Wait(std::chrono::milliseconds timeout) {
  const absl::Time deadline = absl::Now() + absl::FromChrono(timeout);
  while (running()) {
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat("pid ", pid_, " still running"));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  absl::MutexLock lock(&mu_);
  return *exit_code_;
}

}  // namespace ovvoc::testing
