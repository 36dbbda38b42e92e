// The oci backend: containers run by runc from a bundle the agent writes. The rootfs is the
// verified job image, shared read-only by every container.
#ifndef OVVOC_AGENT_SANDBOX_OCI_RUNC_BACKEND_H_
#define OVVOC_AGENT_SANDBOX_OCI_RUNC_BACKEND_H_

#include <memory>
#include <string>

#include "agent/sandbox/sandbox.h"
#include "nlohmann/json.hpp"

namespace ovvoc::agent::sandbox {

struct RuncOptions {
  std::string runc = "/usr/sbin/runc";
  std::string state_root = "/run/ovvoc/runc";  // runc --root: only our containers live here
  std::string bundles_dir = "/run/ovvoc/bundles";
  std::string rootfs;  // the verified image's extracted tree
};

std::unique_ptr<Backend> MakeRuncBackend(RuncOptions options);

// The bundle's config.json for `spec` (exposed for tests).
nlohmann::json RuncConfig(const SandboxSpec& spec, const std::string& rootfs);

}  // namespace ovvoc::agent::sandbox

#endif  // OVVOC_AGENT_SANDBOX_OCI_RUNC_BACKEND_H_
