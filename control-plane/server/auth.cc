#include "control-plane/server/auth.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/crypto.h"
#include "common/time_util.h"

namespace ovvoc::cp {

absl::Status RevokedError(absl::string_view agent_id) {
  return absl::UnauthenticatedError(
      absl::StrCat("agent ", agent_id, " was revoked; register again with a new token"));
}

absl::Status AdmitAgent(const AgentRecord& agent, const AgentCertificate& cert, absl::Time now) {
  if (agent.revoked) return RevokedError(agent.id);
  const bool newest = cert.serial == agent.certificate_serial;
  const bool replaced_unused =
      !agent.previous_certificate_serial.empty() && cert.serial == agent.previous_certificate_serial;
  if (!newest && !replaced_unused) {
    return absl::UnauthenticatedError(absl::StrCat(
        "this certificate of agent ", agent.id,
        " was replaced by a renewal; use the newest one (or register again with a new token)"));
  }
  if (now >= cert.not_after) {
    return absl::UnauthenticatedError(absl::StrCat("the certificate of agent ", agent.id,
                                                   " expired at ", Rfc3339(cert.not_after)));
  }
  return absl::OkStatus();
}

absl::Status Authenticator::Refuse(const grpc::CallbackServerContext& call,
                                   absl::string_view method, absl::string_view agent_id,
                                   absl::Status why, absl::string_view action,
                                   absl::string_view subject) {
  std::string actor = agent_id.empty()
                          ? absl::StrCat("anonymous@", Host(call))
                          : absl::StrCat("agent:", agent_id);
  refusals_.Count({std::move(actor), std::string(action), std::string(method),
                   std::string(why.message()),
                   // An anonymous caller's subject would be whatever it chose to send.
                   std::string(agent_id.empty() ? "" : subject.empty() ? agent_id : subject)},
                  clock_.Now());
  return why;
}

std::string Authenticator::Host(const grpc::CallbackServerContext& call) const {
  const std::shared_ptr<const Peer> peer = peers_.Find(call.peer());
  return peer == nullptr ? "unknown" : peer->host;
}

absl::StatusOr<AgentCertificate> Authenticator::Identify(const grpc::CallbackServerContext& call,
                                                         absl::string_view method) {
  const std::shared_ptr<const Peer> peer = peers_.Find(call.peer());
  if (peer == nullptr || peer->cert_pem.empty()) {
    return Refuse(call, method, "",
                  absl::UnauthenticatedError(
                      "a client certificate is required; enroll with `ovvoc-agent register`"));
  }
  const absl::string_view pem = peer->cert_pem;
  const absl::Time now = clock_.Now();
  const std::string digest = crypto::Sha256(pem);
  std::optional<AgentCertificate> cert;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = verified_.find(digest); it != verified_.end()) cert = it->second;
  }
  if (!cert.has_value()) {
    absl::StatusOr<AgentCertificate> verified = ca_.VerifyAgentCertificate(pem, now);
    if (!verified.ok()) return Refuse(call, method, "", verified.status());
    cert = *std::move(verified);
    absl::MutexLock lock(&mu_);
    if (verified_.size() >= kMaxCachedCertificates) verified_.clear();
    verified_.emplace(digest, *cert);
  }
  if (now >= cert->not_after) {
    return Refuse(call, method, "",
                  absl::UnauthenticatedError(absl::StrCat(
                      "client certificate refused: it expired at ", Rfc3339(cert->not_after))));
  }
  bool revoked;
  {
    absl::MutexLock lock(&mu_);
    revoked = revoked_.contains(cert->agent_id);
  }
  if (revoked) {
    return Refuse(call, method, cert->agent_id, RevokedError(cert->agent_id));
  }
  return *std::move(cert);
}

absl::StatusOr<AgentRecord> Authenticator::Admit(const grpc::CallbackServerContext& call,
                                                 const AgentCertificate& cert, Store& store,
                                                 absl::string_view method) {
  absl::StatusOr<AgentRecord> agent = store.GetAgent(cert.agent_id);
  if (absl::IsNotFound(agent.status())) {
    return Refuse(call, method, cert.agent_id,
                  absl::UnauthenticatedError(absl::StrCat("unknown agent ", cert.agent_id)));
  }
  if (!agent.ok()) return agent.status();
  const absl::Time now = clock_.Now();
  if (absl::Status admitted = AdmitAgent(*agent, cert, now); !admitted.ok()) {
    if (agent->revoked) MarkRevoked(agent->id);
    return Refuse(call, method, cert.agent_id, admitted);
  }
  // The agent uses its newest certificate: the one it replaced is retired for good. last_seen
  // is for humans: write it at most once a minute per agent.
  const bool retire = cert.serial == agent->certificate_serial &&
                      !agent->previous_certificate_serial.empty();
  if (retire || now - agent->last_seen_at > absl::Minutes(1)) {
    absl::StatusOr<AgentRecord> touched = store.UpdateAgent(cert.agent_id, [&](AgentRecord& a) {
      if (cert.serial == a.certificate_serial) a.previous_certificate_serial.clear();
      a.last_seen_at = now;
      return absl::OkStatus();
    });
    if (touched.ok()) agent = *std::move(touched);
  }
  return agent;
}

void Authenticator::MarkRevoked(absl::string_view agent_id) {
  absl::MutexLock lock(&mu_);
  revoked_.emplace(agent_id);
}

}  // namespace ovvoc::cp
