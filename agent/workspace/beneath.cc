#include "agent/workspace/beneath.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"

namespace ovvoc::agent {

absl::Status BeneathError(absl::string_view what, absl::string_view path, int err) {
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(absl::StrCat(path, " does not exist"));
    case ELOOP:
    case EXDEV:
      return absl::PermissionDeniedError(
          absl::StrCat(path, " is (or passes through) a symlink; refusing to follow it"));
    default:
      return absl::InternalError(
          absl::StrCat("cannot ", what, " ", path, ": ", std::strerror(err)));
  }
}

namespace {

absl::Status OpenError(int err, absl::string_view relative) {
  return BeneathError("open", relative, err);
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

namespace {

absl::Status CheckName(absl::string_view name) {
  if (name.empty() || name == "." || name == ".." || absl::StrContains(name, '/')) {
    return absl::InvalidArgumentError(absl::StrCat("\"", name, "\" is not a file name"));
  }
  return absl::OkStatus();
}

// RemoveFileBeneath and ReplaceFileBeneath, in an open directory.
absl::Status RemoveFileAt(int dir, const std::string& name) {
  if (::unlinkat(dir, name.c_str(), 0) != 0 && errno != ENOENT) {
    if (errno != EISDIR || ::unlinkat(dir, name.c_str(), AT_REMOVEDIR) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot remove what stands at ", name, ": ", std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

absl::Status ReplaceFileAt(int dir, const std::string& name, absl::string_view content, uid_t uid,
                           gid_t gid, mode_t mode) {
  OVVOC_RETURN_IF_ERROR(RemoveFileAt(dir, name));
  UniqueFd fd(
      ::openat(dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (fd.get() < 0) return OpenError(errno, name);
  for (size_t done = 0; done < content.size();) {
    const ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot write ", name, ": ", std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
  if (::fchown(fd.get(), uid, gid) != 0 || ::fchmod(fd.get(), mode) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot set the owner of ", name, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RemoveFileBeneath(const std::string& root, absl::string_view name) {
  OVVOC_RETURN_IF_ERROR(CheckName(name));
  UniqueFd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (dir.get() < 0) return OpenError(errno, root);
  return RemoveFileAt(dir.get(), std::string(name));
}

absl::StatusOr<std::vector<std::string>> ListDirBeneath(const std::string& root,
                                                        absl::string_view relative,
                                                        size_t max_entries) {
  OVVOC_ASSIGN_OR_RETURN(UniqueFd fd, OpenDirBeneath(root, relative));
  std::unique_ptr<DIR, decltype(&::closedir)> listing(::fdopendir(fd.get()), ::closedir);
  if (!listing) return OpenError(errno, relative);
  fd.release();  // the listing owns it
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
  OVVOC_RETURN_IF_ERROR(CheckName(name));
  UniqueFd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (dir.get() < 0) return OpenError(errno, root);
  return ReplaceFileAt(dir.get(), std::string(name), content, uid, gid, mode);
}

absl::Status WriteFileBeneath(const std::string& root, absl::string_view relative,
                              absl::string_view content, uid_t uid, gid_t gid, mode_t mode) {
  UniqueFd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (dir.get() < 0) return OpenError(errno, root);
  std::vector<std::string> parts = absl::StrSplit(relative, '/');
  const std::string name = parts.back();
  OVVOC_RETURN_IF_ERROR(CheckName(name));
  parts.pop_back();
  for (const std::string& part : parts) {
    OVVOC_RETURN_IF_ERROR(CheckName(part));
    UniqueFd next(
        ::openat(dir.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid()) return OpenError(errno, relative);
    dir = std::move(next);
  }
  return ReplaceFileAt(dir.get(), name, content, uid, gid, mode);
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

namespace {

// The directory `relative` beneath `root`, made (owned by uid:gid) where it is missing and
// replacing whatever non-directory stands in its way; never through a symlink.
absl::StatusOr<UniqueFd> MakeDirBeneath(int root, const std::filesystem::path& relative, uid_t uid,
                                        gid_t gid) {
  UniqueFd dir(::fcntl(root, F_DUPFD_CLOEXEC, 0));
  for (const std::filesystem::path& part : relative) {
    const std::string name = part.string();
    if (name.empty() || name == ".") continue;
    if (name == "..") return absl::InvalidArgumentError("\"..\" in a path");
    UniqueFd next(
        ::openat(dir.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid()) {
      if (::unlinkat(dir.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
        return absl::FailedPreconditionError(
            absl::StrCat("cannot clear ", name, ": ", std::strerror(errno)));
      }
      if (::mkdirat(dir.get(), name.c_str(), 0755) != 0 ||
          ::fchownat(dir.get(), name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0) {
        return absl::InternalError(absl::StrCat("cannot make ", name, ": ", std::strerror(errno)));
      }
      next.reset(
          ::openat(dir.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!next.valid()) return OpenError(errno, name);
    }
    dir = std::move(next);
  }
  return dir;
}

bool Skipped(const std::filesystem::path& relative, const std::vector<std::string>& skip) {
  for (const std::filesystem::path& part : relative) {
    if (part == "node_modules") return true;
  }
  return std::find(skip.begin(), skip.end(), relative.string()) != skip.end();
}

}  // namespace

namespace {

// The directory `relative` beneath `root` as it stands, never through a symlink.
absl::StatusOr<UniqueFd> OpenDirAt(int root, const std::filesystem::path& relative) {
  if (relative.empty()) return UniqueFd(::fcntl(root, F_DUPFD_CLOEXEC, 0));
  open_how how{};
  how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  const std::string path = relative.string();
  UniqueFd fd(static_cast<int>(::syscall(SYS_openat2, root, path.c_str(), &how, sizeof how)));
  if (!fd.valid()) return OpenError(errno, path);
  return fd;
}

// Walks `clone` against `tree`: every path that does not stand in `tree` as in `clone`, put back
// when `restore` (owned by uid:gid), only listed otherwise.
absl::StatusOr<std::vector<std::string>> CompareTree(const std::string& clone,
                                                     const std::string& tree, uid_t uid, gid_t gid,
                                                     const std::vector<std::string>& skip,
                                                     bool restore) {
  namespace fs = std::filesystem;
  UniqueFd root(::open(tree.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!root.valid()) return OpenError(errno, tree);
  std::vector<std::string> differ;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(clone, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path relative = it->path().lexically_relative(clone);  // never through links
    if (relative == ".git" || Skipped(relative, skip)) {
      if (it->is_directory(ec) && !it->is_symlink(ec)) it.disable_recursion_pending();
      continue;
    }
    const fs::file_status status = it->symlink_status(ec);
    if (fs::is_directory(status)) {
      if (restore) OVVOC_RETURN_IF_ERROR(MakeDirBeneath(root.get(), relative, uid, gid).status());
      continue;
    }
    if (!fs::is_symlink(status) && !fs::is_regular_file(status)) continue;
    absl::StatusOr<UniqueFd> parent =
        restore ? MakeDirBeneath(root.get(), relative.parent_path(), uid, gid)
                : OpenDirAt(root.get(), relative.parent_path());
    if (!parent.ok()) {
      if (restore) return parent.status();
      differ.push_back(relative.string());  // its directory is gone or is something else
      continue;
    }
    const std::string name = relative.filename().string();
    if (fs::is_symlink(status)) {
      const std::string target = fs::read_symlink(it->path(), ec).string();
      char now[4096];
      const ssize_t n = ::readlinkat(parent->get(), name.c_str(), now, sizeof now);
      if (n >= 0 && std::string(now, static_cast<size_t>(n)) == target) continue;
      differ.push_back(relative.string());
      if (!restore) continue;
      ::unlinkat(parent->get(), name.c_str(), 0);
      ::unlinkat(parent->get(), name.c_str(), AT_REMOVEDIR);
      if (::symlinkat(target.c_str(), parent->get(), name.c_str()) != 0 ||
          ::fchownat(parent->get(), name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0) {
        return absl::InternalError(absl::StrCat("cannot put back ", relative.string()));
      }
      continue;
    }
    absl::StatusOr<std::string> original = files::ReadFile(it->path().string());
    if (!original.ok()) return original.status();
    absl::StatusOr<std::string> now = ReadFileBeneath(tree, relative.string(), original->size());
    if (now.ok() && *now == *original) continue;
    differ.push_back(relative.string());
    if (!restore) continue;
    const mode_t mode =
        (fs::status(it->path(), ec).permissions() & fs::perms::owner_exec) != fs::perms::none
            ? 0755
            : 0644;
    OVVOC_RETURN_IF_ERROR(ReplaceFileAt(parent->get(), name, *original, uid, gid, mode));
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot read ", clone, ": ", ec.message()));
  return differ;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> RestoreTreeBeneath(const std::string& clone,
                                                            const std::string& tree, uid_t uid,
                                                            gid_t gid,
                                                            const std::vector<std::string>& skip) {
  return CompareTree(clone, tree, uid, gid, skip, /*restore=*/true);
}

namespace {

class AddedWalk {
 public:
  AddedWalk(const std::string& clone, size_t max_paths, AddedPaths& out)
      : clone_(clone), max_paths_(max_paths), out_(out) {}

  // `fresh`: `dir` itself is new, so everything beneath it is.
  void Dir(int dir, const std::string& rel, size_t depth, bool fresh = false) {
    if (depth > kMaxDepth) {
      out_.complete = false;
      return;
    }
    const int copy = ::fcntl(dir, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) return;
    std::unique_ptr<DIR, decltype(&::closedir)> listing(::fdopendir(copy), ::closedir);
    if (!listing) {
      ::close(copy);
      return;
    }
    std::vector<std::string> names;
    while (const dirent* d = ::readdir(listing.get())) {
      const std::string name = d->d_name;
      if (name == "." || name == ".." || name == "node_modules") continue;
      if (rel.empty() && name == ".git") continue;
      if (++seen_ > kMaxSeen) {
        out_.complete = false;
        return;
      }
      names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      if (!out_.complete) return;
      const std::string path = rel.empty() ? name : absl::StrCat(rel, "/", name);
      struct stat in_clone;
      const bool added = fresh || ::lstat(absl::StrCat(clone_, "/", path).c_str(), &in_clone) != 0;
      if (added) {
        if (out_.paths.size() >= max_paths_) {
          out_.complete = false;
          return;
        }
        out_.paths.push_back(path);
      } else if (!S_ISDIR(in_clone.st_mode)) {
        continue;  // a changed type is the restore's to put back
      }
      UniqueFd sub(::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (sub.valid()) Dir(sub.get(), path, depth + 1, added);
    }
  }

 private:
  static constexpr size_t kMaxDepth = 128;
  static constexpr size_t kMaxSeen = 500'000;
  const std::string& clone_;
  const size_t max_paths_;
  AddedPaths& out_;
  size_t seen_ = 0;
};

}  // namespace

AddedPaths AddedBeneath(const std::string& clone, const std::string& tree, size_t max_paths) {
  AddedPaths out;
  UniqueFd root(::open(tree.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!root.valid()) {
    out.complete = false;
    return out;
  }
  AddedWalk(clone, max_paths, out).Dir(root.get(), "", 0);
  return out;
}

absl::StatusOr<std::vector<std::string>> ChangedBeneath(const std::string& clone,
                                                        const std::string& tree,
                                                        const std::vector<std::string>& skip) {
  return CompareTree(clone, tree, 0, 0, skip, /*restore=*/false);
}

absl::StatusOr<UniqueFd> OpenDirBeneath(const std::string& root, absl::string_view relative) {
  if (!relative.empty() && relative.front() == '/') {
    return absl::InvalidArgumentError(absl::StrCat("\"", relative, "\" is not a relative path"));
  }
  UniqueFd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return OpenError(errno, root);
  return OpenDirAt(dir.get(), std::filesystem::path(std::string(relative)));
}

absl::Status CheckDirBeneath(const std::string& root, absl::string_view relative) {
  return OpenDirBeneath(root, relative).status();
}

}  // namespace ovvoc::agent
