#include "control-plane/server/admin_service.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/enrollment_token.h"
#include "common/ids.h"
#include "common/logging.h"
#include "common/repo_url.h"
#include "common/status_macros.h"
#include "common/time_util.h"
#include "control-plane/queue/lease.h"
#include "control-plane/server/convert.h"

namespace ovvoc::cp {
namespace {

constexpr char kActor[] = "admin";
constexpr absl::Duration kDefaultTokenTtl = absl::Hours(1);
constexpr absl::Duration kMaxTokenTtl = absl::Hours(24 * 7);

// Org and pool names: 1-63 of [a-z0-9-_], starting with a letter or digit.
absl::Status CheckName(absl::string_view what, absl::string_view name) {
  bool ok = !name.empty() && name.size() <= 63 && absl::ascii_isalnum(name[0]);
  for (char c : name) {
    ok = ok && (absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-' || c == '_');
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid ", what, " name \"", name, "\": use 1-63 of a-z, 0-9, '-' and '_'"));
  }
  return absl::OkStatus();
}

// The URL in its normal form (common/repo_url.h): what is stored, shown and matched against
// credential prefixes. A repository needs a path.
absl::StatusOr<RepoUrl> CheckRepoUrl(absl::string_view text) {
  OVVOC_ASSIGN_OR_RETURN(RepoUrl url, ParseRepoUrl(text));
  if (url.segments.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("repository URL \"", url.ToString(), "\" names a host but no repository"));
  }
  return url;
}

std::string ForgeFor(const RepoUrl& url) {
  return url.scheme == "https" && url.host == "github.com" && url.port == 0 ? "github" : "git";
}

}  // namespace

// Every handler has one shape: run the body on the executor and finish with its status.
#define OVVOC_ADMIN_HANDLER(Method, Request, Response, ...)                                     \
  grpc::ServerUnaryReactor* AdminServiceImpl::Method(grpc::CallbackServerContext* call,         \
                                                     const ovvoc::v1::Request* request,         \
                                                     ovvoc::v1::Response* response) {           \
    return FinishOnExecutor(call, ctx_.executor, [=, this]() -> absl::Status { __VA_ARGS__; }); \
  }

OVVOC_ADMIN_HANDLER(CreateOrg, CreateOrgRequest, Org, return DoCreateOrg(*request, *response))
OVVOC_ADMIN_HANDLER(CreateEnrollmentToken, CreateEnrollmentTokenRequest,
                    CreateEnrollmentTokenResponse, return DoCreateToken(*request, *response))
OVVOC_ADMIN_HANDLER(AddRepo, AddRepoRequest, Repo, return DoAddRepo(*request, *response))
OVVOC_ADMIN_HANDLER(CreateJob, CreateJobRequest, Job, return DoCreateJob(*request, *response))
OVVOC_ADMIN_HANDLER(ListJobs, ListJobsRequest, ListJobsResponse,
                    return DoListJobs(*request, *response))
OVVOC_ADMIN_HANDLER(CancelJob, CancelJobRequest, Job, return DoCancelJob(*request, *response))
OVVOC_ADMIN_HANDLER(RevokeAgent, RevokeAgentRequest, Agent,
                    return DoRevokeAgent(*request, *response))

OVVOC_ADMIN_HANDLER(ListOrgs, ListOrgsRequest, ListOrgsResponse, {
  OVVOC_ASSIGN_OR_RETURN(std::vector<OrgRecord> orgs, ctx_.store.ListOrgs());
  for (const OrgRecord& org : orgs) *response->add_orgs() = ToProto(org);
  return absl::OkStatus();
})

OVVOC_ADMIN_HANDLER(ListRepos, ListReposRequest, ListReposResponse, {
  std::string org_id;
  if (!request->org().empty()) {
    OVVOC_ASSIGN_OR_RETURN(OrgRecord org, OrgNamed(request->org()));
    org_id = org.id;
  }
  OVVOC_ASSIGN_OR_RETURN(std::vector<RepoRecord> repos, ctx_.store.ListRepos(org_id));
  for (const RepoRecord& repo : repos) {
    OVVOC_ASSIGN_OR_RETURN(OrgRecord org, ctx_.store.GetOrg(repo.org_id));
    *response->add_repos() = ToProto(repo, org.name);
  }
  return absl::OkStatus();
})

OVVOC_ADMIN_HANDLER(GetJob, GetJobRequest, Job, {
  OVVOC_ASSIGN_OR_RETURN(JobRecord job, ctx_.store.GetJob(request->id()));
  return FillJob(job, *response);
})

