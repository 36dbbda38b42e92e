#include "agent/pipeline/sandbox_phases.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/npm/project.h"
#include "agent/pipeline/baseline_memo.h"
#include "agent/pipeline/proposals.h"
#include "agent/pipeline/trial.h"
#include "agent/workspace/beneath.h"
#include "common/logging.h"

namespace ovvoc::agent {
namespace {

// The baseline's container, unless the job's memo already holds this baseline's outcome
// (baseline_memo.h): then nothing of the baseline runs.
class SandboxPhase final : public Phase {
 public:
  SandboxPhase(const SandboxSettings& settings, std::shared_ptr<SandboxSession> session)
      : settings_(settings), session_(std::move(session)) {}
  absl::string_view name() const override { return "sandbox"; }
  absl::Status Run(JobContext& job) override {
    job.result().mutable_baseline()->set_node(job.result().node().ran());
    BaselineMemoState& memo = job.memo();
    memo.advice_from = job.result().advice_size();
    memo.key.clear();
    if (absl::StatusOr<std::string> key = BaselineKey(job, settings_); key.ok()) {
      memo.key = *std::move(key);
    } else {
      log::Info("job %s: the baseline will not be remembered: %s", job.spec().job_id(),
                key.status().message());
    }
    memo.reused = TakeBaselineMemo(job, memo.key);
    if (memo.reused) {
      log::Info(
          "job %s: the baseline is job %s's (the same commit, lockfile, image and "
          "commands): not run again",
          job.spec().job_id(), job.result().baseline_reused().job_id());
      job.SetProgress("sandbox", "baseline proven by an earlier job: not run again");
      return absl::OkStatus();
    }
    return session_->Prepare(job);
  }
  void Finish(JobContext& job) override { session_->Teardown(); }

 private:
  const SandboxSettings& settings_;
  std::shared_ptr<SandboxSession> session_;
};

// One command of the baseline: the project as cloned (trial.h).
class BaselinePhase final : public Phase {
 public:
  BaselinePhase(std::shared_ptr<SandboxSession> session, TrialStep step)
      : session_(std::move(session)), step_(step) {}
  absl::string_view name() const override { return StepName(step_); }

  absl::Status Run(JobContext& job) override {
    // Without a lockfile to make, the baseline has nothing to say about one: not a skip.
    if (step_ == TrialStep::kLockfile && job.project().has_lockfile) return absl::OkStatus();
    if (job.memo().reused) return absl::OkStatus();
    ovvoc::v1::JobResult& result = job.result();
    TrialRecord record;
    record.trial = result.mutable_baseline();
    record.failure = result.mutable_failure();
    record.findings = result.mutable_findings();
    record.manifest = &job.project().manifest;
    record.npmrc = &job.project().npmrc;
    absl::Status status = RunTrialStep(job, *session_, step_, ProjectCommand(job, step_), record);
    if (!status.ok() && step_ == TrialStep::kTest) status = Again(job, record);
    if (status.ok() && step_ == TrialStep::kLockfile) {
      // What npm resolved with no dependency code running: the lockfile each proposal starts
      // from, read before the install can change it.
      absl::StatusOr<std::string> lockfile =
          ReadFileBeneath(session_->tree_dir(), "package-lock.json", npm::kMaxLockfileBytes);
      if (lockfile.ok()) job.project().made_lockfile = *std::move(lockfile);
    }
    if (status.ok() && step_ == TrialStep::kTest) {
      job.memo().made = MakeBaselineMemo(job, job.memo().key, job.memo().advice_from);
    }
    return status;
  }

 private:
  // Failing tests run a second time on the last node to be tried: a pass then is a pass,
  // marked flaky (attempts 2 and an advice), so that a flaky suite neither fails the job nor
  // lets an update be blamed for it.
  absl::Status Again(JobContext& job, const TrialRecord& record) {
    ovvoc::v1::JobResult& result = job.result();
    const ovvoc::v1::CommandOutcome& first = result.baseline().test();
    // While another node may be tried, that try is the second run (a flaky suite that passes
    // there reads as the node's doing: the price of not doubling every failing attempt).
    if (job.cancelled() || first.termination() != ovvoc::v1::TERMINATION_EXITED ||
        !job.project().node_alternatives.empty()) {
      return absl::AbortedError(result.failure().reason());
    }
    log::Info("job %s: the baseline's tests failed; running them once more", job.spec().job_id());
    const std::string reason = result.failure().reason();
    result.mutable_baseline()->clear_test();
    result.mutable_failure()->Clear();  // `record` points at it: cleared, never deleted
    absl::Status status = RunTrialStep(job, *session_, step_, ProjectCommand(job, step_), record);
    result.mutable_baseline()->mutable_test()->set_attempts(2);
    if (status.ok()) {
      ovvoc::v1::Advice* advice = result.add_advice();
      advice->set_subject("test");
      advice->set_message(
          absl::StrCat("the tests failed once and passed when run again: they are flaky (", reason,
                       "); each proposal's confidence counts it"));
    }
    return status;
  }

  std::shared_ptr<SandboxSession> session_;
  const TrialStep step_;
};

}  // namespace

void AddSandboxPhases(const SandboxSettings& settings,
                      std::vector<std::unique_ptr<Phase>>& phases) {
  auto session = std::make_shared<SandboxSession>(settings);
  phases.push_back(std::make_unique<SandboxPhase>(settings, session));
  for (TrialStep step :
       {TrialStep::kLockfile, TrialStep::kInstall, TrialStep::kBuild, TrialStep::kTest}) {
    phases.push_back(std::make_unique<BaselinePhase>(session, step));
  }
  phases.push_back(MakeProposalsPhase(settings, session));
}

}  // namespace ovvoc::agent
