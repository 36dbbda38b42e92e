#include "agent/sandbox/init_channel.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent/process/bounded_output.h"
#include "agent/sandbox/sandbox.h"
#include "common/files.h"

namespace ovvoc::agent::sandbox {
namespace {

constexpr absl::Duration kDrain = absl::Milliseconds(500);
constexpr absl::Duration kTick = absl::Milliseconds(100);
constexpr absl::Duration kGrace = absl::Seconds(5);
constexpr size_t kMaxRequest = 65536;
constexpr char kSocketName[] = "ovvoc-init.sock";

absl::Status Errno(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// "exec\0CWD\0ARGC\0ARGV...ENV..." as init.c reads it.
absl::StatusOr<std::string> Request(const std::vector<std::string>& argv,
                                    const std::vector<std::string>& env, const std::string& cwd) {
  std::string out = "exec";
  out.push_back('\0');
  auto add = [&out](const std::string& field) {
    out.append(field);
    out.push_back('\0');
  };
  add(cwd);
  add(std::to_string(argv.size()));
  for (const std::string& a : argv) add(a);
  for (const std::string& e : env) add(e);
  if (out.size() > kMaxRequest) return absl::InvalidArgumentError("command line too long");
  return out;
}

}  // namespace

InitMessage ParseInitMessage(absl::string_view text, bool closed, std::optional<int>& exit_code) {
  if (closed) return InitMessage::kGone;
  int number = 0;
  if (absl::ConsumePrefix(&text, "pid ") && absl::SimpleAtoi(text, &number) && number > 0) {
    return InitMessage::kStarted;
  }
  // 0-255 for an exit, 128 + signal for a signal (init.c); nothing else is an exit status.
  if (absl::ConsumePrefix(&text, "exit ") && absl::SimpleAtoi(text, &number) && number >= 0 &&
      number <= 255 && !exit_code.has_value()) {
    exit_code = number;
    return InitMessage::kExited;
  }
  if (absl::StartsWith(text, "error ") && !exit_code.has_value()) return InitMessage::kCannotStart;
  return InitMessage::kMalformed;
}

absl::StatusOr<std::unique_ptr<InitChannel>> InitChannel::Listen(const std::string& host_dir,
                                                                 uint32_t uid) {
  if (absl::Status s = files::EnsureDir(host_dir, 0755); !s.ok()) return s;
  ::chown(host_dir.c_str(), 0, 0);
  auto channel = std::make_unique<InitChannel>();
  // Bound through the directory's fd, not its host path: a unix socket's address is the string
  // given to bind(), and the container sees it in /proc/net/unix (the accepted socket lives in
  // the connecting init's network namespace, address and all).
  channel->dir_.reset(::open(host_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!channel->dir_.valid()) return Errno(absl::StrCat("open ", host_dir));
  channel->socket_path_ = absl::StrCat("/proc/self/fd/", channel->dir_.get(), "/", kSocketName);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (channel->socket_path_.size() >= sizeof addr.sun_path) {
    return absl::InvalidArgumentError(
        absl::StrCat("socket path too long for a unix socket: ", channel->socket_path_));
  }
  std::strcpy(addr.sun_path, channel->socket_path_.c_str());
  channel->listener_.reset(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!channel->listener_.valid()) return Errno("socket");
  ::unlink(addr.sun_path);
  if (::bind(channel->listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return Errno(absl::StrCat("bind ", channel->socket_path_));
  }
  // The init runs as the job's uid; connecting needs write permission on the socket.
  ::chown(addr.sun_path, uid, uid);
  ::chmod(addr.sun_path, 0600);
  if (::listen(channel->listener_.get(), 1) != 0) return Errno("listen");
  return channel;
}

absl::StatusOr<int> InitChannel::Accept(const std::function<bool(int pid)>& is_init,
                                        absl::Duration timeout, int give_up_fd) {
  const absl::Time deadline = absl::Now() + timeout;
  int init_pid = 0;
  while (!channel_.valid()) {
    pollfd p[2] = {{listener_.get(), POLLIN, 0}, {give_up_fd, POLLIN, 0}};
    const int wait = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (wait <= 0 || ::poll(p, 2, wait) <= 0) {
      return absl::DeadlineExceededError("the container's init did not connect to the agent");
    }
    if (p[1].revents != 0) {
      return absl::AbortedError("the container ended before its init connected to the agent");
    }
    UniqueFd peer(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!peer.valid()) continue;
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(peer.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.pid > 0 &&
        is_init(cred.pid)) {
      channel_ = std::move(peer);
      init_pid = cred.pid;
    }
    // Anyone else is dropped unanswered.
  }
  listener_.reset();
  ::unlinkat(dir_.get(), kSocketName, 0);
  dir_.reset();
  return init_pid;
}

absl::Status InitChannel::InstallSeccomp(const std::string& bpf, absl::Duration timeout) {
  if (!channel_.valid()) return absl::FailedPreconditionError("no channel to the container's init");
  std::string message("seccomp", 8);  // with its NUL
  message += bpf;
  if (::send(channel_.get(), message.data(), message.size(), MSG_NOSIGNAL) < 0) {
    return Errno("send the seccomp filter");
  }
  pollfd p{channel_.get(), POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) != 1) {
    return absl::DeadlineExceededError("the container's init did not confirm its seccomp filter");
  }
  char answer[128];
  ssize_t n = ::recv(channel_.get(), answer, sizeof answer, 0);
  if (n <= 0 || absl::string_view(answer, static_cast<size_t>(n)) != "ready") {
    return absl::InternalError(absl::StrCat(
        "the container's init could not install the seccomp filter: ",
        n > 0 ? absl::string_view(answer, static_cast<size_t>(n)) : "connection closed"));
  }
  return absl::OkStatus();
}

absl::StatusOr<InitChannel::Result> InitChannel::Run(const std::vector<std::string>& argv,
                                                     const std::vector<std::string>& env,
                                                     const std::string& cwd, absl::Duration timeout,
                                                     size_t output_limit,
                                                     const std::function<bool()>& cancelled,
                                                     const std::function<void()>& stop) {
  if (!channel_.valid()) return absl::FailedPreconditionError("no channel to the container's init");
  absl::StatusOr<std::string> request = Request(argv, env, cwd);
  if (!request.ok()) return request.status();
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return Errno("pipe");
  UniqueFd out_read(pipe_fds[0]), out_write(pipe_fds[1]);

  char control[CMSG_SPACE(sizeof(int))] = {};
  iovec iov{request->data(), request->size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  const int fd = out_write.get();
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  const absl::Time start = absl::Now();
  if (::sendmsg(channel_.get(), &msg, MSG_NOSIGNAL) < 0)
    return Errno("send to the container's init");
  out_write.reset();  // the command holds the only writer now

  Result result;
  BoundedOutput output(output_limit);
  std::optional<int> exit_code;
  absl::Time drain_until = absl::InfiniteFuture();
  absl::Time kill_at = absl::InfiniteFuture();
  const absl::Time deadline = start + timeout;
  bool stopped = false;
  char buf[16 * 1024];
  for (;;) {
    pollfd p[2] = {{out_read.get(), POLLIN, 0}, {exit_code ? -1 : channel_.get(), POLLIN, 0}};
    ::poll(p, 2, static_cast<int>(absl::ToInt64Milliseconds(kTick)));
    bool eof = false;
    if (p[0].revents & (POLLIN | POLLHUP)) {
      ssize_t n = ::read(out_read.get(), buf, sizeof buf);
      if (n > 0) output.Append(absl::string_view(buf, static_cast<size_t>(n)));
      eof = n == 0;
    }
    if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      char message[128];
      const ssize_t n = ::recv(channel_.get(), message, sizeof message, MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      switch (ParseInitMessage(absl::string_view(message, n > 0 ? static_cast<size_t>(n) : 0),
                               n <= 0, exit_code)) {
        case InitMessage::kStarted:
          break;
        case InitMessage::kExited:
          drain_until = absl::Now() + kDrain;
          break;
        case InitMessage::kCannotStart:
          // What the init said is not repeated: it is the container's text, not ours.
          return absl::InternalError("the container's init could not start the command");
        case InitMessage::kGone:
        case InitMessage::kMalformed:
          // The container is dead or its init is not the one we started: what was read of the
          // command's output is still evidence.
          if (!stopped) stop();
          result.init_lost = true;
          result.exit_code = -1;
          result.output = output.Text();
          result.duration = absl::Now() - start;
          return result;
      }
    }
    if (exit_code && eof) break;
    const absl::Time now = absl::Now();
    if (exit_code && now >= drain_until) {
      // Ended, but something it left still holds the output: free it, then stop reading.
      if (!stopped) stop();
      break;
    }
    if (!exit_code && !stopped && (now >= deadline || (cancelled && cancelled()))) {
      (now >= deadline ? result.timed_out : result.cancelled) = true;
      stopped = true;
      stop();
      kill_at = now + kGrace;
    }
    if (!exit_code && now >= kill_at) {
      return absl::DeadlineExceededError("the command survived being stopped");
    }
  }
  result.exit_code = *exit_code;
  result.output = output.Text();
  result.duration = absl::Now() - start;
  return result;
}

}  // namespace ovvoc::agent::sandbox
