#include "agent/pipeline/pipeline.h"

#include "common/job_text.h"
#include "common/logging.h"
#include "common/time_util.h"

namespace ovvoc::agent {

void JobContext::Cancel(absl::string_view reason) {
  absl::MutexLock lock(&mu_);
  if (cancelled_) return;
  cancelled_ = true;
  cancel_reason_ = std::string(reason);
}

bool JobContext::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

std::string JobContext::cancel_reason() const {
  absl::MutexLock lock(&mu_);
  return cancel_reason_;
}

void JobContext::UpdateResult(absl::FunctionRef<void(ovvoc::v1::JobResult&)> update) {
  absl::MutexLock lock(&result_mu_);
  update(result_);
}

void JobContext::SetProgress(absl::string_view phase, absl::string_view message) {
  absl::MutexLock lock(&mu_);
  progress_.set_phase(std::string(phase));
  progress_.set_message(std::string(message));
}

ovvoc::v1::Progress JobContext::progress() const {
  absl::MutexLock lock(&mu_);
  return progress_;
}

namespace {

// Runs phases[from...]; `started` ends as one past the last phase started.
void RunPhases(JobContext& job, const std::vector<std::unique_ptr<Phase>>& phases, size_t from,
               size_t& started) {
  ovvoc::v1::JobResult& result = job.result();
  for (size_t i = from; i < phases.size(); ++i) {
    const std::unique_ptr<Phase>& phase = phases[i];
    if (job.cancelled()) break;
    const std::string name(phase->name());
    if (job.Now() >= job.deadline()) {
      result.set_outcome(ovvoc::v1::JOB_OUTCOME_FAILED);
      result.mutable_failure()->set_phase(name);
      result.mutable_failure()->set_reason("the job ran out of time before this phase");
      result.mutable_failure()->set_termination(ovvoc::v1::TERMINATION_TIMEOUT);
      return;
    }
    job.SetProgress(name, "");
    log::Info("job %s: %s", job.spec().job_id(), name);
    const absl::Time start = job.Now();
    started = i + 1;
    absl::Status status = phase->Run(job);
    ovvoc::v1::PhaseTiming* timing = result.add_timings();
    timing->set_phase(name);
    *timing->mutable_duration() = ToProto(job.Now() - start);
    timing->set_ok(status.ok());
    if (job.cancelled()) break;
    if (!status.ok()) {
      log::Warning("job %s: %s failed: %s", job.spec().job_id(), name, status.ToString());
      result.set_outcome(ovvoc::v1::JOB_OUTCOME_FAILED);
      result.mutable_failure()->set_phase(name);
      result.mutable_failure()->set_reason(std::string(status.message()));
      return;
    }
  }
  if (job.cancelled()) {
    result.set_outcome(ovvoc::v1::JOB_OUTCOME_CANCELLED);
    result.mutable_failure()->set_phase(job.progress().phase());
    result.mutable_failure()->set_reason(job.cancel_reason());
    result.mutable_failure()->set_termination(ovvoc::v1::TERMINATION_CANCELLED);
    return;
  }
  result.set_outcome(ovvoc::v1::JOB_OUTCOME_SUCCEEDED);
}

}  // namespace

void RunPipeline(JobContext& job, const std::vector<std::unique_ptr<Phase>>& phases,
                 const Rerun* rerun) {
  job.result().set_agent_version(OVVOC_VERSION);
  size_t started = 0;
  size_t from = 0;
  for (;;) {
    RunPhases(job, phases, from, started);
    if (rerun == nullptr || job.cancelled() ||
        job.result().outcome() != ovvoc::v1::JOB_OUTCOME_FAILED || started <= rerun->first) {
      break;
    }
    // The attempt's phases end (their containers go) before the next begins.
    while (started > rerun->first) phases[--started]->Finish(job);
    if (!rerun->again(job)) break;
    from = rerun->first;
  }
  while (started > 0) phases[--started]->Finish(job);
  if (rerun != nullptr && rerun->done) rerun->done(job);
  // The result is made of what the repository, the registry and the container said: inert
  // before anyone prints, logs, stores or reports it.
  MakeInert(job.result());
}

}  // namespace ovvoc::agent
