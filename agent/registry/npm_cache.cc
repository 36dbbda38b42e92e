#include "agent/registry/npm_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/crypto.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"

namespace ovvoc::agent::registry {
namespace {

absl::Status Errno(absl::string_view what) { return absl::ErrnoToStatus(errno, what); }

// A new directory `name` in `dir`, owned by uid, opened. Fails if anything stands there.
absl::StatusOr<UniqueFd> MakeDir(int dir, const std::string& name, uint32_t uid) {
  if (::mkdirat(dir, name.c_str(), 0755) != 0) return Errno(absl::StrCat("mkdir ", name));
  UniqueFd fd(::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return Errno(absl::StrCat("open ", name));
  if (::fchown(fd.get(), uid, uid) != 0) return Errno(absl::StrCat("chown ", name));
  return fd;
}

// `name` in `dir`: made by this seeding (tracked in `made`), or made now.
absl::StatusOr<UniqueFd> Subdir(int dir, const std::string& path, const std::string& name,
                                std::set<std::string>& made, uint32_t uid) {
  if (made.insert(path).second) return MakeDir(dir, name, uid);
  UniqueFd fd(::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return Errno(absl::StrCat("open ", path));
  return fd;
}

bool WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

absl::Status CopyInto(int from, int dir, const std::string& name, uint32_t uid) {
  UniqueFd to(::openat(dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                       0444));
  if (!to.valid()) return Errno(absl::StrCat("create ", name));
  struct stat st;
  if (::fstat(from, &st) != 0) return Errno("stat");
  off_t left = st.st_size;
  bool ranged = true;  // copy_file_range, until the kernel says it cannot cross filesystems
  char buffer[64 * 1024];
  while (left > 0) {
    ssize_t n;
    if (ranged) {
      n = ::copy_file_range(from, nullptr, to.get(), nullptr, static_cast<size_t>(left), 0);
      if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
        ranged = false;
        continue;
      }
    } else {
      n = ::read(from, buffer, std::min<size_t>(sizeof(buffer), static_cast<size_t>(left)));
      if (n > 0 && !WriteAll(to.get(), absl::string_view(buffer, static_cast<size_t>(n)))) {
        return Errno(absl::StrCat("write ", name));
      }
    }
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Errno(absl::StrCat("copy ", name));
    left -= n;
  }
  if (::fchown(to.get(), uid, uid) != 0) return Errno(absl::StrCat("chown ", name));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int> SeedNpmCache(RegistryClient& client,
                                 const std::vector<RegistryEndpoint>& registries,
                                 const Prefetched& prefetched, const std::string& parent,
                                 const std::string& name, uint32_t uid) {
  UniqueFd parent_fd(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!parent_fd.valid()) return Errno(absl::StrCat("open ", parent));
  OVVOC_ASSIGN_OR_RETURN(UniqueFd root, MakeDir(parent_fd.get(), name, uid));
  OVVOC_ASSIGN_OR_RETURN(UniqueFd cacache, MakeDir(root.get(), "_cacache", uid));
  OVVOC_ASSIGN_OR_RETURN(UniqueFd content, MakeDir(cacache.get(), "content-v2", uid));
  std::set<std::string> made;
  std::set<std::string> seeded;
  for (const auto& [url, integrity] : prefetched.tarballs) {
    const std::string hex = crypto::HexEncode(integrity.digest);
    if (!seeded.insert(integrity.Key()).second) continue;  // the same bytes under two names
    const RegistryEndpoint* endpoint = RegistryServing(registries, url);
    if (endpoint == nullptr) continue;
    absl::StatusOr<UniqueFd> tarball = client.CachedTarball(*endpoint, integrity);
    if (!tarball.ok()) continue;  // evicted since the prefetch: npm asks the gateway for it
    const std::string a = integrity.algorithm;
    const std::string b = hex.substr(0, 2), c = hex.substr(2, 2);
    OVVOC_ASSIGN_OR_RETURN(UniqueFd algo, Subdir(content.get(), a, a, made, uid));
    OVVOC_ASSIGN_OR_RETURN(UniqueFd first, Subdir(algo.get(), a + "/" + b, b, made, uid));
    OVVOC_ASSIGN_OR_RETURN(UniqueFd second,
                           Subdir(first.get(), absl::StrCat(a, "/", b, "/", c), c, made, uid));
    OVVOC_RETURN_IF_ERROR(CopyInto(tarball->get(), second.get(), hex.substr(4), uid));
  }
  return static_cast<int>(seeded.size());
}

}  // namespace ovvoc::agent::registry
