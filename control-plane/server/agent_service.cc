#include "control-plane/server/agent_service.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/enrollment_token.h"
#include "common/ids.h"
#include "common/inert.h"
#include "common/job_text.h"
#include "common/logging.h"
#include "common/pki.h"
#include "common/status_macros.h"
#include "common/time_util.h"
#include "control-plane/enrollment/enrollment.h"
#include "control-plane/queue/lease.h"
#include "control-plane/server/auth.h"
#include "control-plane/server/job_spec.h"
#include "control-plane/server/poll_reactor.h"
#include "nlohmann/json.hpp"

namespace ovvoc::cp {
namespace {

std::string AgentActor(const AgentRecord& agent) { return absl::StrCat("agent:", agent.id); }

}  // namespace

grpc::ServerUnaryReactor* AgentServiceImpl::Enroll(grpc::CallbackServerContext* call,
                                                   const ovvoc::v1::EnrollRequest* request,
                                                   ovvoc::v1::EnrollResponse* response) {
  // What can be refused without the store is refused here, on gRPC's thread; the rest queues
  // on Enroll's own small executor, never in front of enrolled agents' work.
  absl::StatusOr<EnrollmentToken> token = ParseEnrollmentToken(request->token());
  absl::Status early = token.status();
  if (token.ok() && token->ca_pin != ctx_.ca.pin()) {
    early = absl::PermissionDeniedError(
        "this enrollment token was issued by a different control plane (CA pin mismatch)");
  }
  if (!early.ok()) {
    grpc::ServerUnaryReactor* reactor = call->DefaultReactor();
    reactor->Finish(ToGrpcStatus(ctx_.auth.Refuse(*call, "Enroll", "", early,
                                                  "agent.enroll.refused")));
    return reactor;
  }
  // One host may not take Enroll's whole queue: real registrations from elsewhere get through.
  const std::string host = ctx_.auth.Host(*call);
  grpc::ServerUnaryReactor* reactor = call->DefaultReactor();
  if (!ctx_.enroll_hosts.TryEnter(host)) {
    reactor->Finish(ToGrpcStatus(ctx_.auth.Refuse(
        *call, "Enroll", "",
        absl::ResourceExhaustedError("too many enrollments from this host at once; retry"),
        "agent.enroll.refused")));
    return reactor;
  }
  if (!ctx_.enroll_executor.Post([=, this, token = *std::move(token)] {
        absl::Status status = DoEnroll(*call, token, *request, *response);
        ctx_.enroll_hosts.Leave(host);
        reactor->Finish(ToGrpcStatus(status));
      })) {
    ctx_.enroll_hosts.Leave(host);
    reactor->Finish(ToGrpcStatus(ServerBusy()));
  }
  return reactor;
}

grpc::ServerUnaryReactor* AgentServiceImpl::RenewCertificate(
    grpc::CallbackServerContext* call, const ovvoc::v1::RenewCertificateRequest* request,
    ovvoc::v1::RenewCertificateResponse* response) {
  return FinishAgentCall(call, ctx_, "RenewCertificate", [=, this](const AgentCertificate& cert) {
    return DoRenew(*call, cert, *request, *response);
  });
}

grpc::ServerUnaryReactor* AgentServiceImpl::PollJob(grpc::CallbackServerContext* call,
                                                    const ovvoc::v1::PollJobRequest* request,
                                                    ovvoc::v1::PollJobResponse* response) {
  return PollReactor::Start(ctx_, call, request, response);
}

grpc::ServerUnaryReactor* AgentServiceImpl::Heartbeat(grpc::CallbackServerContext* call,
                                                      const ovvoc::v1::HeartbeatRequest* request,
                                                      ovvoc::v1::HeartbeatResponse* response) {
  return FinishAgentCall(call, ctx_, "Heartbeat", [=, this](const AgentCertificate& cert) {
    return DoHeartbeat(*call, cert, *request, *response);
  });
}

grpc::ServerUnaryReactor* AgentServiceImpl::ReportResult(
    grpc::CallbackServerContext* call, const ovvoc::v1::ReportResultRequest* request,
    ovvoc::v1::ReportResultResponse* response) {
  return FinishAgentCall(call, ctx_, "ReportResult", [=, this](const AgentCertificate& cert) {
    return DoReport(*call, cert, *request, *response);
  });
}

grpc::ServerUnaryReactor* AgentServiceImpl::ReleaseJob(grpc::CallbackServerContext* call,
                                                       const ovvoc::v1::ReleaseJobRequest* request,
                                                       ovvoc::v1::ReleaseJobResponse*) {
  return FinishAgentCall(call, ctx_, "ReleaseJob", [=, this](const AgentCertificate& cert) {
    return DoRelease(*call, cert, *request);
  });
}

absl::Status AgentServiceImpl::DoEnroll(const grpc::CallbackServerContext& call,
                                        const EnrollmentToken& token,
                                        const ovvoc::v1::EnrollRequest& request,
                                        ovvoc::v1::EnrollResponse& response) {
  auto refuse = [&](absl::Status why) {
    return ctx_.auth.Refuse(call, "Enroll", "", why, "agent.enroll.refused");
  };
  absl::StatusOr<pki::CertificateRequest> csr = pki::CertificateRequest::FromPem(request.csr_pem());
  if (!csr.ok()) {
    return refuse(absl::InvalidArgumentError(absl::StrCat("bad CSR: ", csr.status().message())));
  }

  const absl::Time now = ctx_.clock.Now();
  const std::string agent_id = NewId("agt");
  std::optional<pki::Certificate> issued;
  AgentRecord agent;
  absl::Status enrolled = ctx_.store.Enroll(
      token.token_id, [&](EnrollmentTokenRecord& t) -> absl::StatusOr<AgentRecord> {
        OVVOC_RETURN_IF_ERROR(SpendEnrollmentToken(t, token.secret, agent_id, now));
        // Signed only for a real, unspent token: the CA pin is public (the server presents the
        // CA), so a guessed token must cost a store lookup, never a signature.
        OVVOC_ASSIGN_OR_RETURN(issued, ctx_.ca.IssueAgentCertificate(
                                           *csr, agent_id, now, ctx_.options.certificate_lifetime));
        agent.id = agent_id;
        agent.org_id = t.org_id;
        agent.pool = t.pool;
        agent.hostname = InertLine(request.hostname(), 255);
        agent.version = InertLine(request.agent_version(), 64);
        agent.enrolled_at = now;
        agent.last_seen_at = now;
        agent.certificate_serial = issued->SerialHex();
        agent.certificate_expires_at = issued->NotAfter();
        return agent;
      });
  if (absl::IsNotFound(enrolled)) {
    enrolled = absl::UnauthenticatedError("enrollment token not recognised");
  }
  if (!enrolled.ok()) return refuse(enrolled);
  const pki::Certificate& cert = *issued;

  OVVOC_ASSIGN_OR_RETURN(OrgRecord org, ctx_.store.GetOrg(agent.org_id));
  OVVOC_ASSIGN_OR_RETURN(std::string cert_pem, cert.ToPem());
  response.set_agent_id(agent_id);
  response.set_certificate_pem(cert_pem);
  response.set_ca_certificate_pem(ctx_.ca.ca_pem());
  response.set_org(org.name);
  response.set_pool(agent.pool);
  *response.mutable_certificate_expires_at() = ToProto(cert.NotAfter());
  ovvoc::v1::AgentSettings* settings = response.mutable_settings();
  *settings->mutable_poll_hold() = ToProto(ctx_.options.poll_hold);
  *settings->mutable_heartbeat_interval() = ToProto(ctx_.options.heartbeat_interval);
  *settings->mutable_lease_ttl() = ToProto(ctx_.options.lease_ttl);

  nlohmann::json details = {{"token", token.token_id},
                            {"org", org.name},
                            {"pool", agent.pool},
                            {"hostname", agent.hostname},
                            {"serial", agent.certificate_serial}};
  ctx_.audit.Record({AgentActor(agent), "agent.enroll", agent_id, details});
  log::Info("enrolled agent %s (org %s, pool %s, host %s)", agent_id, org.name, agent.pool,
            agent.hostname);
  return absl::OkStatus();
}

absl::Status AgentServiceImpl::DoRenew(const grpc::CallbackServerContext& call,
                                       const AgentCertificate& caller,
                                       const ovvoc::v1::RenewCertificateRequest& request,
                                       ovvoc::v1::RenewCertificateResponse& response) {
  OVVOC_ASSIGN_OR_RETURN(AgentRecord agent,
                         ctx_.auth.Admit(call, caller, ctx_.store, "RenewCertificate"));
  absl::StatusOr<pki::CertificateRequest> csr = pki::CertificateRequest::FromPem(request.csr_pem());
  if (!csr.ok())
    return absl::InvalidArgumentError(absl::StrCat("bad CSR: ", csr.status().message()));
  const absl::Time now = ctx_.clock.Now();
  OVVOC_ASSIGN_OR_RETURN(
      pki::Certificate cert,
      ctx_.ca.IssueAgentCertificate(*csr, agent.id, now, ctx_.options.certificate_lifetime));
  OVVOC_RETURN_IF_ERROR(ctx_.store
                            .UpdateAgent(agent.id,
                                         [&](AgentRecord& a) {
                                           // Revoked, or renewed by another call meanwhile.
                                           OVVOC_RETURN_IF_ERROR(AdmitAgent(a, caller, now));
                                           // Asked with the replaced certificate (the answer to
                                           // the last renewal was lost): that one stays the
                                           // previous; the unused newest is dropped.
                                           if (caller.serial == a.certificate_serial) {
                                             a.previous_certificate_serial = a.certificate_serial;
                                           }
                                           a.certificate_serial = cert.SerialHex();
                                           a.certificate_expires_at = cert.NotAfter();
                                           a.last_seen_at = now;
                                           return absl::OkStatus();
                                         })
                            .status());
  OVVOC_ASSIGN_OR_RETURN(std::string pem, cert.ToPem());
  response.set_certificate_pem(pem);
  *response.mutable_certificate_expires_at() = ToProto(cert.NotAfter());
  ctx_.audit.Record({AgentActor(agent), "agent.certificate.renew", agent.id,
                     nlohmann::json{{"serial", cert.SerialHex()}}});
  return absl::OkStatus();
}

absl::Status AgentServiceImpl::DoHeartbeat(const grpc::CallbackServerContext& call,
                                           const AgentCertificate& caller,
                                           const ovvoc::v1::HeartbeatRequest& request,
                                           ovvoc::v1::HeartbeatResponse& response) {
  OVVOC_ASSIGN_OR_RETURN(AgentRecord agent, ctx_.auth.Admit(call, caller, ctx_.store, "Heartbeat"));
  OVVOC_RETURN_IF_ERROR(CheckJobId(call, agent, "Heartbeat", request.job_id()));
  const absl::Time now = ctx_.clock.Now();
  ovvoc::v1::Progress progress = request.progress();
  BoundForStorage(progress);
  absl::StatusOr<JobRecord> job = ctx_.store.UpdateJob(request.job_id(), [&](JobRecord& j) {
    OVVOC_RETURN_IF_ERROR(
        queue::Heartbeat(j, agent.id, request.attempt(), now, ctx_.options.lease_ttl));
    j.progress = progress;
    return absl::OkStatus();
  });
  if (!job.ok()) {
    return ctx_.auth.Refuse(call, "Heartbeat", agent.id, job.status(), "job.heartbeat.refused",
                            request.job_id());
  }
  response.set_cancel(job->cancel_requested);
  *response.mutable_lease_expires_at() = ToProto(job->lease_expires_at);
  return absl::OkStatus();
}

absl::Status AgentServiceImpl::DoReport(const grpc::CallbackServerContext& call,
                                        const AgentCertificate& caller,
                                        const ovvoc::v1::ReportResultRequest& request,
                                        ovvoc::v1::ReportResultResponse& response) {
  OVVOC_ASSIGN_OR_RETURN(AgentRecord agent,
                         ctx_.auth.Admit(call, caller, ctx_.store, "ReportResult"));
  OVVOC_RETURN_IF_ERROR(CheckJobId(call, agent, "ReportResult", request.job_id()));
  const absl::Time now = ctx_.clock.Now();
  // What an agent reports is what a job's repository and container said: bounded and inert
  // before it is stored.
  ovvoc::v1::JobResult result = request.result();
  BoundForStorage(result);
  absl::StatusOr<JobRecord> job = ctx_.store.UpdateJob(request.job_id(), [&](JobRecord& j) {
    return queue::Complete(j, agent.id, request.attempt(), result, now);
  });
  if (!job.ok()) {
    return ctx_.auth.Refuse(call, "ReportResult", agent.id, job.status(), "job.result.refused",
                            request.job_id());
  }
  KeepBaselineMemo(ctx_.store, *job, request.baseline_memo());
  ctx_.audit.Record({AgentActor(agent),
                     "job.result",
                     job->id,
                     {{"attempt", request.attempt()}, {"state", ovvoc::v1::JobState_Name(job->state)}}});
  response.set_state(job->state);
  return absl::OkStatus();
}

absl::Status AgentServiceImpl::DoRelease(const grpc::CallbackServerContext& call,
                                         const AgentCertificate& caller,
                                         const ovvoc::v1::ReleaseJobRequest& request) {
  OVVOC_ASSIGN_OR_RETURN(AgentRecord agent, ctx_.auth.Admit(call, caller, ctx_.store, "ReleaseJob"));
  OVVOC_RETURN_IF_ERROR(CheckJobId(call, agent, "ReleaseJob", request.job_id()));
  const std::string reason = InertLine(request.reason(), 200);
  absl::StatusOr<JobRecord> job = ctx_.store.UpdateJob(request.job_id(), [&](JobRecord& j) {
    return queue::Release(j, agent.id, request.attempt(), reason, ctx_.clock.Now());
  });
  if (!job.ok()) {
    return ctx_.auth.Refuse(call, "ReleaseJob", agent.id, job.status(), "job.release.refused",
                            request.job_id());
  }
  ctx_.audit.Record({AgentActor(agent),
                     "job.release",
                     job->id,
                     {{"attempt", request.attempt()}, {"reason", reason}}});
  if (job->state == ovvoc::v1::JOB_STATE_QUEUED) ctx_.dispatcher.Notify(job->org_id, job->pool);
  return absl::OkStatus();
}

absl::Status AgentServiceImpl::CheckJobId(const grpc::CallbackServerContext& call,
                                          const AgentRecord& agent, absl::string_view method,
                                          absl::string_view job_id) {
  if (IsWellFormedId(job_id, "job")) return absl::OkStatus();
  // The id itself is never recorded: it is whatever the caller sent, of any size.
  return ctx_.auth.Refuse(
      call, method, agent.id,
      absl::InvalidArgumentError(absl::StrCat("malformed job id (", job_id.size(), " bytes)")),
      "job.id.refused", "");
}

}  // namespace ovvoc::cp
