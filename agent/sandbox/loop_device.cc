#include "agent/sandbox/loop_device.h"

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace ovvoc::agent::sandbox {
namespace {

absl::Status Errno(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<LoopDevice> AttachLoop(const std::string& image, bool read_only) {
  UniqueFd backing(::open(image.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC));
  if (!backing.valid()) return Errno(absl::StrCat("open ", image));
  UniqueFd control(::open("/dev/loop-control", O_RDWR | O_CLOEXEC));
  if (!control.valid()) return Errno("open /dev/loop-control (is the loop module loaded?)");
  for (int attempt = 0; attempt < 10; ++attempt) {
    int number = ::ioctl(control.get(), LOOP_CTL_GET_FREE);
    if (number < 0) return Errno("LOOP_CTL_GET_FREE");
    std::string device = absl::StrCat("/dev/loop", number);
    UniqueFd loop(::open(device.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC));
    if (!loop.valid()) return Errno(absl::StrCat("open ", device));
    loop_config config{};
    config.fd = static_cast<uint32_t>(backing.get());
    config.info.lo_flags = LO_FLAGS_AUTOCLEAR | (read_only ? LO_FLAGS_READ_ONLY : 0);
    if (::ioctl(loop.get(), LOOP_CONFIGURE, &config) == 0) {
      return LoopDevice{device, std::move(loop)};
    }
    if (errno != EBUSY) return Errno(absl::StrCat("LOOP_CONFIGURE ", device));
    // Another process took it between GET_FREE and CONFIGURE: ask again.
  }
  return absl::UnavailableError("no free loop device");
}

absl::Status MountImageReadOnly(const std::string& image, const std::string& dir) {
  absl::StatusOr<LoopDevice> loop = AttachLoop(image, /*read_only=*/true);
  if (!loop.ok()) return loop.status();
  if (::mount(loop->device.c_str(), dir.c_str(), "ext4",
              MS_RDONLY | MS_NODEV | MS_NOSUID | MS_NOATIME, "") != 0) {
    return Errno(absl::StrCat("mount ", image, " on ", dir));
  }
  return absl::OkStatus();
}

}  // namespace ovvoc::agent::sandbox
