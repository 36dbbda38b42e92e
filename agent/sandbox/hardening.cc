#include "agent/sandbox/hardening.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "agent/sandbox/seccomp_profile.h"  // generated from seccomp/profile.json

namespace ovvoc::agent::sandbox {

const nlohmann::json& SeccompProfile() {
  static const auto* profile = new nlohmann::json(nlohmann::json::parse(kSeccompProfileJson));
  return *profile;
}

const std::vector<std::string>& MaskedPaths() {
  static const auto* paths = new std::vector<std::string>{
      // What Docker masks by default.
      "/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
      "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
      "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
      // The host and its other jobs: the kernel's command line and boot id, the disks (every
      // job's loop device, its backing file's host path and its I/O), swap files, file locks
      // (the agents' own), loaded modules. (Each costs a mount per container: root-only files
      // such as slabinfo, and host-wide figures programs read, like /proc/stat, are left.)
      "/proc/cmdline", "/proc/sys/kernel/random/boot_id", "/proc/diskstats", "/proc/partitions",
      "/proc/swaps", "/proc/locks", "/proc/modules", "/proc/sysrq-trigger",
      // Filesystem instances: /proc/fs/ext4/loopN lists every job disk and how full it is.
      "/proc/fs",
      // All of sysfs but the container's own cgroups (/sys/fs/cgroup, where node reads its
      // limits): devices, disks, drivers, the kernel's knobs, other filesystems' instances.
      "/sys/block", "/sys/bus", "/sys/class", "/sys/dev", "/sys/devices", "/sys/hypervisor",
      "/sys/kernel", "/sys/module", "/sys/power", "/sys/fs/bpf", "/sys/fs/btrfs", "/sys/fs/erofs",
      "/sys/fs/ext4", "/sys/fs/f2fs", "/sys/fs/fuse", "/sys/fs/pstore", "/sys/fs/selinux",
      "/sys/fs/tmpfs", "/sys/fs/xfs"};
  return *paths;
}

const std::vector<std::string>& ReadonlyPaths() {
  static const auto* paths = new std::vector<std::string>{"/proc/bus", "/proc/irq", "/proc/sys"};
  return *paths;
}

std::string NodeHeapOptions(uint64_t memory_bytes) {
  const uint64_t mib = memory_bytes >> 20;
  const uint64_t semi_space = std::clamp<uint64_t>(mib / 32, 1, 16);
  return absl::StrCat("--max-old-space-size=", std::max<uint64_t>(mib * 3 / 4, 16),
                      " --max-semi-space-size=", semi_space);
}

std::vector<std::string> BaseEnvironment(const Limits& limits) {
  return {"NODE_OPTIONS=" + NodeHeapOptions(limits.memory_bytes),
          absl::StrCat("PATH=", kPath), "HOME=/home/ovvoc", "USER=ovvoc", "LANG=C.UTF-8",
          // What a CI runner gives: tests that print dates or sort by locale expect it.
          "CI=true", "TZ=UTC",
          // npm turns on node's compile cache, kept in /tmp for the container's life: a
          // dependency could plant code there that later phases' npm would run instead of its
          // own (red team, issue 7).
          "NODE_DISABLE_COMPILE_CACHE=1",
          // node bundles its own CA list; the image's system bundle is the one to trust (it
          // also carries any CA an enterprise mirror or proxy uses).
          "NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt",
          // node-gyp builds an addon against the image's node headers: a job has no network to
          // download them. (node-gyp 11, npm 11's, reads this name; npm 11 warns of an unknown
          // npm_config_nodedir.)
          "npm_package_config_node_gyp_nodedir=/usr/local",
          // npm: a clean configuration of our own, never the host's, and no user config a
          // dependency could write to change how later phases run their scripts: the user
          // config is a file that does not exist in /run, the agent's read-only dir (npm
          // refuses /dev/null twice).
          "npm_config_userconfig=/run/npmrc", "npm_config_globalconfig=/dev/null",
          "npm_config_cache=/home/ovvoc/.npm", "npm_config_update_notifier=false",
          "npm_config_fund=false", "npm_config_audit=false", "npm_config_progress=false",
          // A registry that is down should fail the job in seconds, not after npm's default
          // minute of backoff; two retries still ride out a blip.
          "npm_config_fetch_retries=2", "npm_config_fetch_retry_mintimeout=2000",
          "npm_config_fetch_retry_maxtimeout=8000"};
}

}  // namespace ovvoc::agent::sandbox
