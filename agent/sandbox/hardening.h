// What both backends apply to every container, in one place: the seccomp profile, masked and
// read-only kernel paths, the init program, the environment.
#ifndef OVVOC_AGENT_SANDBOX_HARDENING_H_
#define OVVOC_AGENT_SANDBOX_HARDENING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "agent/sandbox/sandbox.h"
#include "nlohmann/json.hpp"

namespace ovvoc::agent::sandbox {

// seccomp/profile.json (OCI format, which Docker also takes), compiled into the agent.
const nlohmann::json& SeccompProfile();

// /proc and /sys paths hidden (masked) or made read-only: what Docker hides by default and more,
// so that no host path and nothing of another job is visible (DESIGN.md section 5). Both
// backends are given exactly these lists.
const std::vector<std::string>& MaskedPaths();
const std::vector<std::string>& ReadonlyPaths();

// PID 1 of every container: reaps orphans, exits on SIGTERM (deploy/image/init.c).
inline constexpr char kInitPath[] = "/sbin/ovvoc-init";

// The environment every process starts from, for a container with `limits`. Nothing of the
// agent's own environment.
std::vector<std::string> BaseEnvironment(const Limits& limits);

// The PATH of every job process (BaseEnvironment's).
inline constexpr char kPath[] = "/usr/local/bin:/usr/bin:/bin";

// node's heap sizes for a container with `memory_bytes`, as NODE_OPTIONS flags. Left alone,
// node sizes V8 from the cgroup limit as if it were a small device's RAM: 512 MiB gives a heap
// limit of 259 MiB and 1 MiB semi-spaces, so builds that fit the box fail with "heap out of
// memory" and the rest run 20% slower in constant scavenges (tsc, measured). The job is the
// box's only tenant: the old space gets 3/4 of it, the young generation V8's desktop size (16
// MiB semi-spaces), smaller for small boxes. The rest is for native memory and code.
std::string NodeHeapOptions(uint64_t memory_bytes);

}  // namespace ovvoc::agent::sandbox

#endif  // OVVOC_AGENT_SANDBOX_HARDENING_H_