OVVOC_ADMIN_HANDLER(ListAgents, ListAgentsRequest, ListAgentsResponse, {
  std::string org_id;
  if (!request->org().empty()) {
    OVVOC_ASSIGN_OR_RETURN(OrgRecord org, OrgNamed(request->org()));
    org_id = org.id;
  }
  OVVOC_ASSIGN_OR_RETURN(std::vector<AgentRecord> agents, ctx_.store.ListAgents(org_id));
  for (const AgentRecord& agent : agents) {
    OVVOC_ASSIGN_OR_RETURN(OrgRecord org, ctx_.store.GetOrg(agent.org_id));
    *response->add_agents() = ToProto(agent, org.name);
  }
  return absl::OkStatus();
})

#undef OVVOC_ADMIN_HANDLER

absl::StatusOr<OrgRecord> AdminServiceImpl::OrgNamed(const std::string& name) {
  absl::StatusOr<OrgRecord> org = ctx_.store.FindOrgByName(name);
  if (absl::IsNotFound(org.status())) {
    return absl::NotFoundError(absl::StrCat(
        "no org \"", name, "\"; create it with `ovvoc-control-plane org create ", name, "`"));
  }
  return org;
}

absl::Status AdminServiceImpl::DoCreateOrg(const ovvoc::v1::CreateOrgRequest& request,
                                           ovvoc::v1::Org& response) {
  OVVOC_RETURN_IF_ERROR(CheckName("org", request.name()));
  OrgRecord org{NewId("org"), request.name(), ctx_.clock.Now()};
  OVVOC_RETURN_IF_ERROR(ctx_.store.CreateOrg(org));
  ctx_.audit.Record({kActor, "org.create", org.id, {{"name", org.name}}});
  response = ToProto(org);
  return absl::OkStatus();
}

absl::Status AdminServiceImpl::DoCreateToken(const ovvoc::v1::CreateEnrollmentTokenRequest& request,
                                             ovvoc::v1::CreateEnrollmentTokenResponse& response) {
  const std::string pool = request.pool().empty() ? "default" : request.pool();
  OVVOC_RETURN_IF_ERROR(CheckName("pool", pool));
  OVVOC_ASSIGN_OR_RETURN(OrgRecord org, OrgNamed(request.org()));
  absl::Duration ttl = request.has_ttl() ? FromProto(request.ttl()) : kDefaultTokenTtl;
  if (ttl <= absl::ZeroDuration() || ttl > kMaxTokenTtl) {
    return absl::InvalidArgumentError("token TTL must be more than 0 and at most 7 days (168h)");
  }
  const absl::Time now = ctx_.clock.Now();
  EnrollmentToken token = NewEnrollmentToken(ctx_.ca.pin());
  EnrollmentTokenRecord record;
  record.id = token.token_id;
  record.org_id = org.id;
  record.pool = pool;
  record.secret_hash = HashEnrollmentSecret(token.secret);
  record.created_at = now;
  record.expires_at = now + ttl;
  OVVOC_RETURN_IF_ERROR(ctx_.store.CreateEnrollmentToken(record));
  ctx_.audit.Record(
      {kActor,
       "enroll_token.create",
       record.id,
       {{"org", org.name}, {"pool", pool}, {"expires_at", Rfc3339(record.expires_at)}}});
  response.set_token(FormatEnrollmentToken(token));
  response.set_token_id(record.id);
  *response.mutable_expires_at() = ovvoc::ToProto(record.expires_at);
  return absl::OkStatus();
}

absl::Status AdminServiceImpl::DoAddRepo(const ovvoc::v1::AddRepoRequest& request,
                                         ovvoc::v1::Repo& response) {
  const std::string pool = request.pool().empty() ? "default" : request.pool();
  OVVOC_RETURN_IF_ERROR(CheckName("pool", pool));
  OVVOC_ASSIGN_OR_RETURN(RepoUrl url, CheckRepoUrl(request.url()));
  OVVOC_ASSIGN_OR_RETURN(OrgRecord org, OrgNamed(request.org()));
  RepoRecord repo{NewId("repo"), org.id, url.ToString(), pool, ForgeFor(url), ctx_.clock.Now()};
  OVVOC_RETURN_IF_ERROR(ctx_.store.CreateRepo(repo));
  ctx_.audit.Record(
      {kActor, "repo.add", repo.id, {{"org", org.name}, {"url", repo.url}, {"pool", pool}}});
  response = ToProto(repo, org.name);
  return absl::OkStatus();
}

