#include "agent/sandbox/job_uid.h"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/files.h"

namespace ovvoc::agent::sandbox {

absl::StatusOr<JobUid> JobUid::Acquire(const std::string& lock_dir) {
  if (absl::Status s = files::EnsureDir(lock_dir, 0700); !s.ok()) return s;
  for (uint32_t uid = kFirstJobUid; uid < kFirstJobUid + kJobUids; ++uid) {
    const std::string path = absl::StrCat(lock_dir, "/", uid);
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd.valid()) {
      return absl::InternalError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
    }
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) return JobUid(uid, std::move(fd));
    if (errno != EWOULDBLOCK) {
      return absl::InternalError(absl::StrCat("cannot lock ", path, ": ", std::strerror(errno)));
    }
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("all ", kJobUids, " job uids (", kFirstJobUid, "-", kFirstJobUid + kJobUids - 1,
                   ") are held by running jobs on this host; run fewer slots"));
}

}  // namespace ovvoc::agent::sandbox
