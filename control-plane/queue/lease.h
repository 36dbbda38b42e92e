// The job state machine: every transition a job can make, as pure functions on a JobRecord.
// The store applies them inside its transactions (Store::UpdateJob / LeaseNextJob), so the
// rules live here once and every store implementation obeys the same ones.
//
//   QUEUED --Lease--> LEASED --Complete--> SUCCEEDED | FAILED | CANCELLED
//     ^                 |  \--Release (agent stopping; not counted)--> QUEUED
//     |                 \--Expire (lease lost)--> QUEUED, or FAILED once attempts are spent
//     \--RequestCancel--> CANCELLED           (LEASED: sets cancel_requested; the agent stops,
//                                             and whatever it then reports ends it CANCELLED)
#ifndef OVVOC_CONTROL_PLANE_QUEUE_LEASE_H_
#define OVVOC_CONTROL_PLANE_QUEUE_LEASE_H_

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "control-plane/store/store.h"
#include "ovvoc/v1/job.pb.h"

namespace ovvoc::cp::queue {

bool IsTerminal(ovvoc::v1::JobState state);

// QUEUED -> LEASED under a new attempt held by `agent_id` until now + ttl.
absl::Status Lease(JobRecord& job, absl::string_view agent_id, absl::Time now, absl::Duration ttl);

// Extends the lease of the attempt `agent_id` holds. FailedPrecondition when that lease is no
// longer current (expired and requeued, or the job ended): the agent must stop the job.
absl::Status Heartbeat(JobRecord& job, absl::string_view agent_id, uint32_t attempt, absl::Time now,
                       absl::Duration ttl);

// Records the agent's result and ends the job in the state its outcome names, or CANCELLED
// whatever the outcome when a cancel was requested before the result (the result is kept as
// sent, and status_reason says what it reported). Reporting the same attempt again is a no-op
// (the first report wins); a stale attempt is refused.
absl::Status Complete(JobRecord& job, absl::string_view agent_id, uint32_t attempt,
                      const ovvoc::v1::JobResult& result, absl::Time now);

// A stopping agent hands its lease back: the job is queued again at once and the attempt does
// not count against max_attempts. A job with cancel_requested ends CANCELLED instead.
absl::Status Release(JobRecord& job, absl::string_view agent_id, uint32_t attempt,
                     absl::string_view reason, absl::Time now);

enum class ExpireOutcome { kNotExpired, kRequeued, kFailed, kCancelled };

// A lease that ended before `now` is lost: the job is queued for another attempt, or fails once
// max_attempts leases have been lost, or is cancelled if a cancel was pending.
ExpireOutcome ExpireIfDue(JobRecord& job, absl::Time now);

// The control plane ends a LEASED job itself because it could not prepare it for the agent
// (e.g. no forge token could be minted). No agent ever saw it.
void Abort(JobRecord& job, absl::string_view reason, absl::Time now);

// QUEUED jobs are cancelled at once; LEASED ones get cancel_requested, which the next
// heartbeat passes to the agent. FailedPrecondition for a job that has already ended.
absl::Status RequestCancel(JobRecord& job, absl::Time now);

}  // namespace ovvoc::cp::queue

#endif  // OVVOC_CONTROL_PLANE_QUEUE_LEASE_H_
