#include "control-plane/server/convert.h"

#include <string>

#include "absl/strings/string_view.h"
#include "common/inert.h"
#include "common/job_text.h"
#include "common/time_util.h"

namespace ovvoc::cp {

ovvoc::v1::Org ToProto(const OrgRecord& org) {
  ovvoc::v1::Org out;
  out.set_id(org.id);
  out.set_name(org.name);
  *out.mutable_created_at() = ovvoc::ToProto(org.created_at);
  return out;
}

ovvoc::v1::Repo ToProto(const RepoRecord& repo, absl::string_view org_name) {
  ovvoc::v1::Repo out;
  out.set_id(repo.id);
  out.set_org(std::string(org_name));
  out.set_url(repo.url);
  out.set_pool(repo.pool);
  out.set_forge(repo.forge);
  *out.mutable_created_at() = ovvoc::ToProto(repo.created_at);
  return out;
}

ovvoc::v1::Agent ToProto(const AgentRecord& agent, absl::string_view org_name) {
  ovvoc::v1::Agent out;
  out.set_id(agent.id);
  out.set_org(std::string(org_name));
  out.set_pool(agent.pool);
  // As enrollment stores them; records stored before that rule are made so here.
  out.set_hostname(InertLine(agent.hostname, 255));
  out.set_version(InertLine(agent.version, 64));
  out.set_state(agent.revoked ? ovvoc::v1::AGENT_STATE_REVOKED : ovvoc::v1::AGENT_STATE_ACTIVE);
  *out.mutable_enrolled_at() = ovvoc::ToProto(agent.enrolled_at);
  *out.mutable_last_seen_at() = ovvoc::ToProto(agent.last_seen_at);
  *out.mutable_certificate_expires_at() = ovvoc::ToProto(agent.certificate_expires_at);
  return out;
}

namespace {

// The fields of a job that the control plane itself wrote: ids, state, counters and times.
ovvoc::v1::Job JobFields(const JobRecord& job) {
  ovvoc::v1::Job out;
  out.set_id(job.id);
  out.set_repo_id(job.repo_id);
  out.set_pool(job.pool);
  out.set_state(job.state);
  out.set_attempt(job.attempt);
  out.set_max_attempts(job.max_attempts);
  out.set_agent_id(job.agent_id);
  *out.mutable_created_at() = ovvoc::ToProto(job.created_at);
  *out.mutable_updated_at() = ovvoc::ToProto(job.updated_at);
  if (job.state == ovvoc::v1::JOB_STATE_LEASED) {
    *out.mutable_lease_expires_at() = ovvoc::ToProto(job.lease_expires_at);
  }
  out.set_cancel_requested(job.cancel_requested);
  return out;
}

}  // namespace

ovvoc::v1::Job ToProto(const JobRecord& job, absl::string_view repo_url,
                       absl::string_view org_name) {
  ovvoc::v1::Job out = JobFields(job);
  out.set_repo_url(std::string(repo_url));
  out.set_org(std::string(org_name));
  out.set_status_reason(InertLine(job.status_reason, kMaxField));
  if (job.result.has_value()) {
    *out.mutable_result() = *job.result;
    BoundForStorage(*out.mutable_result());
  }
  *out.mutable_progress() = job.progress;
  BoundForStorage(*out.mutable_progress());
  return out;
}

ovvoc::v1::Job ToSummaryProto(const JobRecord& job, absl::string_view repo_url,
                              absl::string_view org_name) {
  ovvoc::v1::Job out = JobFields(job);
  out.set_repo_url(InertLine(repo_url, 2048));
  out.set_org(InertLine(org_name, 64));
  out.set_status_reason(InertLine(job.status_reason, 512));
  out.mutable_progress()->set_phase(InertLine(job.progress.phase(), 64));
  out.mutable_progress()->set_message(InertLine(job.progress.message(), 256));
  out.mutable_progress()->set_percent(job.progress.percent());
  if (job.result.has_value()) {
    ovvoc::v1::JobResult& result = *out.mutable_result();
    result.set_outcome(job.result->outcome());
    result.set_head_commit(InertLine(job.result->head_commit(), 64));
    result.set_agent_version(InertLine(job.result->agent_version(), 64));
    result.mutable_failure()->set_phase(InertLine(job.result->failure().phase(), 64));
    result.mutable_failure()->set_termination(job.result->failure().termination());
  }
  return out;
}

}  // namespace ovvoc::cp
