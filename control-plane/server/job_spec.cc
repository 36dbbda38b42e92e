#include "control-plane/server/job_spec.h"

#include "absl/strings/numbers.h"
#include "common/job_text.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "common/time_util.h"

namespace ovvoc::cp {
namespace {

// Jobs of a repository looked at for a remembered node, newest first.
constexpr uint32_t kJobsRemembered = 10;

}  // namespace

uint32_t RememberedNodeMajor(Store& store, const std::string& repo_id) {
  JobFilter filter;
  filter.repo_id = repo_id;
  filter.limit = kJobsRemembered;
  absl::StatusOr<std::vector<JobRecord>> jobs = store.ListJobs(filter);
  if (!jobs.ok()) return 0;  // a hint only: the job chooses without it
  for (const JobRecord& job : *jobs) {
    if (!job.result.has_value() || !job.result->node().baseline_passed()) continue;
    uint32_t major = 0;
    const std::string& ran = job.result->node().ran();
    if (absl::SimpleAtoi(absl::string_view(ran).substr(0, ran.find('.')), &major)) return major;
  }
  return 0;
}

void KeepBaselineMemo(Store& store, const JobRecord& job, const ovvoc::v1::BaselineMemo& memo) {
  if (memo.key().empty() || job.state != ovvoc::v1::JOB_STATE_SUCCEEDED) return;
  absl::Status valid = CheckBaselineMemo(memo);
  if (valid.ok() && memo.job_id() != job.id) {
    valid = absl::InvalidArgumentError("it names another job");
  }
  if (!valid.ok()) {
    log::Warning("job %s: its baseline memo is not kept: %s", job.id, valid.message());
    return;
  }
  ovvoc::v1::BaselineMemo kept = memo;
  kept.DiscardUnknownFields();
  if (absl::Status s = store.PutBaselineMemo(job.repo_id, job.pool, kept); !s.ok()) {
    log::Warning("job %s: its baseline memo is not kept: %s", job.id, s.ToString());
  }
}

absl::StatusOr<ovvoc::v1::JobSpec> BuildJobSpec(const ServiceContext& ctx, const JobRecord& job) {
  OVVOC_ASSIGN_OR_RETURN(RepoRecord repo, ctx.store.GetRepo(job.repo_id));
  OVVOC_ASSIGN_OR_RETURN(OrgRecord org, ctx.store.GetOrg(job.org_id));
  OVVOC_ASSIGN_OR_RETURN(std::optional<ovvoc::v1::ForgeToken> token,
                         ctx.forge_tokens.TokenFor(org, repo));

  ovvoc::v1::JobSpec spec;
  spec.set_job_id(job.id);
  spec.set_org(org.name);
  spec.set_pool(job.pool);
  ovvoc::v1::Repository* r = spec.mutable_repo();
  r->set_id(repo.id);
  r->set_url(repo.url);
  r->set_forge(repo.forge);
  if (token.has_value()) *spec.mutable_forge_token() = *std::move(token);
  // No registries until repos or orgs configure some: the agent's default (its mirror, else
  // the public registry) applies.
  spec.set_remembered_node_major(RememberedNodeMajor(ctx.store, repo.id));
  // A hint too: without it the agent runs the baseline.
  if (absl::StatusOr<std::optional<ovvoc::v1::BaselineMemo>> memo =
          ctx.store.GetBaselineMemo(repo.id, job.pool);
      memo.ok() && memo->has_value()) {
    *spec.mutable_baseline_memo() = **std::move(memo);
  } else if (!memo.ok()) {
    log::Warning("job %s: the repository's baseline memo cannot be read: %s", job.id,
                 memo.status().ToString());
  }
  ovvoc::v1::Lease* lease = spec.mutable_lease();
  lease->set_attempt(job.attempt);
  *lease->mutable_expires_at() = ToProto(job.lease_expires_at);
  *lease->mutable_ttl() = ToProto(ctx.options.lease_ttl);
  *lease->mutable_heartbeat_interval() = ToProto(ctx.options.heartbeat_interval);
  return spec;
}

}  // namespace ovvoc::cp
