#include "agent/sandbox/classify.h"

namespace ovvoc::agent::sandbox {
namespace {
constexpr int kMaxSignal = 64;  // SIGRTMAX on Linux
}  // namespace

ovvoc::v1::Termination Classify(const PhaseEnd& end) {
  if (end.cancelled) return ovvoc::v1::TERMINATION_CANCELLED;
  if (end.timed_out) return ovvoc::v1::TERMINATION_TIMEOUT;
  if (end.after.oom_kills > end.before.oom_kills) return ovvoc::v1::TERMINATION_OOM;
  const bool failed = end.exit_code != 0;
  if (failed && end.after.pids_max_hits > end.before.pids_max_hits) {
    return ovvoc::v1::TERMINATION_PIDS;
  }
  if (failed && end.disk_full) return ovvoc::v1::TERMINATION_DISK;
  // Runtimes report a signal as 128 + its number; higher codes (npm exits 254) are plain exits.
  if (end.exit_code > 128 && end.exit_code <= 128 + kMaxSignal) {
    return ovvoc::v1::TERMINATION_SIGNALED;
  }
  return ovvoc::v1::TERMINATION_EXITED;
}

}  // namespace ovvoc::agent::sandbox
