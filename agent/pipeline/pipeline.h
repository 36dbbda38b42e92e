// The update job as a sequence of phases. Each phase reads and extends a JobContext; the
// pipeline times them, stops at the first failure or a cancel, and turns the outcome into a
// JobResult. Later phases (resolve, sandboxed install/build/test, score, push) slot in here.
#ifndef OVVOC_AGENT_PIPELINE_PIPELINE_H_
#define OVVOC_AGENT_PIPELINE_PIPELINE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "ovvoc/v1/job.pb.h"

namespace ovvoc::agent {

// One running job. The job's thread runs the phases; other threads may Cancel() it and read
// its progress. `result` belongs to the job's thread.
class JobContext {
 public:
  JobContext(ovvoc::v1::JobSpec spec, std::string work_dir)
      : spec_(std::move(spec)), work_dir_(std::move(work_dir)) {}

  const ovvoc::v1::JobSpec& spec() const { return spec_; }
  // The job's private directory; the repository is cloned into repo_dir().
  const std::string& work_dir() const { return work_dir_; }
  std::string repo_dir() const { return work_dir_ + "/repo"; }

  ovvoc::v1::JobResult& result() { return result_; }

  void Cancel(absl::string_view reason) ABSL_LOCKS_EXCLUDED(mu_);
  bool cancelled() const ABSL_LOCKS_EXCLUDED(mu_);
  std::string cancel_reason() const ABSL_LOCKS_EXCLUDED(mu_);
  // Sleeps up to `d`; false (early) if the job is cancelled meanwhile.
  bool SleepFor(absl::Duration d) const ABSL_LOCKS_EXCLUDED(mu_);

  void SetProgress(absl::string_view phase, absl::string_view message) ABSL_LOCKS_EXCLUDED(mu_);
  ovvoc::v1::Progress progress() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const ovvoc::v1::JobSpec spec_;
  const std::string work_dir_;
  ovvoc::v1::JobResult result_;

  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::string cancel_reason_ ABSL_GUARDED_BY(mu_);
  ovvoc::v1::Progress progress_ ABSL_GUARDED_BY(mu_);
};

class Phase {
 public:
  virtual ~Phase() = default;
  virtual absl::string_view name() const = 0;
  // A failure's message becomes the job's failure reason: make it say what to do.
  virtual absl::Status Run(JobContext& job) = 0;
  // Called once the pipeline ends, for every phase that started, latest first, whatever the
  // outcome: where a phase releases what it made (a container, a mount).
  virtual void Finish(JobContext& job) {}
};

struct SandboxSettings;  // sandbox_session.h

struct PipelineOptions {
  // Null: only the clone and manifest phases run (no sandbox configured).
  const SandboxSettings* sandbox = nullptr;
  // Clone file:// and plain-path remotes. Off by default: a job must not be able to make the
  // agent read repositories that merely sit on its own disk.
  bool allow_file_remotes = false;
  // Test-only: a pause after cloning, so tests can kill or cancel a job mid-flight.
  absl::Duration test_delay = absl::ZeroDuration();
};

// The phases of an update job, in order.
std::vector<std::unique_ptr<Phase>> UpdatePhases(const PipelineOptions& options);

// Runs `phases` in order and completes job.result(): outcome, failure, per-phase timings.
void RunPipeline(JobContext& job, const std::vector<std::unique_ptr<Phase>>& phases);

}  // namespace ovvoc::agent

#endif  // OVVOC_AGENT_PIPELINE_PIPELINE_H_
