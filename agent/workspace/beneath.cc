#include "agent/workspace/beneath.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
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

// `relative` under `root`, opened read-only without following a symlink or leaving `root`;
// `st` is filled in. A regular file only.
absl::StatusOr<UniqueFd> OpenRegularBeneath(const std::string& root, absl::string_view relative,
                                            struct stat& st) {
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
  if (::fstat(fd.get(), &st) != 0) return OpenError(errno, relative);
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(relative, " is not a regular file"));
  }
  return fd;
}

}  // namespace

absl::Status CheckRegularFileBeneath(const std::string& root, absl::string_view relative) {
  struct stat st;
  return OpenRegularBeneath(root, relative, st).status();
}

absl::Status RemoveFileBeneath(const std::string& root, absl::string_view name) {
  if (name.empty() || name == "." || name == ".." || absl::StrContains(name, '/')) {
    return absl::InvalidArgumentError(absl::StrCat("\"", name, "\" is not a file name"));
  }
  UniqueFd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (dir.get() < 0) return OpenError(errno, root);
  const std::string file(name);
  if (::unlinkat(dir.get(), file.c_str(), 0) != 0 && errno != ENOENT) {
    if (errno != EISDIR || ::unlinkat(dir.get(), file.c_str(), AT_REMOVEDIR) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot remove what stands at ", name, ": ", std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ListDirBeneath(const std::string& root,
                                                        absl::string_view relative,
                                                        size_t max_entries) {
  UniqueFd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) return OpenError(errno, root);
  open_how how{};
  how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  std::string path(relative);
  const int fd =
      static_cast<int>(::syscall(SYS_openat2, dir.get(), path.c_str(), &how, sizeof how));
  if (fd < 0) return OpenError(errno, relative);
  std::unique_ptr<DIR, decltype(&::closedir)> listing(::fdopendir(fd), ::closedir);
  if (!listing) {
    ::close(fd);
    return OpenError(errno, relative);
  }
  std::vector<std::string> names;
  while (const dirent* entry = ::readdir(listing.get())) {
    const absl::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    if (names.size() >= max_entries) break;
    names.emplace_back(name);
  }
  return names;
}

absl::Status ReplaceFileBeneath(const std::string& root, absl::string_view name,
                                absl::string_view content, uid_t uid, gid_t gid, mode_t mode) {
  // Whatever stands there goes first; a directory with contents is refused.
  OVVOC_RETURN_IF_ERROR(RemoveFileBeneath(root, name));
  UniqueFd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (dir.get() < 0) return OpenError(errno, root);
  const std::string file(name);
  UniqueFd fd(::openat(dir.get(), file.c_str(),
                       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (fd.get() < 0) return OpenError(errno, name);
  for (size_t done = 0; done < content.size();) {
    const ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot write ", name, ": ", std::strerror(errno)));
    done += static_cast<size_t>(n);
  }
  if (::fchown(fd.get(), uid, gid) != 0 || ::fchmod(fd.get(), mode) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot set the owner of ", name, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFileBeneath(const std::string& root, absl::string_view relative,
                                            size_t max_bytes) {
  struct stat st;
  absl::StatusOr<UniqueFd> opened = OpenRegularBeneath(root, relative, st);
  if (!opened.ok()) return opened.status();
  UniqueFd fd = *std::move(opened);
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
