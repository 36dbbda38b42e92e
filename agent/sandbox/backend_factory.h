// Picks and builds the sandbox backend the agent's configuration names, verifying the job
// image on the way.
#ifndef OVVOC_AGENT_SANDBOX_BACKEND_FACTORY_H_
#define OVVOC_AGENT_SANDBOX_BACKEND_FACTORY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/sandbox/image.h"
#include "agent/sandbox/oci/runc_backend.h"
#include "agent/sandbox/sandbox.h"

namespace ovvoc::agent::sandbox {

struct BackendConfig {
  std::string kind = "auto";  // "auto" (docker when its socket answers, else oci), "docker", "oci"
  ImageConfig image;
  std::string docker_socket = "/var/run/docker.sock";
  // Agent-owned. The oci backend extracts the image here and keeps its runc state and bundles
  // here; Docker containers are labelled with it. Containers belong to one state dir.
  std::string state_dir;
  // Where prepared images are kept (image.h): empty, the state dir's own (STATE_DIR/images);
  // agents of one machine may share one (agent-owned like a state dir).
  std::string image_cache;
  std::string runc = "/usr/sbin/runc";
};

absl::StatusOr<std::unique_ptr<Backend>> MakeBackend(const BackendConfig& config);

}  // namespace ovvoc::agent::sandbox

#endif  // OVVOC_AGENT_SANDBOX_BACKEND_FACTORY_H_
