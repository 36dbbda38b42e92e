#include "agent/workspace/tree_copy.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "agent/workspace/beneath.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"

namespace ovvoc::agent {
namespace {

constexpr mode_t kCopiedModeBits = 0777;  // never set-id or sticky

absl::Status Errno(absl::string_view what, absl::string_view path, int err) {
  switch (err) {  // what creating and writing add to beneath.h's
    case EEXIST:
      return absl::AlreadyExistsError(absl::StrCat(path, " already exists"));
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot ", what, " ", path, ": ", std::strerror(err)));
    default:
      return BeneathError(what, path, err);
  }
}

// OpenDirBeneath, saying PermissionDenied for a symlink at the end too: it fails the directory
// open as "not a directory", and the plain open says what it is.
absl::StatusOr<UniqueFd> OpenDirNoLink(const std::string& root, absl::string_view relative) {
  absl::StatusOr<UniqueFd> dir = OpenDirBeneath(root, relative);
  if (dir.ok() || absl::IsNotFound(dir.status()) || relative.empty()) return dir;
  if (absl::Status plain = CheckRegularFileBeneath(root, relative);
      absl::IsPermissionDenied(plain)) {
    return plain;
  }
  return dir;
}

class Copier {
 public:
  explicit Copier(const TreeCopyOptions& options) : options_(options) {}

  const TreeCopyStats& stats() const { return stats_; }

  // Everything in `from` into the empty directory `to`; `path` names `from` in errors.
  absl::Status CopyDir(int from, int to, const std::string& path, size_t depth) {
    if (depth > options_.max_depth) {
      return absl::ResourceExhaustedError(
          absl::StrCat(path, " is more than ", options_.max_depth, " directories deep"));
    }
    const int listing_fd = ::fcntl(from, F_DUPFD_CLOEXEC, 0);
    if (listing_fd < 0) return Errno("read", path, errno);
    std::unique_ptr<DIR, decltype(&::closedir)> listing(::fdopendir(listing_fd), ::closedir);
    if (!listing) {
      ::close(listing_fd);
      return Errno("read", path, errno);
    }
    errno = 0;
    while (const dirent* entry = ::readdir(listing.get())) {
      const std::string name = entry->d_name;
      if (name == "." || name == "..") continue;
      if (++entries_ > options_.max_entries) {
        return absl::ResourceExhaustedError(
            absl::StrCat("more than ", options_.max_entries, " names to copy"));
      }
      if (depth == 1 && std::find(options_.skip_names.begin(), options_.skip_names.end(), name) !=
                            options_.skip_names.end()) {
        ++stats_.skipped;
        continue;
      }
      std::string entry_path = absl::StrCat(path, "/", name);
      if (options_.skip_paths.count(entry_path) > 0) {
        ++stats_.skipped;
        continue;
      }
      OVVOC_RETURN_IF_ERROR(CopyEntry(from, to, name, entry_path, depth));
      errno = 0;
    }
    if (errno != 0) return Errno("read", path, errno);
    return absl::OkStatus();
  }

