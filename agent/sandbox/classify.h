// How a phase's process ended, from what the agent saw and what the container's cgroup counted.
#ifndef OVVOC_AGENT_SANDBOX_CLASSIFY_H_
#define OVVOC_AGENT_SANDBOX_CLASSIFY_H_

#include "agent/sandbox/cgroup.h"
#include "ovvoc/v1/job.pb.h"

namespace ovvoc::agent::sandbox {

struct PhaseEnd {
  int exit_code = -1;  // 128 + signal when killed
  bool timed_out = false;
  bool cancelled = false;
  bool disk_full = false;  // the job disk had (almost) no space left afterwards
  ContainerCgroup::Counters before;
  ContainerCgroup::Counters after;
};

// The most telling cause wins: cancel, timeout, OOM kill, pids limit (when the phase failed),
// full disk (when it failed), a signal, else a plain exit.
ovvoc::v1::Termination Classify(const PhaseEnd& end);

}  // namespace ovvoc::agent::sandbox

#endif  // OVVOC_AGENT_SANDBOX_CLASSIFY_H_
