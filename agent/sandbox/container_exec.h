// Running one phase's command in a started container, the same way for both backends: through
// the container's init (init_channel.h), with its cgroup counters read around it to classify
// how it ended.
#ifndef OVVOC_AGENT_SANDBOX_CONTAINER_EXEC_H_
#define OVVOC_AGENT_SANDBOX_CONTAINER_EXEC_H_

#include <functional>

#include "absl/status/statusor.h"
#include "agent/sandbox/cgroup.h"
#include "agent/sandbox/init_channel.h"
#include "agent/sandbox/sandbox.h"

namespace ovvoc::agent::sandbox {

// `kill_strays` kills everything in the container but its init.
absl::StatusOr<ExecResult> ExecInContainer(InitChannel& channel, const ContainerCgroup& cgroup,
                                           const SandboxSpec& spec, const ExecSpec& exec,
                                           const std::function<bool()>& cancelled,
                                           const std::function<void()>& kill_strays);

}  // namespace ovvoc::agent::sandbox

#endif  // OVVOC_AGENT_SANDBOX_CONTAINER_EXEC_H_
