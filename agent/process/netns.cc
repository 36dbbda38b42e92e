#include "agent/process/netns.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/unique_fd.h"

namespace ovvoc::agent {

absl::Status RunInNetns(const std::string& netns_path, const std::function<absl::Status()>& work) {
  absl::Status result;
  std::thread thread([&] {
    UniqueFd ns(::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns.valid() || ::setns(ns.get(), CLONE_NEWNET) != 0) {
      result = absl::InternalError(
          absl::StrCat("cannot join network namespace ", netns_path, ": ", std::strerror(errno)));
      return;
    }
    result = work();
  });
  thread.join();
  return result;
}

absl::Status BringLoopbackUp(const std::string& netns_path) {
  return RunInNetns(netns_path, []() -> absl::Status {
    UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ifreq request{};
    std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
    if (!sock.valid() || ::ioctl(sock.get(), SIOCGIFFLAGS, &request) != 0) {
      return absl::InternalError(absl::StrCat("cannot read lo's flags: ", std::strerror(errno)));
    }
    request.ifr_flags |= IFF_UP;
    if (::ioctl(sock.get(), SIOCSIFFLAGS, &request) != 0) {
      return absl::InternalError(absl::StrCat("cannot set lo up: ", std::strerror(errno)));
    }
    return absl::OkStatus();
  });
}

}  // namespace ovvoc::agent