absl::Status AdminServiceImpl::DoCreateJob(const ovvoc::v1::CreateJobRequest& request,
                                           ovvoc::v1::Job& response) {
  absl::StatusOr<RepoRecord> repo = ctx_.store.GetRepo(request.repo_id());
  if (absl::IsNotFound(repo.status())) {
    return absl::NotFoundError(
        absl::StrCat("no repo \"", request.repo_id(), "\"; `repo list` shows the ids"));
  }
  if (!repo.ok()) return repo.status();
  const absl::Time now = ctx_.clock.Now();
  JobRecord job;
  job.id = NewId("job");
  job.repo_id = repo->id;
  job.org_id = repo->org_id;
  job.pool = repo->pool;
  job.max_attempts = ctx_.options.max_attempts;
  job.created_at = now;
  job.updated_at = now;
  OVVOC_RETURN_IF_ERROR(ctx_.store.CreateJob(job));
  ctx_.audit.Record({kActor, "job.create", job.id, {{"repo", repo->id}}});
  ctx_.dispatcher.Notify(job.org_id, job.pool);
  return FillJob(job, response);
}

absl::Status AdminServiceImpl::DoListJobs(const ovvoc::v1::ListJobsRequest& request,
                                          ovvoc::v1::ListJobsResponse& response) {
  JobFilter filter;
  if (!request.org().empty()) {
    OVVOC_ASSIGN_OR_RETURN(OrgRecord org, OrgNamed(request.org()));
    filter.org_id = org.id;
  }
  filter.state = request.state();
  filter.limit = request.limit() == 0 ? 100 : std::min(request.limit(), kMaxListedJobs);
  OVVOC_ASSIGN_OR_RETURN(std::vector<JobRecord> jobs, ctx_.store.ListJobs(filter));
  // Summaries, not whole results: the answer stays bounded whatever agents reported.
  for (const JobRecord& job : jobs) {
    OVVOC_ASSIGN_OR_RETURN(RepoRecord repo, ctx_.store.GetRepo(job.repo_id));
    OVVOC_ASSIGN_OR_RETURN(OrgRecord org, ctx_.store.GetOrg(job.org_id));
    *response.add_jobs() = ToSummaryProto(job, repo.url, org.name);
  }
  return absl::OkStatus();
}

absl::Status AdminServiceImpl::DoCancelJob(const ovvoc::v1::CancelJobRequest& request,
                                           ovvoc::v1::Job& response) {
  OVVOC_ASSIGN_OR_RETURN(JobRecord job, ctx_.store.UpdateJob(request.id(), [&](JobRecord& j) {
    return queue::RequestCancel(j, ctx_.clock.Now());
  }));
  ctx_.audit.Record(
      {kActor, "job.cancel", job.id, {{"state", ovvoc::v1::JobState_Name(job.state)}}});
  return FillJob(job, response);
}

absl::Status AdminServiceImpl::DoRevokeAgent(const ovvoc::v1::RevokeAgentRequest& request,
                                             ovvoc::v1::Agent& response) {
  const absl::Time now = ctx_.clock.Now();
  OVVOC_ASSIGN_OR_RETURN(AgentRecord agent,
                         ctx_.store.UpdateAgent(request.id(), [&](AgentRecord& a) {
                           if (!a.revoked) {
                             a.revoked = true;
                             a.revoked_at = now;
                           }
                           return absl::OkStatus();
                         }));
  // Its next call is refused without the store, and the polls it has parked end now.
  ctx_.auth.MarkRevoked(agent.id);
  const size_t ended_polls = ctx_.dispatcher.EvictAgent(agent.id);
  ctx_.audit.Record({kActor, "agent.revoke", agent.id, {{"ended_polls", ended_polls}}});
  log::Info("revoked agent %s (%zu waiting polls ended)", agent.id, ended_polls);
  OVVOC_ASSIGN_OR_RETURN(OrgRecord org, ctx_.store.GetOrg(agent.org_id));
  response = ToProto(agent, org.name);
  return absl::OkStatus();
}

absl::Status AdminServiceImpl::FillJob(const JobRecord& job, ovvoc::v1::Job& out) {
  OVVOC_ASSIGN_OR_RETURN(RepoRecord repo, ctx_.store.GetRepo(job.repo_id));
  OVVOC_ASSIGN_OR_RETURN(OrgRecord org, ctx_.store.GetOrg(job.org_id));
  out = ToProto(job, repo.url, org.name);
  return absl::OkStatus();
}

}  // namespace ovvoc::cp
