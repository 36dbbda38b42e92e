#include "control-plane/server/convert.h"

#include <string>

#include "absl/strings/string_view.h"
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
  out.set_hostname(agent.hostname);
  out.set_version(agent.version);
  out.set_state(agent.revoked ? ovvoc::v1::AGENT_STATE_REVOKED : ovvoc::v1::AGENT_STATE_ACTIVE);
  *out.mutable_enrolled_at() = ovvoc::ToProto(agent.enrolled_at);
  *out.mutable_last_seen_at() = ovvoc::ToProto(agent.last_seen_at);
  *out.mutable_certificate_expires_at() = ovvoc::ToProto(agent.certificate_expires_at);
  return out;
}

ovvoc::v1::Job ToProto(const JobRecord& job, absl::string_view repo_url,
                       absl::string_view org_name) {
  ovvoc::v1::Job out;
  out.set_id(job.id);
  out.set_repo_id(job.repo_id);
  out.set_repo_url(std::string(repo_url));
  out.set_org(std::string(org_name));
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
  out.set_status_reason(job.status_reason);
  if (job.result.has_value()) *out.mutable_result() = *job.result;
  *out.mutable_progress() = job.progress;
  return out;
}

}  // namespace ovvoc::cp
