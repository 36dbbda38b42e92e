// The job state machine (control-plane/queue/lease.h), transition by transition.
#include "control-plane/queue/lease.h"

#include <catch2/catch.hpp>

namespace ovvoc::cp::queue {
namespace {

using ovvoc::v1::JobState;

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);
const absl::Duration kTtl = absl::Seconds(60);

JobRecord QueuedJob() {
  JobRecord job;
  job.id = "job_1";
  job.state = ovvoc::v1::JOB_STATE_QUEUED;
  job.max_attempts = 3;
  job.created_at = kStart;
  return job;
}

ovvoc::v1::JobResult Outcome(ovvoc::v1::JobOutcome outcome) {
  ovvoc::v1::JobResult result;
  result.set_outcome(outcome);
  return result;
}

TEST_CASE("lease moves a queued job to leased under a new attempt") {
  JobRecord job = QueuedJob();
  REQUIRE(Lease(job, "agt_a", kStart, kTtl).ok());
  CHECK(job.state == ovvoc::v1::JOB_STATE_LEASED);
  CHECK(job.attempt == 1);
  CHECK(job.agent_id == "agt_a");
  CHECK(job.lease_expires_at == kStart + kTtl);
  CHECK(absl::IsFailedPrecondition(Lease(job, "agt_b", kStart, kTtl)));
}

TEST_CASE("heartbeat extends only the current holder's lease") {
  JobRecord job = QueuedJob();
  REQUIRE(Lease(job, "agt_a", kStart, kTtl).ok());
  REQUIRE(Heartbeat(job, "agt_a", 1, kStart + absl::Seconds(30), kTtl).ok());
  CHECK(job.lease_expires_at == kStart + absl::Seconds(90));
  CHECK(absl::IsPermissionDenied(Heartbeat(job, "agt_b", 1, kStart, kTtl)));
  CHECK(absl::IsFailedPrecondition(Heartbeat(job, "agt_a", 2, kStart, kTtl)));
}

TEST_CASE("an expired lease requeues, then fails once attempts are spent") {
  JobRecord job = QueuedJob();
  absl::Time now = kStart;
  for (uint32_t attempt = 1; attempt <= 3; ++attempt) {
    REQUIRE(Lease(job, "agt_a", now, kTtl).ok());
    CHECK(ExpireIfDue(job, now + kTtl) == ExpireOutcome::kNotExpired);  // not before the end
    now += kTtl + absl::Seconds(1);
    ExpireOutcome outcome = ExpireIfDue(job, now);
    if (attempt < 3) {
      CHECK(outcome == ExpireOutcome::kRequeued);
      CHECK(job.state == ovvoc::v1::JOB_STATE_QUEUED);
    } else {
      CHECK(outcome == ExpireOutcome::kFailed);
      CHECK(job.state == ovvoc::v1::JOB_STATE_FAILED);
      CHECK_THAT(job.status_reason, Catch::Contains("3 of 3"));
    }
  }
}

TEST_CASE("a late result from an old attempt is refused, the current one is idempotent") {
  JobRecord job = QueuedJob();
  REQUIRE(Lease(job, "agt_a", kStart, kTtl).ok());
  REQUIRE(ExpireIfDue(job, kStart + kTtl + absl::Seconds(1)) == ExpireOutcome::kRequeued);
  REQUIRE(Lease(job, "agt_b", kStart + absl::Seconds(70), kTtl).ok());

  CHECK(!Complete(job, "agt_a", 1, Outcome(ovvoc::v1::JOB_OUTCOME_SUCCEEDED), kStart).ok());
  CHECK(job.state == ovvoc::v1::JOB_STATE_LEASED);

  REQUIRE(Complete(job, "agt_b", 2, Outcome(ovvoc::v1::JOB_OUTCOME_SUCCEEDED), kStart).ok());
  CHECK(job.state == ovvoc::v1::JOB_STATE_SUCCEEDED);
  // The same report again (a retry after a lost answer) changes nothing.
  CHECK(Complete(job, "agt_b", 2, Outcome(ovvoc::v1::JOB_OUTCOME_FAILED), kStart).ok());
  CHECK(job.state == ovvoc::v1::JOB_STATE_SUCCEEDED);
}

TEST_CASE("a failed outcome ends the job failed with the phase and reason") {
  JobRecord job = QueuedJob();
  REQUIRE(Lease(job, "agt_a", kStart, kTtl).ok());
  ovvoc::v1::JobResult result = Outcome(ovvoc::v1::JOB_OUTCOME_FAILED);
  result.mutable_failure()->set_phase("manifest");
  result.mutable_failure()->set_reason("package.json: not valid JSON");
  REQUIRE(Complete(job, "agt_a", 1, result, kStart).ok());
  CHECK(job.state == ovvoc::v1::JOB_STATE_FAILED);
  CHECK(job.status_reason == "manifest: package.json: not valid JSON");
  CHECK(job.result->failure().phase() == "manifest");
}

TEST_CASE("a handed-back lease is requeued without spending an attempt") {
  JobRecord job = QueuedJob();
  for (int i = 0; i < 5; ++i) {
    REQUIRE(Lease(job, "agt_a", kStart, kTtl).ok());
    REQUIRE(Release(job, "agt_a", job.attempt, "shutting down", kStart).ok());
    CHECK(job.state == ovvoc::v1::JOB_STATE_QUEUED);
  }
  REQUIRE(Lease(job, "agt_a", kStart, kTtl).ok());
  CHECK(ExpireIfDue(job, kStart + kTtl + absl::Seconds(1)) == ExpireOutcome::kRequeued);
}

TEST_CASE("cancel: queued ends at once, leased waits for the agent") {
  JobRecord queued = QueuedJob();
  REQUIRE(RequestCancel(queued, kStart).ok());
  CHECK(queued.state == ovvoc::v1::JOB_STATE_CANCELLED);
  CHECK(absl::IsFailedPrecondition(RequestCancel(queued, kStart)));

  JobRecord leased = QueuedJob();
  REQUIRE(Lease(leased, "agt_a", kStart, kTtl).ok());
  REQUIRE(RequestCancel(leased, kStart).ok());
  CHECK(leased.state == ovvoc::v1::JOB_STATE_LEASED);
  CHECK(leased.cancel_requested);
  // An agent that dies instead of stopping: the expiry ends the job cancelled, not requeued.
  CHECK(ExpireIfDue(leased, kStart + kTtl + absl::Seconds(1)) == ExpireOutcome::kCancelled);
  CHECK(leased.state == ovvoc::v1::JOB_STATE_CANCELLED);
}

TEST_CASE("an agent that ignores a cancel cannot have the job recorded as succeeded") {
  for (ovvoc::v1::JobOutcome outcome :
       {ovvoc::v1::JOB_OUTCOME_SUCCEEDED, ovvoc::v1::JOB_OUTCOME_FAILED,
        ovvoc::v1::JOB_OUTCOME_CANCELLED, ovvoc::v1::JOB_OUTCOME_UNSPECIFIED}) {
    INFO(ovvoc::v1::JobOutcome_Name(outcome));
    JobRecord job = QueuedJob();
    REQUIRE(Lease(job, "agt_a", kStart, kTtl).ok());
    REQUIRE(RequestCancel(job, kStart).ok());
    ovvoc::v1::JobResult result = Outcome(outcome);
    result.set_head_commit("abc123");
    REQUIRE(Complete(job, "agt_a", 1, result, kStart + absl::Seconds(5)).ok());
    CHECK(job.state == ovvoc::v1::JOB_STATE_CANCELLED);
    CHECK_THAT(job.status_reason, Catch::Contains("cancel was requested before the result") &&
                                      Catch::Contains(ovvoc::v1::JobOutcome_Name(outcome)));
    // The result is kept as the agent sent it, for the record.
    REQUIRE(job.result.has_value());
    CHECK(job.result->outcome() == outcome);
    CHECK(job.result->head_commit() == "abc123");
    // A retry of the same report changes nothing.
    CHECK(Complete(job, "agt_a", 1, Outcome(ovvoc::v1::JOB_OUTCOME_SUCCEEDED), kStart).ok());
    CHECK(job.state == ovvoc::v1::JOB_STATE_CANCELLED);
  }
  // Positive control: without the cancel, the same report ends the job succeeded.
  JobRecord job = QueuedJob();
  REQUIRE(Lease(job, "agt_a", kStart, kTtl).ok());
  REQUIRE(Complete(job, "agt_a", 1, Outcome(ovvoc::v1::JOB_OUTCOME_SUCCEEDED), kStart).ok());
  CHECK(job.state == ovvoc::v1::JOB_STATE_SUCCEEDED);
}

TEST_CASE("a failed report after a cancel keeps the agent's reason in the status") {
  JobRecord job = QueuedJob();
  REQUIRE(Lease(job, "agt_a", kStart, kTtl).ok());
  REQUIRE(RequestCancel(job, kStart).ok());
  ovvoc::v1::JobResult result = Outcome(ovvoc::v1::JOB_OUTCOME_FAILED);
  result.mutable_failure()->set_phase("test");
  result.mutable_failure()->set_reason("2 tests failed");
  REQUIRE(Complete(job, "agt_a", 1, result, kStart).ok());
  CHECK(job.state == ovvoc::v1::JOB_STATE_CANCELLED);
  CHECK_THAT(job.status_reason, Catch::Contains("test: 2 tests failed"));
}

TEST_CASE("abort fails a leased job the control plane could not prepare") {
  JobRecord job = QueuedJob();
  REQUIRE(Lease(job, "agt_a", kStart, kTtl).ok());
  Abort(job, "cannot mint a token", kStart);
  CHECK(job.state == ovvoc::v1::JOB_STATE_FAILED);
  CHECK(IsTerminal(job.state));
}

}  // namespace
}  // namespace ovvoc::cp::queue
