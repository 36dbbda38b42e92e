// Loop devices: a file of the agent's (a job disk, the job image's rootfs) as a block device to
// mount. Needs root.
#ifndef OVVOC_AGENT_SANDBOX_LOOP_DEVICE_H_
#define OVVOC_AGENT_SANDBOX_LOOP_DEVICE_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/unique_fd.h"

namespace ovvoc::agent::sandbox {

struct LoopDevice {
  std::string device;  // "/dev/loop7"
  UniqueFd fd;         // keep open until mounted: with autoclear, the last close detaches
};

// Attaches `image` to a free loop device, with autoclear: it detaches once it is unmounted and
// `fd` is closed. `read_only`: the device cannot write the file.
absl::StatusOr<LoopDevice> AttachLoop(const std::string& image, bool read_only);

// Mounts the ext4 filesystem image `image` read-only (and nodev, nosuid) at `dir`; its loop
// device goes away with the mount (umount2(dir, MNT_DETACH)).
absl::Status MountImageReadOnly(const std::string& image, const std::string& dir);

}  // namespace ovvoc::agent::sandbox

#endif  // OVVOC_AGENT_SANDBOX_LOOP_DEVICE_H_
