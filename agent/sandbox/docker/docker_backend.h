// The docker backend: containers made through the Docker Engine API (never the docker CLI),
// from the job image imported with `docker import` and checked by its layer digest.
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
  ImageConfig image;         // where to import it from when the daemon lacks it
  std::string owner;         // the io.ovvoc.owner label: the agent's state dir
};

// Fails when no daemon answers, or the image cannot be found, imported or verified.
absl::StatusOr<std::unique_ptr<Backend>> MakeDockerBackend(DockerOptions options);

// The image reference for a digest: "ovvoc-job:<first 12 hex>".
std::string DockerImageTag(absl::string_view digest);

// The container-create request for `spec` (exposed for tests).
nlohmann::json DockerCreateRequest(const SandboxSpec& spec, const std::string& image,
                                   const std::string& owner);

}  // namespace ovvoc::agent::sandbox

#endif  // OVVOC_AGENT_SANDBOX_DOCKER_DOCKER_BACKEND_H_
