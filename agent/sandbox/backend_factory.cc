#include "agent/sandbox/backend_factory.h"

#include "absl/strings/str_cat.h"
#include "agent/sandbox/docker/docker_backend.h"
#include "agent/sandbox/docker/docker_client.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace ovvoc::agent::sandbox {

absl::StatusOr<std::unique_ptr<Backend>> MakeBackend(const BackendConfig& config) {
  OVVOC_ASSIGN_OR_RETURN(std::string digest, ResolveDigest(config.image));
  std::string kind = config.kind;
  if (kind == "auto") {
    kind = DockerClient(config.docker_socket).Ping().ok() ? "docker" : "oci";
    log::Info("sandbox backend: %s (auto)", kind);
  }
  if (kind == "docker") {
    return MakeDockerBackend(DockerOptions{config.docker_socket, digest, config.image});
  }
  if (kind == "oci") {
    OVVOC_ASSIGN_OR_RETURN(std::string rootfs,
                           PrepareRootfs(config.image, digest, config.state_dir));
    RuncOptions runc = config.runc;
    runc.rootfs = rootfs;
    return MakeRuncBackend(std::move(runc));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown sandbox backend \"", config.kind, "\": use auto, docker or oci"));
}

}  // namespace ovvoc::agent::sandbox
