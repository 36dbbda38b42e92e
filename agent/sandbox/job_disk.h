// JobDisk: the job's own filesystem and its hard disk cap. A sparse file of the cap's size,
// formatted ext4 and loop-mounted nosuid,nodev; it holds tree/ (mounted at /workspace) and
// home/ (at /home/ovvoc), owned by the job's uid, and control/ (at /run, read-only), root's.
// Filling it ends in ENOSPC for the job and touches nothing else on the host. Needs root (loop
// devices, mount).
#ifndef OVVOC_AGENT_SANDBOX_JOB_DISK_H_
#define OVVOC_AGENT_SANDBOX_JOB_DISK_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace ovvoc::agent::sandbox {

class JobDisk {
 public:
  // Creates `image_path` (bytes long, sparse), formats it and mounts it at `mount_dir`; tree/
  // and home/ belong to `uid`.
  static absl::StatusOr<std::unique_ptr<JobDisk>> Create(const std::string& image_path,
                                                         const std::string& mount_dir,
                                                         uint64_t bytes, uint32_t uid);
  ~JobDisk();
  JobDisk(const JobDisk&) = delete;
  JobDisk& operator=(const JobDisk&) = delete;

  std::string tree_dir() const { return mount_dir_ + "/tree"; }
  std::string home_dir() const { return mount_dir_ + "/home"; }
  std::string control_dir() const { return mount_dir_ + "/control"; }
  // Root's: the container's hosts, hostname and resolv.conf (SandboxSpec::etc_dir).
  std::string etc_dir() const { return mount_dir_ + "/etc"; }
  // What the job has written (beyond what the empty filesystem takes itself); 0 when the disk
  // cannot be read.
  uint64_t UsedBytes() const;
  // Out of room (or nearly): of bytes, or of inodes.
  bool Full() const;

  // Unmounts (lazily, so an open file cannot block it), frees the loop device and deletes the
  // image. Idempotent.
  absl::Status Release();

  // Unmounts every mount at or below `dir`: job disks of an agent that crashed.
  static void UnmountAllUnder(const std::string& dir);

 private:
  JobDisk(std::string image_path, std::string mount_dir)
      : image_path_(std::move(image_path)), mount_dir_(std::move(mount_dir)) {}

  const std::string image_path_;
  const std::string mount_dir_;
  bool mounted_ = false;
  uint64_t empty_used_ = 0;  // blocks the fresh filesystem uses itself (inode tables, ...)
};

}  // namespace ovvoc::agent::sandbox

#endif  // OVVOC_AGENT_SANDBOX_JOB_DISK_H_
