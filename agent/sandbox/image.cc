#include "agent/sandbox/image.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/process/process.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"
#include "nlohmann/json.hpp"

namespace ovvoc::agent::sandbox {
namespace {

bool WellFormed(absl::string_view digest) {
  if (!absl::StartsWith(digest, "sha256:") || digest.size() != 7 + 64) return false;
  for (char c : digest.substr(7)) {
    if (!absl::ascii_isxdigit(c) || absl::ascii_isupper(c)) return false;
  }
  return true;
}

}  // namespace

std::string DigestHex(absl::string_view digest) {
  return std::string(absl::StartsWith(digest, "sha256:") ? digest.substr(7) : digest);
}

absl::StatusOr<std::string> ResolveDigest(const ImageConfig& config) {
  std::string digest = config.digest;
  if (digest.empty()) {
    absl::StatusOr<std::string> manifest =
        files::ReadFile(config.image_dir + "/current/image.json");
    if (!manifest.ok()) {
      return absl::FailedPreconditionError(absl::StrCat("no job image in ", config.image_dir,
                                                        "; build one with deploy/image/build.sh"));
    }
    nlohmann::json json = nlohmann::json::parse(*manifest, nullptr, false);
    digest = json.is_object() ? json.value("digest", "") : "";
  }
  if (!WellFormed(digest)) {
    return absl::InvalidArgumentError(
        absl::StrCat("image digest \"", digest, "\" is not sha256:<64 lowercase hex>"));
  }
  return digest;
}

absl::StatusOr<ImageRuntime> ReadImageRuntime(const ImageConfig& config,
                                              absl::string_view digest) {
  const std::string path = absl::StrCat(config.image_dir, "/", DigestHex(digest), "/image.json");
  absl::StatusOr<std::string> text = files::ReadFile(path);
  if (!text.ok()) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  nlohmann::json json = nlohmann::json::parse(*text, nullptr, false);
  ImageRuntime runtime;
  if (json.is_object() && json["node"].is_string() && json["npm"].is_string()) {
    runtime.node = json["node"].get<std::string>();
    runtime.npm = json["npm"].get<std::string>();
  }
  if (json.is_object() && json["npms"].is_object()) {
    for (const auto& [key, value] : json["npms"].items()) {
      int major = 0;
      if (absl::SimpleAtoi(key, &major) && major > 0 && major < 100 && value.is_string()) {
        runtime.npms[major] = value.get<std::string>();
      }
    }
  }
  if (runtime.node.empty() || runtime.npm.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, " does not name node's and npm's versions"));
  }
  return runtime;
}

std::vector<NodeImage> FindNodeImages(const ImageConfig& config, const std::vector<int>& majors) {
  std::vector<NodeImage> out;
  for (int major : majors) {
    absl::StatusOr<std::string> text =
        files::ReadFile(absl::StrCat(config.image_dir, "/node", major, "/image.json"));
    if (!text.ok()) continue;
    nlohmann::json json = nlohmann::json::parse(*text, nullptr, false);
    if (!json.is_object() || !json["digest"].is_string()) continue;
    NodeImage image;
    image.major = major;
    image.digest = json["digest"].get<std::string>();
    if (!WellFormed(image.digest)) continue;
    absl::StatusOr<ImageRuntime> runtime = ReadImageRuntime(config, image.digest);
    if (!runtime.ok() || !absl::StartsWith(runtime->node, absl::StrCat(major, "."))) continue;
    image.runtime = *std::move(runtime);
    out.push_back(std::move(image));
  }
  return out;
}

absl::StatusOr<std::string> Sha256OfFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  char buf[1 << 16];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) {
    EVP_DigestUpdate(ctx.get(), buf, static_cast<size_t>(n));
  }
  if (n < 0) return absl::InternalError(absl::StrCat("cannot read ", path));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &length);
  return crypto::HexEncode(absl::string_view(reinterpret_cast<char*>(digest), length));
}

