#include "agent/process/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/process/bounded_output.h"
#include "common/unique_fd.h"

namespace ovvoc::agent {
namespace {

constexpr absl::Duration kGrace = absl::Seconds(5);
constexpr absl::Duration kTick = absl::Milliseconds(100);
constexpr absl::Duration kDrain = absl::Milliseconds(500);

std::vector<char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (const std::string& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

[[noreturn]] void ExecChild(int in, int out, const RunOptions& options, char** argv, char** envp) {
  ::dup2(in, STDIN_FILENO);
  ::dup2(out, STDOUT_FILENO);
  ::dup2(out, STDERR_FILENO);
  ::setpgid(0, 0);  // its own group, so a stop reaches its children too
  // Signals the agent blocks (SIGTERM for its own shutdown) must not stay blocked in children.
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (!options.cwd.empty() && ::chdir(options.cwd.c_str()) != 0) ::_exit(126);
  ::execve(argv[0], argv, envp);
  ::_exit(127);
}

// Forks and execs `options` with `in` and `out` as its stdio; the parent's copies stay open.
absl::StatusOr<pid_t> ForkExec(const RunOptions& options, int in, int out) {
  if (options.argv.empty() || options.argv[0].empty() || options.argv[0][0] != '/') {
    return absl::InvalidArgumentError("a helper program needs an absolute path");
  }
  std::vector<char*> argv = CStrings(options.argv);
  std::vector<char*> envp = CStrings(options.env);
  pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) ExecChild(in, out, options, argv.data(), envp.data());
  return pid;
}

absl::StatusOr<UniqueFd> OpenOutputFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) return absl::InternalError("cannot create " + path);
  return fd;
}

int WaitExit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

absl::StatusOr<RunResult> RunProcess(const RunOptions& options) {
  int in_pipe[2], out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  UniqueFd in_read(in_pipe[0]), in_write(in_pipe[1]);
  UniqueFd out_read, out_write;
  if (options.output_file.empty()) {
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
    out_read.reset(out_pipe[0]);
    out_write.reset(out_pipe[1]);
  } else {
    absl::StatusOr<UniqueFd> file = OpenOutputFile(options.output_file);
    if (!file.ok()) return file.status();
    out_write = *std::move(file);
  }

  const absl::Time start = absl::Now();
  absl::StatusOr<pid_t> started = ForkExec(options, in_read.get(), out_write.get());
  if (!started.ok()) return started.status();
  const pid_t pid = *started;
  in_read.reset();
  out_write.reset();

  // Small inputs only (configuration); a pipe buffer holds them.
  if (!options.stdin_data.empty()) {
    ::fcntl(in_write.get(), F_SETFL, O_NONBLOCK);
    (void)!::write(in_write.get(), options.stdin_data.data(), options.stdin_data.size());
  }
  in_write.reset();

  RunResult result;
  BoundedOutput output(options.output_limit);
  const absl::Time deadline = options.timeout == absl::InfiniteDuration() ? absl::InfiniteFuture()
                                                                          : start + options.timeout;
  absl::Time kill_at = absl::InfiniteFuture();
  // A daemon the process left behind may hold the pipe open forever: once the process itself
  // has exited, read what is buffered for a moment and stop.
  std::optional<int> exit_code;
  absl::Time drain_until = absl::InfiniteFuture();
  char buf[16 * 1024];
  // Readable once the process has exited: wakes the loop at once instead of at the next tick.
  UniqueFd exited(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  for (;;) {
    // With an output file there is no pipe: fd -1 is ignored by poll().
    pollfd p[2] = {{out_read.get(), POLLIN, 0},
                   {exit_code.has_value() ? -1 : exited.get(), POLLIN, 0}};
    int ready = ::poll(p, 2, static_cast<int>(absl::ToInt64Milliseconds(kTick)));
    if (ready > 0 && (p[0].revents & (POLLIN | POLLHUP))) {
      ssize_t n = ::read(out_read.get(), buf, sizeof buf);
      if (n > 0) {
        output.Append(absl::string_view(buf, static_cast<size_t>(n)));
      } else if (n == 0 || errno != EINTR) {
        // EOF: every writer is gone, but the process may still run (it closed its output):
        // go on waiting for it, with the timeout and the cancel check still in force.
        out_read.reset();
        if (exit_code.has_value()) break;
      }
    }
    const absl::Time now = absl::Now();
    if (!exit_code.has_value()) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        drain_until = out_read.valid() ? now + kDrain : now;
      }
    }
    if (now >= drain_until) break;
    const bool stop = !exit_code.has_value() && !result.timed_out && !result.cancelled &&
                      (now >= deadline || (options.cancelled && options.cancelled()));
    if (stop) {
      (now >= deadline ? result.timed_out : result.cancelled) = true;
      if (options.on_stop) options.on_stop();
      kill_at = now + kGrace;
    }
    if (now >= kill_at) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      kill_at = absl::InfiniteFuture();
    }
  }
  result.exit_code = exit_code.has_value() ? *exit_code : WaitExit(pid);
  if (!options.output_file.empty()) {
    UniqueFd file(::open(options.output_file.c_str(), O_RDONLY | O_CLOEXEC));
    ssize_t n;
    while (file.valid() && (n = ::read(file.get(), buf, sizeof buf)) > 0) {
      output.Append(absl::string_view(buf, static_cast<size_t>(n)));
    }
  }
  result.duration = absl::Now() - start;
  result.output = output.Text();
  result.output_bytes = output.total_bytes();
  return result;
}

absl::StatusOr<ChildProcess> ChildProcess::Start(const RunOptions& options) {
  if (options.output_file.empty()) {
    return absl::InvalidArgumentError("a child process needs an output file");
  }
  UniqueFd in(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!in.valid()) return absl::InternalError("cannot open /dev/null");
  absl::StatusOr<UniqueFd> out = OpenOutputFile(options.output_file);
  if (!out.ok()) return out.status();
  absl::StatusOr<pid_t> pid = ForkExec(options, in.get(), out->get());
  if (!pid.ok()) return pid.status();
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, *pid, 0));
  ChildProcess child(*pid, pidfd);
  if (pidfd < 0) {
    child.Kill();
    return absl::InternalError(absl::StrCat("pidfd_open: ", std::strerror(errno)));
  }
  return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      pidfd_(std::exchange(other.pidfd_, -1)),
      exit_code_(other.exit_code_) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    Release();
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::exchange(other.pidfd_, -1);
    exit_code_ = other.exit_code_;
  }
  return *this;
}

ChildProcess::~ChildProcess() { Release(); }

void ChildProcess::Release() {
  if (pid_ > 0) Kill();
  if (pidfd_ >= 0) ::close(pidfd_);
  pidfd_ = -1;
}

absl::StatusOr<int> ChildProcess::Wait(absl::Duration timeout) {
  if (pid_ <= 0) return exit_code_;
  pollfd exited{pidfd_, POLLIN, 0};
  const int ms = timeout == absl::InfiniteDuration()
                     ? -1
                     : static_cast<int>(absl::ToInt64Milliseconds(timeout));
  int ready;
  while ((ready = ::poll(&exited, 1, ms)) < 0 && errno == EINTR) {
  }
  if (ready == 0) return absl::DeadlineExceededError("the process is still running");
  exit_code_ = WaitExit(pid_);
  pid_ = -1;
  return exit_code_;
}

void ChildProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGKILL);
  ::kill(pid_, SIGKILL);
  exit_code_ = WaitExit(pid_);
  pid_ = -1;
}

}  // namespace ovvoc::agent
