#include "agent/sandbox/backend_factory.h"

#include "absl/strings/str_cat.h"
#include "agent/sandbox/docker/docker_backend.h"
#include "agent/sandbox/docker/docker_client.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace ovvoc::agent::sandbox {

absl::StatusOr<std::unique_ptr<Backend>> MakeBackend(const BackendConfig& config) {
  OVVOC_ASSIGN_OR_RETURN(std::string digest, ResolveDigest(config.image));
  const std::string image_cache =
      config.image_cache.empty() ? config.state_dir + "/images" : config.image_cache;
  std::string kind = config.kind;
  if (kind == "auto") {
    kind = DockerClient(config.docker_socket).Ping().ok() ? "docker" : "oci";
    log::Info("sandbox backend: %s (auto)", kind);
  }
  if (kind == "docker") {
    DockerOptions docker;
    docker.socket = config.docker_socket;
    docker.image_digest = digest;
    docker.image = config.image;
    docker.state_dir = config.state_dir;
    docker.image_cache = image_cache;
    docker.owner = config.state_dir;
    return MakeDockerBackend(std::move(docker));
  }
  if (kind == "oci") {
    RuncOptions runc;
    OVVOC_ASSIGN_OR_RETURN(runc.rootfs_image,
                           PrepareRootfsImage(config.image, digest, image_cache));
    runc.default_digest = digest;
    runc.image = config.image;
    runc.image_cache = image_cache;
    runc.runc = config.runc;
    runc.state_root = config.state_dir + "/runc";
    runc.bundles_dir = config.state_dir + "/bundles";
    return MakeRuncBackend(std::move(runc));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown sandbox backend \"", config.kind, "\": use auto, docker or oci"));
}

}  // namespace ovvoc::agent::sandbox
