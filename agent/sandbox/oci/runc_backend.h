// The oci backend: containers run by runc from a bundle the agent writes. The rootfs is the
// verified job image, mounted read-only for every container (image.h, PrepareRootfsImage).
#ifndef OVVOC_AGENT_SANDBOX_OCI_RUNC_BACKEND_H_
#define OVVOC_AGENT_SANDBOX_OCI_RUNC_BACKEND_H_

#include <memory>
#include <string>

#include "agent/sandbox/image.h"
#include "agent/sandbox/sandbox.h"
#include "nlohmann/json.hpp"

namespace ovvoc::agent::sandbox {

struct RuncOptions {
  std::string runc = "/usr/sbin/runc";
  std::string state_root = "/run/ovvoc/runc";  // runc --root: only our containers live here
  std::string bundles_dir = "/run/ovvoc/bundles";
  // The verified image as an ext4 image (PrepareRootfsImage), which each container mounts
  // read-only as its root. Empty: `rootfs`, a directory, as it is (tests).
  std::string rootfs_image;
  std::string rootfs;
  // The digest of `rootfs_image`, and where the images of other digests a job may ask for
  // (SandboxSpec::image) come from: each is made into an ext4 image on its first use
  // (PrepareRootfsImage into `image_cache`), from `image`'s verified tar.
  std::string default_digest;
  ImageConfig image;
  std::string image_cache;  // empty: this backend runs `rootfs_image` only
};

std::unique_ptr<Backend> MakeRuncBackend(RuncOptions options);

// The bundle's config.json for `spec` (exposed for tests).
nlohmann::json RuncConfig(const SandboxSpec& spec, const std::string& rootfs);

}  // namespace ovvoc::agent::sandbox

#endif  // OVVOC_AGENT_SANDBOX_OCI_RUNC_BACKEND_H_
