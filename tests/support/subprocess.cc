#include "tests/support/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/unique_fd.h"

namespace ovvoc::testing {
namespace {

using ::ovvoc::UniqueFd;

absl::Status ErrnoError(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

absl::StatusOr<std::string> FindExecutable(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "/usr/bin:/bin", ':')) {
    std::string candidate = absl::StrCat(dir.empty() ? "." : dir, "/", name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return absl::NotFoundError(absl::StrCat(name, " not found in PATH"));
}

std::vector<char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (const std::string& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// The pipes of one child, parent side first.
struct ChildPipes {
  UniqueFd stdin_parent, stdin_child;  // a socketpair: send(MSG_NOSIGNAL) never raises SIGPIPE
  UniqueFd stdout_parent, stdout_child;
  UniqueFd stderr_parent, stderr_child;
};

absl::StatusOr<ChildPipes> MakePipes() {
  ChildPipes pipes;
  int in[2], out[2], err[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0)
    return ErrnoError("socketpair");
  pipes.stdin_parent.reset(in[0]);
  pipes.stdin_child.reset(in[1]);
  if (::pipe2(out, O_CLOEXEC) != 0) return ErrnoError("pipe2");
  pipes.stdout_parent.reset(out[0]);
  pipes.stdout_child.reset(out[1]);
  if (::pipe2(err, O_CLOEXEC) != 0) return ErrnoError("pipe2");
  pipes.stderr_parent.reset(err[0]);
  pipes.stderr_child.reset(err[1]);
  for (int fd : {in[0], out[0], err[0]}) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return pipes;
}

// Between fork and exec only async-signal-safe calls: everything is prepared beforehand.
[[noreturn]] void ExecChild(const ChildPipes& pipes, const char* cwd, const char* path,
                            char* const* argv, char* const* envp) {
  if (::dup2(pipes.stdin_child.get(), 0) < 0 || ::dup2(pipes.stdout_child.get(), 1) < 0 ||
      ::dup2(pipes.stderr_child.get(), 2) < 0) {
    ::_exit(127);
  }
  ::close_range(3, ~0U, 0);  // other threads' descriptors need not carry CLOEXEC
  if (cwd != nullptr && ::chdir(cwd) != 0) ::_exit(127);
  ::execve(path, argv, envp);
  ::_exit(127);
}

// Reads what is available from `fd` into `out`; closes `fd` at EOF.
void Drain(UniqueFd& fd, std::string& out) {
  char buffer[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n > 0) {
      out.append(buffer, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    fd.reset();  // EOF or a hard error
    return;
  }
}

// Sends what the socket takes; closes it when all is sent or the child stopped reading.
void Feed(UniqueFd& fd, absl::string_view data, size_t& sent) {
  while (sent < data.size()) {
    ssize_t n = ::send(fd.get(), data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    break;  // EPIPE / ECONNRESET: the child does not want the rest
  }
  fd.reset();
}

// Moves data until the child closed stdout and stderr, or the deadline passed.
bool Pump(ChildPipes& pipes, const ProcessSpec& spec, ProcessResult& result) {
  auto deadline = std::chrono::steady_clock::now() + spec.timeout;
  size_t sent = 0;
  if (spec.stdin_data.empty()) pipes.stdin_parent.reset();
  while (pipes.stdout_parent.get() >= 0 || pipes.stderr_parent.get() >= 0) {
    pollfd fds[3] = {{pipes.stdin_parent.get(), POLLOUT, 0},
                     {pipes.stdout_parent.get(), POLLIN, 0},
                     {pipes.stderr_parent.get(), POLLIN, 0}};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    int ready = ::poll(fds, 3, static_cast<int>(left.count()));
    if (ready < 0 && errno != EINTR) return false;
    if (ready <= 0) continue;
    if (fds[0].revents != 0) Feed(pipes.stdin_parent, spec.stdin_data, sent);
    if (fds[1].revents != 0) Drain(pipes.stdout_parent, result.stdout_data);
    if (fds[2].revents != 0) Drain(pipes.stderr_parent, result.stderr_data);
  }
  return true;
}

int WaitForExit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

absl::StatusOr<ProcessResult> RunProcess(const ProcessSpec& spec) {
  if (spec.argv.empty()) return absl::InvalidArgumentError("RunProcess: empty argv");
  absl::StatusOr<std::string> path = FindExecutable(spec.argv[0]);
  if (!path.ok()) return path.status();
  absl::StatusOr<ChildPipes> pipes = MakePipes();
  if (!pipes.ok()) return pipes.status();
  std::vector<char*> argv = CStrings(spec.argv);
  std::vector<char*> envp = CStrings(spec.env);
  const char* cwd = spec.cwd.empty() ? nullptr : spec.cwd.c_str();

  pid_t pid = ::fork();
  if (pid < 0) return ErrnoError("fork");
  if (pid == 0) ExecChild(*pipes, cwd, path->c_str(), argv.data(), envp.data());
  pipes->stdin_child.reset();
  pipes->stdout_child.reset();
  pipes->stderr_child.reset();

  ProcessResult result;
  if (!Pump(*pipes, spec, result)) {
    ::kill(pid, SIGKILL);
    WaitForExit(pid);
    return absl::DeadlineExceededError(
        absl::StrCat(spec.argv[0], " did not finish in ", spec.timeout.count(), " ms"));
  }
  result.exit_code = WaitForExit(pid);
  return result;
}

}  // namespace ovvoc::testing
