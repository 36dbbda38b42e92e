// The docker backend: containers made through the Docker Engine API (never the docker CLI).
// Each is made from a frame of the job image (its tree without /usr's contents, imported with
// `docker import` and checked by its layer digest), with /usr bound read-only from the agent's
// ext4 image of the verified tree, mounted on the host for that container: docker's storage
// copies a few hundred KiB per container, not the image (PrepareDockerImage).
#ifndef OVVOC_AGENT_SANDBOX_DOCKER_DOCKER_BACKEND_H_
#define OVVOC_AGENT_SANDBOX_DOCKER_DOCKER_BACKEND_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/sandbox/image.h"
#include "agent/sandbox/sandbox.h"
#include "nlohmann/json.hpp"

namespace ovvoc::agent::sandbox {

struct DockerOptions {
  std::string socket = "/var/run/docker.sock";
  std::string image_digest;  // "sha256:<hex>", verified
  ImageConfig image;         // where the verified tars are
  std::string state_dir;     // the agent's: the mounts of its containers
  std::string image_cache;   // each image's frame and ext4 image (image.h)
  std::string owner;         // the io.ovvoc.owner label: the agent's state dir
};

// Fails when no daemon answers, or the image cannot be found, extracted, imported or verified.
absl::StatusOr<std::unique_ptr<Backend>> MakeDockerBackend(DockerOptions options);

// The whole image as deploy/image/build.sh imports it, "ovvoc-job:<first 12 hex>": what a plain
// `docker run` of the job image uses (the sandbox bench's baseline), not the backend.
std::string DockerImageTag(absl::string_view digest);

// The container-create request for `spec` (exposed for tests): from the image `image_id`, with
// `usr_dir` (when not empty) bound read-only at /usr.
nlohmann::json DockerCreateRequest(const SandboxSpec& spec, const std::string& image_id,
                                   const std::string& usr_dir, const std::string& owner);

}  // namespace ovvoc::agent::sandbox

#endif  // OVVOC_AGENT_SANDBOX_DOCKER_DOCKER_BACKEND_H_
