#include "agent/sandbox/container_exec.h"

#include <algorithm>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "agent/sandbox/classify.h"
#include "agent/sandbox/seccomp_filter.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace ovvoc::agent::sandbox {
namespace {

// Often enough to see an install's or a test run's peak, rarely enough to cost nothing
// (one small read of memory.stat).
constexpr absl::Duration kMemorySampleInterval = absl::Milliseconds(50);

}  // namespace

absl::Status ContainerSandbox::ListenForInit() {
  OVVOC_ASSIGN_OR_RETURN(channel_, InitChannel::Listen(spec_.control_dir, spec_.uid));
  return absl::OkStatus();
}

absl::Status ContainerSandbox::Attach(const std::function<bool(int pid)>& is_init, int give_up_fd) {
  OVVOC_ASSIGN_OR_RETURN(const int init_pid,
                         channel_->Accept(is_init, absl::Seconds(10), give_up_fd));
  init_pid_ = init_pid;
  const absl::StatusOr<std::string>& filter = CompiledSeccompProfile();
  if (!filter.ok()) return filter.status();
  OVVOC_RETURN_IF_ERROR(channel_->InstallSeccomp(*filter, absl::Seconds(10)));
  // Trust, but check: the init must now run filtered (and so will every command it forks).
  absl::StatusOr<std::string> status = files::ReadFile(absl::StrCat("/proc/", init_pid, "/status"));
  if (!status.ok() || !absl::StrContains(*status, "\nSeccomp:\t2\n")) {
    return absl::InternalError("the container's init is not under the seccomp filter");
  }
  OVVOC_ASSIGN_OR_RETURN(ContainerCgroup cgroup, ContainerCgroup::ForPid(init_pid));
  cgroup_ = std::move(cgroup);
  return absl::OkStatus();
}

absl::Status ContainerSandbox::KillStrays() {
  if (!cgroup_.has_value()) return absl::OkStatus();
  return cgroup_->KillAllExcept(init_pid_);
}

absl::StatusOr<ExecResult> ContainerSandbox::Exec(const ExecSpec& exec,
                                                  const std::function<bool()>& cancelled) {
  if (!cgroup_.has_value()) return absl::FailedPreconditionError("the container is not running");
  // The command's own variables replace the container's of the same name: one value each.
  std::vector<std::string> env = spec_.env;
  for (const std::string& var : exec.env) {
    const std::string key = var.substr(0, var.find('=') + 1);
    auto same = std::find_if(env.begin(), env.end(),
                             [&key](const std::string& e) { return e.compare(0, key.size(), key) == 0; });
    if (same != env.end()) {
      *same = var;
    } else {
      env.push_back(var);
    }
  }
  PhaseEnd end;
  end.before = cgroup_->Read();
  cgroup_->ResetPeakMemory();
  // The cgroup keeps no peak of the working set apart from the cache: sampled.
  ContainerCgroup::MemoryUse peak;
  auto sample = [this, &peak] {
    const ContainerCgroup::MemoryUse now = cgroup_->ReadMemory();
    peak.working_set = std::max(peak.working_set, now.working_set);
    peak.cache = std::max(peak.cache, now.cache);
  };
  absl::Notification ran_out;
  std::thread sampler([&] {
    do {
      sample();
    } while (!ran_out.WaitForNotificationWithTimeout(kMemorySampleInterval));
  });
  absl::StatusOr<InitChannel::Result> run =
      channel_->Run(exec.argv, env, exec.cwd, exec.timeout, exec.output_limit, cancelled,
                    [this] { (void)KillStrays(); });
  ran_out.Notify();
  sampler.join();
  sample();
  if (!run.ok()) return run.status();
  InitChannel::Result& ran = *run;
  end.after = cgroup_->Read();
  end.exit_code = ran.exit_code;
  end.timed_out = ran.timed_out;
  end.cancelled = ran.cancelled;
  end.disk_full = spec_.disk_full && spec_.disk_full();

  ExecResult result;
  result.exit_code = ran.exit_code;
  result.termination = ran.init_lost ? ovvoc::v1::TERMINATION_SIGNALED : Classify(end);
  result.container_lost = ran.init_lost;
  result.output = std::move(ran.output);
  result.duration = ran.duration;
  result.peak_memory_bytes = end.after.peak_memory;
  result.peak_working_set_bytes = peak.working_set;
  result.peak_cache_bytes = peak.cache;
  result.cpu_time = end.after.cpu_time - end.before.cpu_time;
  return result;
}

}  // namespace ovvoc::agent::sandbox
