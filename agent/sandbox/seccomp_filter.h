// The seccomp profile (seccomp/profile.json, OCI format) compiled once into a BPF program with
// libseccomp. The container's init installs it on itself before it runs any command (so every
// command inherits it): the same filter on both backends, and no per-container compilation by
// the runtime (~13 ms of every runc start).
#ifndef OVVOC_AGENT_SANDBOX_SECCOMP_FILTER_H_
#define OVVOC_AGENT_SANDBOX_SECCOMP_FILTER_H_

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace ovvoc::agent::sandbox {

// The raw BPF program (struct sock_filter[]) for `profile`. Rules whose action is the default
// are left out (they would change nothing); syscalls this libseccomp does not know are skipped.
absl::StatusOr<std::string> CompileSeccompProfile(const nlohmann::json& profile);

// SeccompProfile() compiled, once per process.
const absl::StatusOr<std::string>& CompiledSeccompProfile();

}  // namespace ovvoc::agent::sandbox

#endif  // OVVOC_AGENT_SANDBOX_SECCOMP_FILTER_H_