absl::StatusOr<std::string> VerifiedImageTar(const ImageConfig& config, absl::string_view digest) {
  const std::string tar = absl::StrCat(config.image_dir, "/", DigestHex(digest), "/rootfs.tar");
  absl::StatusOr<std::string> actual = Sha256OfFile(tar);
  if (absl::IsNotFound(actual.status())) {
    return absl::FailedPreconditionError(absl::StrCat("the job image ", digest, " is not in ",
                                                      config.image_dir,
                                                      "; build it with deploy/image/build.sh"));
  }
  if (!actual.ok()) return actual.status();
  if (*actual != DigestHex(digest)) {
    return absl::DataLossError(absl::StrCat("refusing the job image at ", tar, ": its sha256 is ",
                                            *actual, ", not ", DigestHex(digest),
                                            " as configured; rebuild it"));
  }
  return tar;
}

namespace {

// The verified tar of `digest` extracted into `dir`/rootfs, once (`dir`/complete says it was).
absl::StatusOr<std::string> ExtractInto(const ImageConfig& config, absl::string_view digest,
                                        const std::string& dir) {
  const std::string rootfs = dir + "/rootfs";
  const std::string complete = dir + "/complete";
  if (files::Exists(complete)) return rootfs;
  OVVOC_ASSIGN_OR_RETURN(std::string tar, VerifiedImageTar(config, digest));
  OVVOC_RETURN_IF_ERROR(files::EnsureDir(dir, 0700));
  (void)files::RemoveTree(rootfs);  // a half-finished earlier extraction
  OVVOC_RETURN_IF_ERROR(files::EnsureDir(rootfs, 0755));
  RunOptions extract;
  extract.argv = {"/bin/tar", "--numeric-owner", "-xpf", tar, "-C", rootfs};
  extract.env = {"PATH=/usr/bin:/bin"};
  extract.timeout = absl::Minutes(5);
  OVVOC_ASSIGN_OR_RETURN(RunResult ran, RunProcess(extract));
  if (ran.exit_code != 0) {
    return absl::InternalError(absl::StrCat("cannot extract ", tar, ": ", ran.output));
  }
  OVVOC_RETURN_IF_ERROR(files::WriteFileAtomic(complete, std::string(digest) + "\n", 0600));
  return rootfs;
}

// The bytes of every file under `dir` (not following links).
uint64_t TreeBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) total += it->file_size(ec);
  }
  return total;
}

// One image's directory in an image cache, held exclusively (flock on `cache_dir`/<hex>.lock)
// while it is made: agents sharing the cache wait for the one making it, then reuse what it
// made. Everything below runs with the lock held; the public functions take it.
class ImageDir {
 public:
  static absl::StatusOr<ImageDir> Lock(const std::string& cache_dir, absl::string_view digest) {
    OVVOC_RETURN_IF_ERROR(files::EnsureDir(cache_dir, 0700));
    const std::string hex = DigestHex(digest);
    const std::string lock_path = absl::StrCat(cache_dir, "/", hex, ".lock");
    UniqueFd fd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd.valid()) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot open ", lock_path, ": ", std::strerror(errno)));
    }
    while (::flock(fd.get(), LOCK_EX) != 0) {
      if (errno != EINTR) {
        return absl::InternalError(
            absl::StrCat("cannot lock ", lock_path, ": ", std::strerror(errno)));
      }
    }
    return ImageDir(absl::StrCat(cache_dir, "/", hex), std::move(fd));
  }

  const std::string& path() const { return path_; }

 private:
  ImageDir(std::string path, UniqueFd lock) : path_(std::move(path)), lock_(std::move(lock)) {}
  std::string path_;
  UniqueFd lock_;
};

absl::StatusOr<std::string> RootfsImageIn(const ImageConfig& config, absl::string_view digest,
                                          const ImageDir& held) {
  const std::string& dir = held.path();
  const std::string image = dir + "/rootfs.ext4";
  const std::string complete = dir + "/rootfs.ext4.complete";
  if (files::Exists(complete)) return image;
  OVVOC_ASSIGN_OR_RETURN(std::string rootfs, ExtractInto(config, digest, dir));
  // Room for the files, their metadata and ext4's own, in KiB.
  const uint64_t kib = (TreeBytes(rootfs) / 4 * 5 + (64ull << 20)) >> 10;
  RunOptions mkfs;
  mkfs.argv = {"/sbin/mkfs.ext4",
               "-q",
               "-F",
               "-d",
               rootfs,
               "-O",
               "^has_journal",
               "-m",
               "0",
               "-L",
               "ovvoc-job",
               "-E",
               "root_owner=0:0",
               image,
               absl::StrCat(kib, "k")};
  mkfs.env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  mkfs.timeout = absl::Minutes(5);
  OVVOC_ASSIGN_OR_RETURN(RunResult ran, RunProcess(mkfs));
  if (ran.exit_code != 0) {
    return absl::InternalError(absl::StrCat("cannot make the rootfs image: ", ran.output));
  }
  OVVOC_RETURN_IF_ERROR(files::WriteFileAtomic(complete, std::string(digest) + "\n", 0600));
  // The tree is in the filesystem image now; its copy would double what each image costs
  // (red team, issue 11: four images kept 4.3 GB).
  (void)files::RemoveTree(rootfs);
  ::unlink((dir + "/complete").c_str());
  return image;
}

}  // namespace

