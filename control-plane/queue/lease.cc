#include "control-plane/queue/lease.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace ovvoc::cp::queue {
namespace {

using ovvoc::v1::JobState;

// OK when `agent_id` holds the current lease of `job` under `attempt`.
absl::Status CheckHolder(const JobRecord& job, absl::string_view agent_id, uint32_t attempt) {
  if (job.agent_id != agent_id) {
    return absl::PermissionDeniedError(
        absl::StrCat("job ", job.id, " is not leased to agent ", agent_id));
  }
  if (attempt != job.attempt) {
    return absl::FailedPreconditionError(absl::StrCat("stale attempt ", attempt, " of job ", job.id,
                                                      ": the current attempt is ", job.attempt));
  }
  if (job.state != ovvoc::v1::JOB_STATE_LEASED) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job.id, " is no longer leased (", JobState_Name(job.state), ")"));
  }
  return absl::OkStatus();
}

JobState StateFor(ovvoc::v1::JobOutcome outcome) {
  switch (outcome) {
    case ovvoc::v1::JOB_OUTCOME_SUCCEEDED:
      return ovvoc::v1::JOB_STATE_SUCCEEDED;
    case ovvoc::v1::JOB_OUTCOME_CANCELLED:
      return ovvoc::v1::JOB_STATE_CANCELLED;
    default:
      return ovvoc::v1::JOB_STATE_FAILED;
  }
}

void Requeue(JobRecord& job, absl::Time now) {
  job.state = ovvoc::v1::JOB_STATE_QUEUED;
  job.lease_expires_at = absl::UnixEpoch();
  job.progress.Clear();
  job.updated_at = now;
}

void End(JobRecord& job, JobState state, std::string reason, absl::Time now) {
  job.state = state;
  job.status_reason = std::move(reason);
  job.lease_expires_at = absl::UnixEpoch();
  job.updated_at = now;
}

}  // namespace

bool IsTerminal(JobState state) {
  return state == ovvoc::v1::JOB_STATE_SUCCEEDED || state == ovvoc::v1::JOB_STATE_FAILED ||
         state == ovvoc::v1::JOB_STATE_CANCELLED;
}

absl::Status Lease(JobRecord& job, absl::string_view agent_id, absl::Time now, absl::Duration ttl) {
  if (job.state != ovvoc::v1::JOB_STATE_QUEUED) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job.id, " is not queued (", JobState_Name(job.state), ")"));
  }
  job.state = ovvoc::v1::JOB_STATE_LEASED;
  job.attempt += 1;
  job.agent_id = std::string(agent_id);
  job.lease_expires_at = now + ttl;
  job.updated_at = now;
  job.progress.Clear();
  return absl::OkStatus();
}

absl::Status Heartbeat(JobRecord& job, absl::string_view agent_id, uint32_t attempt, absl::Time now,
                       absl::Duration ttl) {
  if (auto s = CheckHolder(job, agent_id, attempt); !s.ok()) return s;
  job.lease_expires_at = now + ttl;
  job.updated_at = now;
  return absl::OkStatus();
}

absl::Status Complete(JobRecord& job, absl::string_view agent_id, uint32_t attempt,
                      const ovvoc::v1::JobResult& result, absl::Time now) {
  if (IsTerminal(job.state) && job.agent_id == agent_id && job.attempt == attempt &&
      job.result.has_value()) {
    return absl::OkStatus();  // a retried report of the attempt that already ended the job
  }
  if (auto s = CheckHolder(job, agent_id, attempt); !s.ok()) return s;
  std::string reason;
  if (result.outcome() != ovvoc::v1::JOB_OUTCOME_SUCCEEDED) {
    reason = result.failure().reason().empty()
                 ? std::string(ovvoc::v1::JobOutcome_Name(result.outcome()))
                 : result.failure().reason();
    if (!result.failure().phase().empty())
      reason = absl::StrCat(result.failure().phase(), ": ", reason);
  }
  job.result = result;
  if (job.cancel_requested) {
    // The agent was told to stop; whatever it says it did after that, the job was cancelled.
    End(job, ovvoc::v1::JOB_STATE_CANCELLED,
        absl::StrCat("cancelled: the cancel was requested before the result, which reported ",
                     ovvoc::v1::JobOutcome_Name(result.outcome()),
                     reason.empty() ? "" : absl::StrCat(" (", reason, ")")),
        now);
    return absl::OkStatus();
  }
  End(job, StateFor(result.outcome()), std::move(reason), now);
  return absl::OkStatus();
}

absl::Status Release(JobRecord& job, absl::string_view agent_id, uint32_t attempt,
                     absl::string_view reason, absl::Time now) {
  if (auto s = CheckHolder(job, agent_id, attempt); !s.ok()) return s;
  if (job.cancel_requested) {
    End(job, ovvoc::v1::JOB_STATE_CANCELLED, "cancelled", now);
    return absl::OkStatus();
  }
  job.handbacks += 1;
  job.status_reason = absl::StrCat("handed back by ", agent_id, ": ", reason);
  Requeue(job, now);
  return absl::OkStatus();
}

ExpireOutcome ExpireIfDue(JobRecord& job, absl::Time now) {
  if (job.state != ovvoc::v1::JOB_STATE_LEASED || job.lease_expires_at >= now) {
    return ExpireOutcome::kNotExpired;
  }
  if (job.cancel_requested) {
    End(job, ovvoc::v1::JOB_STATE_CANCELLED, "cancelled (the agent stopped answering)", now);
    return ExpireOutcome::kCancelled;
  }
  const uint32_t lost = job.attempt - job.handbacks;
  if (lost >= job.max_attempts) {
    End(job, ovvoc::v1::JOB_STATE_FAILED,
        absl::StrCat("lease expired on attempt ", lost, " of ", job.max_attempts, " (last agent ",
                     job.agent_id, " stopped heartbeating); giving up"),
        now);
    return ExpireOutcome::kFailed;
  }
  job.status_reason = absl::StrCat("lease of attempt ", job.attempt, " expired (agent ",
                                   job.agent_id, " stopped heartbeating); queued again");
  Requeue(job, now);
  return ExpireOutcome::kRequeued;
}

void Abort(JobRecord& job, absl::string_view reason, absl::Time now) {
  End(job, ovvoc::v1::JOB_STATE_FAILED, std::string(reason), now);
}

absl::Status RequestCancel(JobRecord& job, absl::Time now) {
  if (IsTerminal(job.state)) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job.id, " has already ended (", JobState_Name(job.state), ")"));
  }
  if (job.state == ovvoc::v1::JOB_STATE_QUEUED) {
    End(job, ovvoc::v1::JOB_STATE_CANCELLED, "cancelled before an agent took it", now);
    return absl::OkStatus();
  }
  job.cancel_requested = true;
  job.updated_at = now;
  return absl::OkStatus();
}

}  // namespace ovvoc::cp::queue
