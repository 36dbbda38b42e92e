#include "agent/poller/connection.h"

#include "absl/strings/str_cat.h"
#include "agent/client/channel.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/pki.h"
#include "common/status_macros.h"
#include "common/time_util.h"

namespace ovvoc::agent {

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(ConfigDir config,
                                                             AgentIdentity identity,
                                                             const Clock& clock) {
  OVVOC_ASSIGN_OR_RETURN(pki::Certificate cert,
                         pki::Certificate::FromPem(identity.certificate_pem));
  if (cert.NotAfter() <= clock.Now()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "this agent's certificate expired at ", Rfc3339(cert.NotAfter()),
        " while it was not running, so the control plane will not accept it. Register it "
        "again: create a token with `ovvoc-control-plane enroll-token create --org ",
        identity.org, " --pool ", identity.pool, "`, then run `ovvoc-agent register --server ",
        identity.server, " --token TOKEN --config-dir ", config.root(), "` after removing ",
        config.root()));
  }
  auto connection = std::unique_ptr<Connection>(new Connection(config, identity, clock));
  absl::MutexLock lock(&connection->mu_);
  OVVOC_RETURN_IF_ERROR(connection->Adopt(identity.key_pem, identity.certificate_pem));
  return connection;
}

absl::Status Connection::Adopt(const std::string& key_pem, const std::string& cert_pem) {
  OVVOC_ASSIGN_OR_RETURN(pki::Certificate cert, pki::Certificate::FromPem(cert_pem));
  ChannelIdentity channel_identity{key_pem, cert_pem};
  stub_ = ovvoc::v1::AgentService::NewStub(
      MakeControlPlaneChannel(identity_.server, identity_.ca_pem, &channel_identity));
  adopted_at_ = clock_.Now();
  not_after_ = cert.NotAfter();
  return absl::OkStatus();
}

std::shared_ptr<ovvoc::v1::AgentService::Stub> Connection::stub() const {
  absl::MutexLock lock(&mu_);
  return stub_;
}

absl::Time Connection::RenewalDue() const {
  absl::MutexLock lock(&mu_);
  return adopted_at_ + (not_after_ - adopted_at_) / 2;
}

absl::Time Connection::CertificateExpires() const {
  absl::MutexLock lock(&mu_);
  return not_after_;
}

absl::Status Connection::Renew() {
  OVVOC_ASSIGN_OR_RETURN(pki::PrivateKey key, pki::PrivateKey::GenerateP256());
  OVVOC_ASSIGN_OR_RETURN(pki::CertificateRequest csr,
                         pki::CertificateRequest::Create(key, identity_.agent_id));
  ovvoc::v1::RenewCertificateRequest request;
  OVVOC_ASSIGN_OR_RETURN(*request.mutable_csr_pem(), csr.ToPem());
  ovvoc::v1::RenewCertificateResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  OVVOC_RETURN_IF_ERROR(FromGrpcStatus(stub()->RenewCertificate(&context, request, &response)));

  OVVOC_ASSIGN_OR_RETURN(pki::Certificate cert,
                         pki::Certificate::FromPem(response.certificate_pem()));
  OVVOC_ASSIGN_OR_RETURN(pki::Certificate ca, pki::Certificate::FromPem(identity_.ca_pem));
  if (!pki::KeyMatchesCertificate(key, cert)) {
    return absl::InternalError("renewal returned a certificate for another key");
  }
  OVVOC_RETURN_IF_ERROR(cert.VerifySignedBy(ca, clock_.Now()));
  OVVOC_ASSIGN_OR_RETURN(std::string key_pem, key.ToPem());
  OVVOC_RETURN_IF_ERROR(config_.SaveCertificate(key_pem, response.certificate_pem()));
  absl::MutexLock lock(&mu_);
  OVVOC_RETURN_IF_ERROR(Adopt(key_pem, response.certificate_pem()));
  log::Info("renewed certificate; valid until %s", Rfc3339(not_after_));
  return absl::OkStatus();
}

}  // namespace ovvoc::agent
