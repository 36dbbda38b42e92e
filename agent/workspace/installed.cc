#include "agent/workspace/installed.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/unique_fd.h"
#include "nlohmann/json.hpp"

namespace ovvoc::agent {
namespace {

constexpr size_t kMaxManifestBytes = 1 << 20;
// Deeper JSON is hashed as text: nlohmann's dump() recurses once per level, and a job's
// package.json of 300,000 nested arrays crashed the agent (red team, issue 12).
constexpr int kMaxManifestNesting = 64;

// Whether `text`'s arrays and objects nest deeper than `limit` (strings skipped).
bool NestsDeeper(absl::string_view text, int limit) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

struct Entry {
  std::string name;
  mode_t mode = 0;  // lstat's: the type, never a link's target's
  off_t size = 0;
};

using Digest = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

// The names in a directory, sorted (readdir's order is the filesystem's), with lstat's type.
std::vector<Entry> List(int dir) {
  std::vector<Entry> entries;
  const int copy = ::fcntl(dir, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return entries;
  std::unique_ptr<DIR, decltype(&::closedir)> listing(::fdopendir(copy), ::closedir);
  if (!listing) {
    ::close(copy);
    return entries;
  }
  while (const dirent* d = ::readdir(listing.get())) {
    const std::string name = d->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    entries.push_back({name, st.st_mode, st.st_size});
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.name < b.name; });
  return entries;
}

UniqueFd OpenDir(int parent, const std::string& name) {
  return UniqueFd(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

std::string LinkTarget(int dir, const std::string& name) {
  char target[4096];
  const ssize_t n = ::readlinkat(dir, name.c_str(), target, sizeof target);
  return n < 0 ? "" : std::string(target, static_cast<size_t>(n));
}

class Walker {
 public:
  Walker(const InstalledLimits& limits, InstalledTree& out) : limits_(limits), out_(out) {}

  // A directory outside any package: its node_modules, and those of its subdirectories.
  void Project(int dir, const std::string& rel) {
    const Deeper level(*this);
    if (!level.ok()) return;
    for (const Entry& e : List(dir)) {
      if (!Count()) return;
      const std::string path = Join(rel, e.name);
      if (e.name == "node_modules" && !S_ISDIR(e.mode)) {
        // A link named node_modules (test/node_modules -> a planted tree) is where node looks
        // for modules, not followed: a package of its own, which no lockfile names.
        out_.packages[path] = S_ISLNK(e.mode) ? "link:" + LinkTarget(dir, e.name)
                                              : absl::StrCat("not a directory: ", e.mode & S_IFMT);
        continue;
      }
      if (!S_ISDIR(e.mode) || (rel.empty() && e.name == ".git")) continue;
      UniqueFd sub = OpenDir(dir, e.name);
      if (!sub.valid()) continue;
      if (e.name == "node_modules") {
        Modules(sub.get(), path);
      } else {
        Project(sub.get(), path);
      }
    }
  }

 private:
  static std::string Join(const std::string& a, const std::string& b) {
    return a.empty() ? b : absl::StrCat(a, "/", b);
  }

  bool Count() {
    if (++entries_ > limits_.max_entries || bytes_ > limits_.max_bytes) out_.complete = false;
    return out_.complete;
  }

  // One directory level deeper for its life; past max_depth the read is incomplete (a job could
  // nest directories until the agent's stack or fds ran out).
  class Deeper {
   public:
    explicit Deeper(Walker& w) : w_(w) {
      if (++w_.depth_ > w_.limits_.max_depth) w_.out_.complete = false;
    }
    ~Deeper() { --w_.depth_; }
    bool ok() const { return w_.out_.complete; }

   private:
    Walker& w_;
  };

  // A node_modules directory: its packages (scoped ones one level down) and its .bin.
  void Modules(int dir, const std::string& rel) {
    const Deeper level(*this);
    if (!level.ok()) return;
    for (const Entry& e : List(dir)) {
      if (!Count()) return;
      const std::string path = Join(rel, e.name);
      if (e.name == ".bin" && S_ISDIR(e.mode)) {
        UniqueFd bin = OpenDir(dir, e.name);
        if (!bin.valid()) continue;
        for (const Entry& b : List(bin.get())) {
          if (!Count()) return;
          out_.bins[Join(path, b.name)] = S_ISLNK(b.mode) ? LinkTarget(bin.get(), b.name) : "";
        }
        continue;
      }
      if (e.name == ".package-lock.json") continue;  // npm's own record of what it installed
      if (absl::StartsWith(e.name, ".")) {
        Fingerprint(dir, e, path, out_.hidden);
        continue;
      }
      if (absl::StartsWith(e.name, "@") && S_ISDIR(e.mode)) {
        UniqueFd scope = OpenDir(dir, e.name);
        if (!scope.valid()) continue;
        for (const Entry& s : List(scope.get())) {
          if (!Count()) return;
          PackageAt(scope.get(), s, Join(path, s.name));
        }
        continue;
      }
      PackageAt(dir, e, path);
    }
  }

  void PackageAt(int parent, const Entry& e, const std::string& key) {
    Fingerprint(parent, e, key, out_.packages);
  }

  void Fingerprint(int parent, const Entry& e, const std::string& key,
                   std::map<std::string, std::string>& into) {
    if (S_ISLNK(e.mode)) {
      into[key] = "link:" + LinkTarget(parent, e.name);
      return;
    }
    Digest digest(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    EVP_DigestInit_ex(digest.get(), EVP_sha256(), nullptr);
    if (S_ISDIR(e.mode)) {
      UniqueFd dir = OpenDir(parent, e.name);
      if (dir.valid()) Files(dir.get(), key, "", digest.get());
    } else {
      Add(digest.get(), absl::StrCat("not a directory: ", e.mode & S_IFMT));
    }
    unsigned char sum[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_DigestFinal_ex(digest.get(), sum, &length);
    into[key] = absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(sum), length));
  }

  // What a package holds beneath `sub`, into `digest`; a nested node_modules is walked as one.
  void Files(int dir, const std::string& key, const std::string& sub, EVP_MD_CTX* digest) {
    const Deeper level(*this);
    if (!level.ok()) return;
    for (const Entry& e : List(dir)) {
      if (!Count()) return;
      const std::string path = Join(sub, e.name);
      if (S_ISDIR(e.mode)) {
        UniqueFd child = OpenDir(dir, e.name);
        if (!child.valid()) continue;
        if (e.name == "node_modules") {
          Modules(child.get(), Join(key, path));
          continue;
        }
        Add(digest, absl::StrCat("D ", path));
        Files(child.get(), key, path, digest);
      } else if (S_ISLNK(e.mode)) {
        Add(digest, absl::StrCat("L ", path, " -> ", LinkTarget(dir, e.name)));
      } else if (S_ISREG(e.mode)) {
        const bool exec = (e.mode & 0111) != 0;
        if (path == "package.json" && static_cast<size_t>(e.size) <= kMaxManifestBytes) {
          Add(digest, absl::StrCat("M ", path, exec ? " x" : " -"));  // its size is npm 6's doing
          Add(digest, Manifest(dir, e.name));
        } else {
          Add(digest, absl::StrCat("F ", path, exec ? " x " : " - ", e.size));
          Content(dir, e.name, digest);
        }
      } else {
        Add(digest, absl::StrCat("O ", path, " ", e.mode & S_IFMT));
      }
    }
  }

  // Each part framed by its length, so that no two sequences of parts hash alike.
  static void Add(EVP_MD_CTX* digest, absl::string_view part) {
    const std::string frame = absl::StrCat(part.size(), ":");
    EVP_DigestUpdate(digest, frame.data(), frame.size());
    EVP_DigestUpdate(digest, part.data(), part.size());
  }

  UniqueFd OpenFile(int dir, const std::string& name) {
    UniqueFd fd(::openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    struct stat st;
    if (fd.valid() && (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))) fd.reset();
    return fd;
  }

  void Content(int dir, const std::string& name, EVP_MD_CTX* digest) {
    UniqueFd fd = OpenFile(dir, name);
    if (!fd.valid()) {
      Add(digest, "unreadable");
      return;
    }
    std::string buffer(1 << 16, '\0');
    for (;;) {
      const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      bytes_ += static_cast<uint64_t>(n);
      if (bytes_ > limits_.max_bytes) {
        out_.complete = false;
        return;
      }
      Add(digest, absl::string_view(buffer.data(), static_cast<size_t>(n)));
    }
  }

  // A package's package.json without the "_" fields npm 6 adds on install (_requiredBy,
  // _where: they depend on the rest of the tree); as read when it is no JSON object.
  std::string Manifest(int dir, const std::string& name) {
    UniqueFd fd = OpenFile(dir, name);
    if (!fd.valid()) return "unreadable";
    std::string text(kMaxManifestBytes, '\0');
    size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = ::read(fd.get(), text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    text.resize(done);
    bytes_ += done;
    if (NestsDeeper(text, kMaxManifestNesting)) return text;
    nlohmann::json manifest = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!manifest.is_object()) return text;
    for (auto it = manifest.begin(); it != manifest.end();) {
      it = absl::StartsWith(it.key(), "_") ? manifest.erase(it) : std::next(it);
    }
    return manifest.dump();
  }

  const InstalledLimits& limits_;
  InstalledTree& out_;
  size_t entries_ = 0;
  uint64_t bytes_ = 0;
  size_t depth_ = 0;
};

}  // namespace

absl::StatusOr<InstalledTree> ReadInstalledTree(const std::string& tree,
                                                const InstalledLimits& limits) {
  UniqueFd root(::open(tree.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!root.valid()) {
    return absl::InternalError(absl::StrCat("cannot open ", tree, ": ", std::strerror(errno)));
  }
  InstalledTree out;
  Walker(limits, out).Project(root.get(), "");
  return out;
}

}  // namespace ovvoc::agent
