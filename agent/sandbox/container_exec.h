// What both backends share once a container runs: its init's channel (init_channel.h), its
// cgroup, and running a phase's command through the one and classifying how it ended from the
// other. A backend derives from ContainerSandbox, starts its container its own way, then
// Attach()es; it implements only Destroy().
#ifndef OVVOC_AGENT_SANDBOX_CONTAINER_EXEC_H_
#define OVVOC_AGENT_SANDBOX_CONTAINER_EXEC_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "agent/sandbox/cgroup.h"
#include "agent/sandbox/init_channel.h"
#include "agent/sandbox/sandbox.h"

namespace ovvoc::agent::sandbox {

class ContainerSandbox : public Sandbox {
 public:
  explicit ContainerSandbox(SandboxSpec spec) : spec_(std::move(spec)) {}

  int init_pid() const override { return init_pid_; }
  absl::StatusOr<ExecResult> Exec(const ExecSpec& exec,
                                  const std::function<bool()>& cancelled) override;
  absl::Status KillStrays() override;

 protected:
  // Listens for the init in spec_.control_dir (the host dir the container mounts at /run): call
  // before starting the container.
  absl::Status ListenForInit();
  // Once the container runs: takes the channel of its init, the first peer whose host pid
  // satisfies `is_init` (see InitChannel::Accept, also for `give_up_fd`), puts the init under
  // the seccomp filter and finds its cgroup.
  absl::Status Attach(const std::function<bool(int pid)>& is_init, int give_up_fd = -1);

  const SandboxSpec spec_;
  int init_pid_ = 0;

 private:
  std::unique_ptr<InitChannel> channel_;
  std::optional<ContainerCgroup> cgroup_;
};

}  // namespace ovvoc::agent::sandbox

#endif  // OVVOC_AGENT_SANDBOX_CONTAINER_EXEC_H_
