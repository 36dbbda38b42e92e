#include "agent/enroll/enroll.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "agent/client/channel.h"
#include "common/enrollment_token.h"
#include "common/grpc_status.h"
#include "common/pki.h"
#include "common/status_macros.h"
#include "ovvoc/v1/agent.grpc.pb.h"

namespace ovvoc::agent {
namespace {

std::string Hostname() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

// The server's refusal, with the cause a user can act on.
absl::Status EnrollError(const grpc::Status& status, const std::string& server) {
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return absl::UnavailableError(
          absl::StrCat("cannot reach the control plane at ", server, ": ", status.error_message()));
    default:
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                          absl::StrCat("enrollment refused: ", status.error_message()));
  }
}

}  // namespace

absl::StatusOr<AgentIdentity> Register(const RegisterOptions& options) {
  OVVOC_ASSIGN_OR_RETURN(EnrollmentToken token, ParseEnrollmentToken(options.token));
  OVVOC_ASSIGN_OR_RETURN(std::string ca_pem, FetchPinnedCa(options.server, token.ca_pin));
  OVVOC_ASSIGN_OR_RETURN(pki::Certificate ca, pki::Certificate::FromPem(ca_pem));

  const std::string hostname = options.hostname.empty() ? Hostname() : options.hostname;
  OVVOC_ASSIGN_OR_RETURN(pki::PrivateKey key, pki::PrivateKey::GenerateP256());
  OVVOC_ASSIGN_OR_RETURN(pki::CertificateRequest csr,
                         pki::CertificateRequest::Create(key, hostname));
  OVVOC_ASSIGN_OR_RETURN(std::string csr_pem, csr.ToPem());

  auto stub = ovvoc::v1::AgentService::NewStub(
      MakeControlPlaneChannel(options.server, ca_pem, /*identity=*/nullptr));
  ovvoc::v1::EnrollRequest request;
  request.set_token(options.token);
  request.set_csr_pem(csr_pem);
  request.set_hostname(hostname);
  request.set_agent_version(OVVOC_VERSION);
  ovvoc::v1::EnrollResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  if (grpc::Status s = stub->Enroll(&context, request, &response); !s.ok()) {
    return EnrollError(s, options.server);
  }

  // Trust nothing the server sent without checking it fits what we asked for.
  OVVOC_ASSIGN_OR_RETURN(pki::Certificate cert,
                         pki::Certificate::FromPem(response.certificate_pem()));
  if (!pki::KeyMatchesCertificate(key, cert)) {
    return absl::InternalError("the control plane returned a certificate for another key");
  }
  OVVOC_RETURN_IF_ERROR(cert.VerifySignedBy(ca, absl::Now()));

  AgentIdentity identity;
  identity.server = options.server;
  identity.agent_id = response.agent_id();
  identity.org = response.org();
  identity.pool = response.pool();
  OVVOC_ASSIGN_OR_RETURN(identity.key_pem, key.ToPem());
  identity.certificate_pem = response.certificate_pem();
  identity.ca_pem = ca_pem;
  return identity;
}

}  // namespace ovvoc::agent
