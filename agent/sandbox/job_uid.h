// JobUid: the uid (and gid) a job's container runs as, its own for as long as the job lives.
//
// Per-uid kernel limits (inotify instances and watches, RLIMIT_NPROC, POSIX message queue bytes,
// pipe buffer pages, epoll watches) are counted across the whole host, and a process may signal
// any other of its uid. Jobs that shared a uid could starve or signal each other through them,
// so no two live jobs on a host share one, whichever agent runs them: a uid is held through an
// exclusive flock on a file named after it in a root-only directory, which the kernel releases
// when its holder dies, so a crashed agent leaks nothing.
//
// Uids come from [kFirstJobUid, kFirstJobUid + kJobUids); the job image's /etc/passwd names each
// "ovvoc" (deploy/image/build.sh). Thread-safe.
#ifndef OVVOC_AGENT_SANDBOX_JOB_UID_H_
#define OVVOC_AGENT_SANDBOX_JOB_UID_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "common/unique_fd.h"

namespace ovvoc::agent::sandbox {

inline constexpr uint32_t kFirstJobUid = 10001;
inline constexpr uint32_t kJobUids = 256;
// Where the locks live: on tmpfs, so a reboot forgets them.
inline constexpr char kJobUidLockDir[] = "/run/ovvoc/job-uids";

class JobUid {
 public:
  // The first free uid of the range. ResourceExhausted when every one is held.
  static absl::StatusOr<JobUid> Acquire(const std::string& lock_dir = kJobUidLockDir);

  uint32_t uid() const { return uid_; }

 private:
  JobUid(uint32_t uid, UniqueFd lock) : uid_(uid), lock_(std::move(lock)) {}
  uint32_t uid_;
  UniqueFd lock_;  // held flock; closing it frees the uid
};

}  // namespace ovvoc::agent::sandbox

#endif  // OVVOC_AGENT_SANDBOX_JOB_UID_H_