absl::StatusOr<std::string> PrepareRootfs(const ImageConfig& config, absl::string_view digest,
                                          const std::string& cache_dir) {
  OVVOC_ASSIGN_OR_RETURN(ImageDir held, ImageDir::Lock(cache_dir, digest));
  return ExtractInto(config, digest, held.path());
}

absl::StatusOr<DockerImageParts> PrepareDockerImage(const ImageConfig& config,
                                                    absl::string_view digest,
                                                    const std::string& cache_dir) {
  OVVOC_ASSIGN_OR_RETURN(ImageDir held, ImageDir::Lock(cache_dir, digest));
  const std::string& dir = held.path();
  DockerImageParts parts;
  parts.frame_tar = dir + "/docker-frame.tar";
  const std::string complete = dir + "/docker-frame.complete";
  if (!files::Exists(complete)) {
    OVVOC_ASSIGN_OR_RETURN(std::string rootfs, ExtractInto(config, digest, dir));
    // Names sorted, owners numeric, times as extracted: the same frame from the same tree.
    RunOptions pack;
    pack.argv = {"/bin/tar", "--numeric-owner", "--sort=name", "--anchored", "--exclude=./usr/?*",
                 "-cf",      parts.frame_tar,   "-C",          rootfs,       "."};
    pack.env = {"PATH=/usr/bin:/bin"};
    pack.timeout = absl::Minutes(1);
    OVVOC_ASSIGN_OR_RETURN(RunResult ran, RunProcess(pack));
    if (ran.exit_code != 0) {
      return absl::InternalError(
          absl::StrCat("cannot make the docker frame of ", digest, ": ", ran.output));
    }
    OVVOC_ASSIGN_OR_RETURN(std::string made, Sha256OfFile(parts.frame_tar));
    OVVOC_RETURN_IF_ERROR(files::WriteFileAtomic(complete, "sha256:" + made + "\n", 0600));
  }
  OVVOC_ASSIGN_OR_RETURN(parts.rootfs_image, RootfsImageIn(config, digest, held));
  if (files::Exists(dir + "/complete")) {  // a tree extracted for the frame only
    (void)files::RemoveTree(dir + "/rootfs");
    ::unlink((dir + "/complete").c_str());
  }
  // Hashed on every use (a few hundred KiB) against the digest recorded when it was made (red
  // team: a frame changed on disk was imported under a new tag and used).
  OVVOC_ASSIGN_OR_RETURN(std::string recorded, files::ReadFile(complete));
  OVVOC_ASSIGN_OR_RETURN(std::string hex, Sha256OfFile(parts.frame_tar));
  parts.frame_digest = "sha256:" + hex;
  if (std::string(absl::StripAsciiWhitespace(recorded)) != parts.frame_digest) {
    return absl::DataLossError(absl::StrCat("refusing the docker frame ", parts.frame_tar,
                                            ": it is not the one the agent made (",
                                            absl::StripAsciiWhitespace(recorded), "); remove ", dir,
                                            " for the agent to make it again"));
  }
  return parts;
}

absl::StatusOr<std::string> PrepareRootfsImage(const ImageConfig& config, absl::string_view digest,
                                               const std::string& cache_dir) {
  OVVOC_ASSIGN_OR_RETURN(ImageDir held, ImageDir::Lock(cache_dir, digest));
  return RootfsImageIn(config, digest, held);
}

}  // namespace ovvoc::agent::sandbox
