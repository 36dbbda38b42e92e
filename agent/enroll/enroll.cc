#include "agent/enroll/enroll.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
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
  // A busy control plane (its enrollment queue full, as under a flood of guessed tokens) has
  // not looked at the token yet: ask again for a minute before giving up.
  const absl::Time give_up = absl::Now() + absl::Minutes(1);
  for (absl::Duration backoff = absl::Milliseconds(500);;
       backoff = std::min(backoff * 2, absl::Seconds(8))) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    grpc::Status s = stub->Enroll(&context, request, &response);
    if (s.ok()) break;
    if (s.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED || absl::Now() + backoff > give_up) {
      return EnrollError(s, options.server);
    }
    std::fprintf(stderr, "the control plane is busy (%s); asking again in %s\n",
                 s.error_message().c_str(), absl::FormatDuration(backoff).c_str());
    absl::SleepFor(backoff);
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
