// What both backends apply to every container, in one place: the seccomp profile, masked and
// read-only kernel paths, the init program, the environment.
#ifndef OVVOC_AGENT_SANDBOX_HARDENING_H_
#define OVVOC_AGENT_SANDBOX_HARDENING_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace ovvoc::agent::sandbox {

// seccomp/profile.json (OCI format, which Docker also takes), compiled into the agent.
const nlohmann::json& SeccompProfile();

// /proc and /sys paths hidden (masked) or made read-only, as Docker does by default.
const std::vector<std::string>& MaskedPaths();
const std::vector<std::string>& ReadonlyPaths();

// PID 1 of every container: reaps orphans, exits on SIGTERM (deploy/image/init.c).
inline constexpr char kInitPath[] = "/sbin/ovvoc-init";

// The environment every process starts from. Nothing of the agent's own environment.
std::vector<std::string> BaseEnvironment();

}  // namespace ovvoc::agent::sandbox

#endif  // OVVOC_AGENT_SANDBOX_HARDENING_H_
