// Turns a freshly leased job into the JobSpec its agent receives.
#ifndef OVVOC_CONTROL_PLANE_SERVER_JOB_SPEC_H_
#define OVVOC_CONTROL_PLANE_SERVER_JOB_SPEC_H_

#include "absl/status/statusor.h"
#include "control-plane/server/context.h"
#include "ovvoc/v1/job.pb.h"

namespace ovvoc::cp {

// The node major the newest of a repository's recent jobs whose baseline passed ran on; 0 when
// none did (or the store cannot say: it is a hint). Blocking.
uint32_t RememberedNodeMajor(Store& store, const std::string& repo_id);

// Keeps `memo`, reported with `job`'s result, as its repository's newest for the job's pool
// (job.proto's BaselineMemo), when the job succeeded and the memo is one an agent makes
// (CheckBaselineMemo) of that very job. Only the pool's agents are sent it: an agent of another
// pool (an org's self-hosted one beside the hosted one) cannot choose what the others hold
// proposals to. A memo is a shortcut: one that cannot be kept is logged and the next job runs
// its baseline.
void KeepBaselineMemo(Store& store, const JobRecord& job, const ovvoc::v1::BaselineMemo& memo);

// Blocking (store reads, forge token minting): call on the executor.
absl::StatusOr<ovvoc::v1::JobSpec> BuildJobSpec(const ServiceContext& ctx, const JobRecord& job);

}  // namespace ovvoc::cp

#endif  // OVVOC_CONTROL_PLANE_SERVER_JOB_SPEC_H_
