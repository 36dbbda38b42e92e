#include "agent/workspace/beneath.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/unique_fd.h"

namespace ovvoc::agent {
namespace {

absl::Status OpenError(int err, absl::string_view relative) {
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(absl::StrCat(relative, " does not exist"));
    case ELOOP:
    case EXDEV:
      return absl::PermissionDeniedError(
          absl::StrCat(relative, " is (or passes through) a symlink; refusing to follow it"));
    default:
      return absl::InternalError(absl::StrCat("cannot open ", relative, ": ", std::strerror(err)));
  }
}

}  // namespace

absl::StatusOr<std::string> ReadFileBeneath(const std::string& root, absl::string_view relative,
                                            size_t max_bytes) {
  if (relative.empty() || relative.front() == '/') {
    return absl::InvalidArgumentError(absl::StrCat("\"", relative, "\" is not a relative path"));
  }
  UniqueFd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) return OpenError(errno, root);

  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;  // NONBLOCK: a FIFO cannot hang us
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  std::string path(relative);
  UniqueFd fd(static_cast<int>(::syscall(SYS_openat2, dir.get(), path.c_str(), &how, sizeof how)));
  if (fd.get() < 0) return OpenError(errno, relative);

  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return OpenError(errno, relative);
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(relative, " is not a regular file"));
  }
  if (static_cast<size_t>(st.st_size) > max_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat(relative, " is ", st.st_size, " bytes; the limit is ", max_bytes));
  }
  std::string out;
  out.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::read(fd.get(), out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

}  // namespace ovvoc::agent
