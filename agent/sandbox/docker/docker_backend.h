// The docker backend: containers made through the Docker Engine API (never the docker CLI).
// Each is made from a frame of the job image (its tree without /usr's contents, imported with
// `docker import` and checked by its layer digest) with the agent's own extraction of the
// verified image's /usr bound read-only: docker's storage copies a few KiB per container, not
// the image.
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
  std::string state_dir;     // the agent's: where each image's tree and frame are made
  std::string owner;         // the io.ovvoc.owner label: the agent's state dir
};

// What a container is made of: the frame image docker holds, and the tree whose usr/ is bound
// read-only over the frame's empty /usr (PrepareDockerImage).
struct DockerImage {
  std::string id;       // the checked image id of the frame: "sha256:<hex>"
  std::string usr_dir;  // host path bound read-only at /usr; empty: none (the image has its own)
};

// Fails when no daemon answers, or the image cannot be found, extracted, imported or verified.
absl::StatusOr<std::unique_ptr<Backend>> MakeDockerBackend(DockerOptions options);

// The whole image as deploy/image/build.sh imports it, "ovvoc-job:<first 12 hex>": what a plain
// `docker run` of the job image uses (the sandbox bench's baseline), not the backend.
std::string DockerImageTag(absl::string_view digest);

// The container-create request for `spec` (exposed for tests).
nlohmann::json DockerCreateRequest(const SandboxSpec& spec, const DockerImage& image,
                                   const std::string& owner);

}  // namespace ovvoc::agent::sandbox

#endif  // OVVOC_AGENT_SANDBOX_DOCKER_DOCKER_BACKEND_H_
