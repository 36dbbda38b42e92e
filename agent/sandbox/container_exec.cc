#include "agent/sandbox/container_exec.h"

#include "agent/sandbox/classify.h"
#include "common/status_macros.h"

namespace ovvoc::agent::sandbox {

absl::StatusOr<ExecResult> ExecInContainer(InitChannel& channel, const ContainerCgroup& cgroup,
                                           const SandboxSpec& spec, const ExecSpec& exec,
                                           const std::function<bool()>& cancelled,
                                           const std::function<void()>& kill_strays) {
  std::vector<std::string> env = spec.env;
  env.insert(env.end(), exec.env.begin(), exec.env.end());
  PhaseEnd end;
  end.before = cgroup.Read();
  cgroup.ResetPeakMemory();
  OVVOC_ASSIGN_OR_RETURN(InitChannel::Result ran,
                         channel.Run(exec.argv, env, exec.cwd, exec.timeout, exec.output_limit,
                                     cancelled, kill_strays));
  end.after = cgroup.Read();
  end.exit_code = ran.exit_code;
  end.timed_out = ran.timed_out;
  end.cancelled = ran.cancelled;
  end.disk_full = spec.disk_full && spec.disk_full();

  ExecResult result;
  result.exit_code = ran.exit_code;
  result.termination = Classify(end);
  result.output = std::move(ran.output);
  result.duration = ran.duration;
  result.peak_memory_bytes = end.after.peak_memory;
  result.cpu_time = end.after.cpu_time - end.before.cpu_time;
  return result;
}

}  // namespace ovvoc::agent::sandbox
