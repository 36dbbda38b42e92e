#include "tests/support/fresh_netns.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/unique_fd.h"

namespace ovvoc::testing {

FreshNetns::FreshNetns() : thread_([this] { Hold(); }) { ready_.WaitForNotification(); }

FreshNetns::~FreshNetns() {
  release_.Notify();
  thread_.join();
}

void FreshNetns::Hold() {
  status_ = Enter();
  ready_.Notify();
  release_.WaitForNotification();
}

absl::Status FreshNetns::Enter() {
  if (::unshare(CLONE_NEWNET) != 0) return absl::ErrnoToStatus(errno, "unshare(CLONE_NEWNET)");
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(s.get(), SIOCGIFFLAGS, &ifr) != 0) return absl::ErrnoToStatus(errno, "SIOCGIFFLAGS");
  ifr.ifr_flags |= IFF_UP;
  if (::ioctl(s.get(), SIOCSIFFLAGS, &ifr) != 0) return absl::ErrnoToStatus(errno, "SIOCSIFFLAGS");
  tid_ = ::gettid();
  path_ = absl::StrCat("/proc/self/task/", tid_, "/ns/net");
  return absl::OkStatus();
}

bool RunInNetns(const std::string& path, const std::function<void()>& work) {
  bool entered = false;
  std::thread([&] {
    UniqueFd ns(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns.valid() || ::setns(ns.get(), CLONE_NEWNET) != 0) return;
    entered = true;
    work();
  }).join();
  return entered;
}

}  // namespace ovvoc::testing
