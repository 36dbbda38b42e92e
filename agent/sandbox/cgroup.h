// ContainerCgroup: a running container's cgroup, found from its init pid, for what the
// container runtime does not tell us: the processes in it (to kill strays), peak memory, CPU
// time, and whether the OOM killer or the pids limit struck. Works on cgroup v1 (one hierarchy
// per controller, as on this agent's hosts) and v2. Immutable; thread-safe.
#ifndef OVVOC_AGENT_SANDBOX_CGROUP_H_
#define OVVOC_AGENT_SANDBOX_CGROUP_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ovvoc::agent::sandbox {

class ContainerCgroup {
 public:
  struct Counters {
    uint64_t oom_kills = 0;        // processes the OOM killer took
    uint64_t pids_max_hits = 0;    // forks refused by the pids limit
    uint64_t peak_memory = 0;      // bytes, since the last ResetPeakMemory()
    absl::Duration cpu_time;       // total CPU used
    uint64_t memory_limit = 0;     // as configured
    uint64_t pids_limit = 0;       // as configured
  };

  // `root` is where cgroup filesystems are mounted (tests may point elsewhere).
  static absl::StatusOr<ContainerCgroup> ForPid(int pid,
                                                const std::string& root = "/sys/fs/cgroup");

  absl::StatusOr<std::vector<int>> Pids() const;
  // SIGKILLs every process but `keep`, freezing the cgroup meanwhile when it can, so a fork
  // bomb cannot outrun it. Returns once only `keep` is left (or after ~2 s, with an error).
  absl::Status KillAllExcept(int keep) const;
  Counters Read() const;
  void ResetPeakMemory() const;

  // Memory in use now (memory.stat): what the processes hold, apart from the page cache.
  // The cgroup's own peak counts both, and cached file data (npm's cache, node_modules read by
  // a build) fills a container to its limit without any process needing it.
  struct MemoryUse {
    uint64_t working_set = 0;  // anonymous memory and tmpfs: what the OOM killer weighs
    uint64_t cache = 0;        // file data the kernel reclaims under pressure
  };
  MemoryUse ReadMemory() const;

 private:
  bool v2_ = false;
  std::string memory_;   // controller directories (all the same one on v2)
  std::string pids_;
  std::string cpu_;
  std::string freezer_;  // empty when there is none
};

// memory.stat's text as MemoryUse: on v1 the hierarchy's totals (total_rss, total_shmem,
// total_cache, where cache includes shmem), on v2 anon, shmem and file (file includes shmem).
ContainerCgroup::MemoryUse ParseMemoryStat(absl::string_view stat, bool v2);

}  // namespace ovvoc::agent::sandbox

#endif  // OVVOC_AGENT_SANDBOX_CGROUP_H_
