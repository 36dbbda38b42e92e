// The compiled seccomp filter, installed in a child process exactly as the container's init
// installs it: what the profile denies is denied, what programs need still works.
#include "agent/sandbox/seccomp_filter.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <string>

namespace ovvoc::agent::sandbox {
namespace {

// errno of `call` in a child under the filter (0 when it succeeded), or -1 if the child died.
template <typename Call>
int ErrnoUnderFilter(const std::string& bpf, Call call) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    sock_fprog program{static_cast<unsigned short>(bpf.size() / sizeof(sock_filter)),
                       reinterpret_cast<sock_filter*>(const_cast<char*>(bpf.data()))};
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) != 0) {
      ::_exit(100);
    }
    errno = 0;
    int err = call() < 0 ? errno : 0;
    (void)!::write(fds[1], &err, sizeof err);
    ::_exit(0);
  }
  ::close(fds[1]);
  int err = -1;
  if (::read(fds[0], &err, sizeof err) != sizeof err) err = -1;
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return err;
}

TEST_CASE("the profile compiles to a BPF program") {
  const absl::StatusOr<std::string>& bpf = CompiledSeccompProfile();
  REQUIRE(bpf.ok());
  CHECK(bpf->size() % sizeof(sock_filter) == 0);
  CHECK(bpf->size() / sizeof(sock_filter) > 100);
}

TEST_CASE("under the filter, what jobs must not do fails and the rest works") {
  const absl::StatusOr<std::string>& compiled = CompiledSeccompProfile();
  REQUIRE(compiled.ok());
  const std::string& bpf = *compiled;
  CHECK(ErrnoUnderFilter(bpf, [] { return ::getpid() > 0 ? 0 : -1; }) == 0);
  CHECK(ErrnoUnderFilter(bpf, [] { return ::socket(AF_INET, SOCK_STREAM, 0); }) == 0);
  CHECK(ErrnoUnderFilter(bpf, [] { return static_cast<int>(::ptrace(PTRACE_TRACEME, 0, 0, 0)); }) ==
        EPERM);
  CHECK(ErrnoUnderFilter(bpf, [] { return ::unshare(CLONE_NEWUSER); }) == EPERM);
  CHECK(ErrnoUnderFilter(bpf, [] { return ::mount("none", "/tmp", "tmpfs", 0, nullptr); }) ==
        EPERM);
  CHECK(ErrnoUnderFilter(bpf, [] { return ::socket(AF_VSOCK, SOCK_STREAM, 0); }) == EPERM);
  CHECK(ErrnoUnderFilter(bpf, [] { return static_cast<int>(::syscall(SYS_clone3, nullptr, 0)); }) ==
        ENOSYS);
  CHECK(ErrnoUnderFilter(bpf, [] {
          return static_cast<int>(::syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0));
        }) == EPERM);
}

}  // namespace
}  // namespace ovvoc::agent::sandbox