 private:
  absl::Status CopyEntry(int from, int to, const std::string& name, const std::string& path,
                         size_t depth) {
    struct stat st;
    if (::fstatat(from, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return Errno("read", path, errno);
    }
    if (S_ISDIR(st.st_mode)) return CopySubdir(from, to, name, path, depth);
    if (S_ISREG(st.st_mode)) return CopyFile(from, to, name, path);
    if (S_ISLNK(st.st_mode)) return CopyLink(from, to, name, path, st);
    ++stats_.skipped;  // a FIFO, a socket, a device: nothing npm made
    return absl::OkStatus();
  }

  absl::Status CopySubdir(int from, int to, const std::string& name, const std::string& path,
                          size_t depth) {
    UniqueFd src(::openat(from, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (src.get() < 0) return Errno("open", path, errno);
    struct stat st;
    if (::fstat(src.get(), &st) != 0) return Errno("read", path, errno);
    if (::mkdirat(to, name.c_str(), 0700) != 0) return Errno("make", path, errno);
    UniqueFd dst(::openat(to, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (dst.get() < 0) return Errno("open the copy of", path, errno);
    ++stats_.dirs;
    OVVOC_RETURN_IF_ERROR(CopyDir(src.get(), dst.get(), path, depth + 1));
    return Finish(dst.get(), st, path);
  }

  absl::Status CopyFile(int from, int to, const std::string& name, const std::string& path) {
    // NONBLOCK: a FIFO swapped in cannot hang the agent (no job process runs meanwhile, but the
    // fstat below is what decides).
    UniqueFd src(::openat(from, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (src.get() < 0) return Errno("open", path, errno);
    struct stat st;
    if (::fstat(src.get(), &st) != 0) return Errno("read", path, errno);
    if (!S_ISREG(st.st_mode)) {
      ++stats_.skipped;
      return absl::OkStatus();
    }
    // Holes stay holes (red team, issue 12: a sparse file of 1.9 GB that took no room on the job's
    // disk filled the host's): only data is copied, and counted.
    const off_t size = st.st_size;
    const uint64_t budget = options_.max_bytes - std::min(options_.max_bytes, stats_.bytes);
    const uint64_t allocated =
        std::min<uint64_t>(static_cast<uint64_t>(size), static_cast<uint64_t>(st.st_blocks) * 512);
    if (allocated > budget) return TooManyBytes(path);
    UniqueFd dst(
        ::openat(to, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (dst.get() < 0) return Errno("make", path, errno);
    uint64_t done = 0;
    for (off_t at = 0; at < size;) {
      off_t data = ::lseek(src.get(), at, SEEK_DATA);
      if (data < 0 && errno == ENXIO) break;  // only a hole from here on
      const off_t hole = data < 0 ? -1 : ::lseek(src.get(), data, SEEK_HOLE);
      if (data < 0 || hole < 0 || ::lseek(dst.get(), data, SEEK_SET) < 0) {
        return Errno("copy", path, errno);
      }
      while (data < hole) {
        const ssize_t n = ::sendfile(dst.get(), src.get(), &data,
                                     static_cast<size_t>(std::min<off_t>(hole - data, 1 << 30)));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Errno("copy", path, errno);
        if (n == 0) break;  // shorter than it was: what it holds now is the copy
        done += static_cast<uint64_t>(n);
        if (done > budget) return TooManyBytes(path);
      }
      at = hole;
    }
    if (::ftruncate(dst.get(), size) != 0) return Errno("copy", path, errno);
    stats_.bytes += done;
    ++stats_.files;
    return Finish(dst.get(), st, path);
  }

  absl::Status CopyLink(int from, int to, const std::string& name, const std::string& path,
                        const struct stat& st) {
    char target[PATH_MAX];
    const ssize_t n = ::readlinkat(from, name.c_str(), target, sizeof target);
    if (n < 0) return Errno("read", path, errno);
    if (static_cast<size_t>(n) >= sizeof target) {
      return absl::ResourceExhaustedError(absl::StrCat(path, "'s link target is too long"));
    }
    const std::string text(target, static_cast<size_t>(n));
    if (::symlinkat(text.c_str(), to, name.c_str()) != 0) return Errno("make", path, errno);
    if (::fchownat(to, name.c_str(), options_.uid, options_.gid, AT_SYMLINK_NOFOLLOW) != 0) {
      return Errno("set the owner of", path, errno);
    }
    const struct timespec times[2] = {st.st_atim, st.st_mtim};
    (void)::utimensat(to, name.c_str(), times, AT_SYMLINK_NOFOLLOW);
    ++stats_.links;
    return absl::OkStatus();
  }

  // Owner, mode (without set-id and sticky bits) and times, once the contents are in.
  absl::Status Finish(int fd, const struct stat& st, const std::string& path) {
    if (::fchown(fd, options_.uid, options_.gid) != 0 ||
        ::fchmod(fd, st.st_mode & kCopiedModeBits) != 0) {
      return Errno("set the owner of", path, errno);
    }
    const struct timespec times[2] = {st.st_atim, st.st_mtim};
    (void)::futimens(fd, times);
    return absl::OkStatus();
  }

  absl::Status TooManyBytes(const std::string& path) const {
    return absl::ResourceExhaustedError(
        absl::StrCat("more than ", options_.max_bytes, " bytes to copy (at ", path, ")"));
  }

  const TreeCopyOptions& options_;
  TreeCopyStats stats_;
  size_t entries_ = 0;
};

// "a/b/c" -> {"a/b", "c"}; "c" -> {"", "c"}.
std::pair<std::string, std::string> SplitLast(absl::string_view relative) {
  const size_t slash = relative.rfind('/');
  if (slash == absl::string_view::npos) return {"", std::string(relative)};
  return {std::string(relative.substr(0, slash)), std::string(relative.substr(slash + 1))};
}

}  // namespace

absl::StatusOr<TreeCopyStats> CopyTreeBeneath(const std::string& from_root,
                                              absl::string_view from_relative,
                                              const std::string& to_root,
                                              absl::string_view to_relative,
                                              const TreeCopyOptions& options) {
  OVVOC_ASSIGN_OR_RETURN(UniqueFd from, OpenDirNoLink(from_root, from_relative));
  struct stat st;
  if (::fstat(from.get(), &st) != 0) return Errno("read", from_relative, errno);
  const auto [parent_path, name] = SplitLast(to_relative);
  if (name.empty() || name == "." || name == "..") {
    return absl::InvalidArgumentError(absl::StrCat("\"", to_relative, "\" names no directory"));
  }
  OVVOC_ASSIGN_OR_RETURN(UniqueFd parent, OpenDirNoLink(to_root, parent_path));
  if (::mkdirat(parent.get(), name.c_str(), 0700) != 0) return Errno("make", to_relative, errno);
  UniqueFd to(
      ::openat(parent.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (to.get() < 0) return Errno("open", to_relative, errno);
  Copier copier(options);
  OVVOC_RETURN_IF_ERROR(copier.CopyDir(from.get(), to.get(), std::string(from_relative), 1));
  if (::fchown(to.get(), options.uid, options.gid) != 0 ||
      ::fchmod(to.get(), st.st_mode & kCopiedModeBits) != 0) {
    return Errno("set the owner of", to_relative, errno);
  }
  const struct timespec times[2] = {st.st_atim, st.st_mtim};
  (void)::futimens(to.get(), times);
  return copier.stats();
}

}  // namespace ovvoc::agent
