// The job image: a rootfs built by deploy/image/build.sh, identified by the sha256 of its
// reproducible tar ("sha256:<hex>"). The agent trusts an image only after checking that
// identity: the OCI backend hashes rootfs.tar and extracts its own copy; the Docker backend
// checks that the image's only layer is that very tar (docker import's layer diff id).
#ifndef OVVOC_AGENT_SANDBOX_IMAGE_H_
#define OVVOC_AGENT_SANDBOX_IMAGE_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ovvoc::agent::sandbox {

struct ImageConfig {
  std::string image_dir = "/var/lib/ovvoc/images";  // where build.sh puts <hex>/rootfs.tar
  std::string digest;  // "sha256:<hex>"; empty: the one image_dir/current points to
};

// The configured digest, or the current image's. InvalidArgument for a malformed digest.
absl::StatusOr<std::string> ResolveDigest(const ImageConfig& config);

// "<hex>" of "sha256:<hex>".
std::string DigestHex(absl::string_view digest);

// Path of the image's tar, after checking its sha256 is `digest`.
absl::StatusOr<std::string> VerifiedImageTar(const ImageConfig& config, absl::string_view digest);

// Prepared images live in an image cache, `cache_dir`/<hex>/: the agent's own (STATE_DIR/images
// by default, root's, 0700), or one that the agents of a machine share (--image-cache). Each is
// made once, under an exclusive lock (`cache_dir`/<hex>.lock) that other agents wait on, and
// marked complete only once whole; later calls, in any agent, reuse it.

// A rootfs extracted by the agent from the verified tar into `cache_dir`/<hex>/rootfs.
absl::StatusOr<std::string> PrepareRootfs(const ImageConfig& config, absl::string_view digest,
                                          const std::string& cache_dir);

// The Docker backend's image, made once per image into `cache_dir`/<hex>: a frame of the
// image (docker-frame.tar: the tree without /usr's contents, a few hundred KiB), which docker
// imports, and the oci backend's ext4 image of the whole tree (PrepareRootfsImage), which each
// container mounts read-only on the host and whose /usr it binds over the frame's empty one.
// A container's copy on docker's storage is then the frame: with vfs, docker copies an image's
// whole tree for every container (6-10 s for 500 MiB); and the job sees its /usr as "/usr" of
// a loop device, never as a host path. The frame is checked on every call against the digest
// recorded when it was made; the ext4 image, as on the oci backend, is trusted as the agent's
// own once made (the cache is root's, 0700).
struct DockerImageParts {
  std::string frame_tar;     // what `docker import` takes
  std::string frame_digest;  // "sha256:<hex>" of frame.tar: the imported image's one layer
  std::string rootfs_image;  // the ext4 image of the whole tree
};
absl::StatusOr<DockerImageParts> PrepareDockerImage(const ImageConfig& config,
                                                    absl::string_view digest,
                                                    const std::string& cache_dir);

// The OCI backend's rootfs: the image's tree (PrepareRootfs) as a read-only ext4 filesystem
// image of its own, made once into `cache_dir`/<hex>/rootfs.ext4. Each container mounts
// it read-only (MountImageReadOnly), so that it sees its root as "/" of a loop device, never as
// a host path (a bind of a directory shows its host path in mountinfo).
absl::StatusOr<std::string> PrepareRootfsImage(const ImageConfig& config, absl::string_view digest,
                                               const std::string& cache_dir);

// What an image runs, from the image.json that deploy/image/build.sh writes beside its tar.
struct ImageRuntime {
  std::string node;  // "24.22.3"
  std::string npm;   // "11.21.2"
  std::map<int, std::string> npms;  // the other npms it carries, by major: 6 -> "6.14.18"
};
// NotFound when the image has no readable image.json; InvalidArgument when it lacks a version.
absl::StatusOr<ImageRuntime> ReadImageRuntime(const ImageConfig& config, absl::string_view digest);

// One image of `config.image_dir` per node major: what its node<MAJOR> link names (build.sh
// makes one per major it builds).
struct NodeImage {
  int major = 0;
  std::string digest;  // "sha256:<hex>", not yet verified (the backends verify before use)
  ImageRuntime runtime;
};
// The images of `majors` that the image dir has, in that order; a major without a link, or
// whose image.json does not say a digest and versions of that major, is left out.
std::vector<NodeImage> FindNodeImages(const ImageConfig& config, const std::vector<int>& majors);

// sha256 of a file's contents, lowercase hex.
absl::StatusOr<std::string> Sha256OfFile(const std::string& path);

}  // namespace ovvoc::agent::sandbox

#endif  // OVVOC_AGENT_SANDBOX_IMAGE_H_
