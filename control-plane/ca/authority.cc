#include "control-plane/ca/authority.h"

#include <arpa/inet.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/files.h"
#include "common/ids.h"
#include "common/status_macros.h"

namespace ovvoc::cp {
namespace {

constexpr absl::string_view kAgentUriPrefix = "ovvoc://agent/";
constexpr absl::Duration kClockSkew = absl::Minutes(5);

bool IsIpAddress(const std::string& name) {
  unsigned char buf[16];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

}  // namespace

CaFiles CaFiles::In(const std::string& data_dir) {
  return CaFiles{absl::StrCat(data_dir, "/ca.key"), absl::StrCat(data_dir, "/ca.pem"),
                 absl::StrCat(data_dir, "/server.key"), absl::StrCat(data_dir, "/server.pem")};
}

std::string AgentUri(absl::string_view agent_id) { return absl::StrCat(kAgentUriPrefix, agent_id); }

absl::Status CertificateAuthority::Create(const CaFiles& files,
                                          const std::vector<std::string>& extra_names,
                                          absl::Time now) {
  OVVOC_ASSIGN_OR_RETURN(pki::PrivateKey ca_key, pki::PrivateKey::GenerateP256());
  OVVOC_ASSIGN_OR_RETURN(pki::Certificate ca_cert,
                         pki::CreateSelfSignedCa(ca_key, "Ovvoc control plane CA", now - kClockSkew,
                                                 now + absl::Hours(24 * 3650)));

  OVVOC_ASSIGN_OR_RETURN(pki::PrivateKey server_key, pki::PrivateKey::GenerateP256());
  pki::IssueOptions options;
  options.common_name = "ovvoc-control-plane";
  options.use = pki::CertificateUse::kServer;
  options.not_before = now - kClockSkew;
  options.not_after = now + absl::Hours(24 * 365);
  options.alt_names.dns = {"localhost"};
  options.alt_names.ips = {"127.0.0.1", "::1"};
  for (const std::string& name : extra_names) {
    (IsIpAddress(name) ? options.alt_names.ips : options.alt_names.dns).push_back(name);
  }
  OVVOC_ASSIGN_OR_RETURN(pki::Certificate server_cert,
                         pki::IssueCertificate(ca_key, ca_cert, server_key.get(), options));

  OVVOC_ASSIGN_OR_RETURN(std::string ca_key_pem, ca_key.ToPem());
  OVVOC_ASSIGN_OR_RETURN(std::string ca_pem, ca_cert.ToPem());
  OVVOC_ASSIGN_OR_RETURN(std::string server_key_pem, server_key.ToPem());
  OVVOC_ASSIGN_OR_RETURN(std::string server_pem, server_cert.ToPem());
  OVVOC_RETURN_IF_ERROR(files::WriteFileAtomic(files.ca_key, ca_key_pem, 0600));
  OVVOC_RETURN_IF_ERROR(files::WriteFileAtomic(files.ca_cert, ca_pem, 0600));
  OVVOC_RETURN_IF_ERROR(files::WriteFileAtomic(files.server_key, server_key_pem, 0600));
  return files::WriteFileAtomic(files.server_cert, absl::StrCat(server_pem, ca_pem), 0600);
}

absl::StatusOr<std::unique_ptr<CertificateAuthority>> CertificateAuthority::Load(
    const CaFiles& files) {
  OVVOC_ASSIGN_OR_RETURN(std::string ca_key_pem, files::ReadFile(files.ca_key));
  OVVOC_ASSIGN_OR_RETURN(std::string ca_pem, files::ReadFile(files.ca_cert));
  OVVOC_ASSIGN_OR_RETURN(pki::PrivateKey ca_key, pki::PrivateKey::FromPem(ca_key_pem));
  OVVOC_ASSIGN_OR_RETURN(pki::Certificate ca_cert, pki::Certificate::FromPem(ca_pem));
  if (!pki::KeyMatchesCertificate(ca_key, ca_cert)) {
    return absl::FailedPreconditionError(
        absl::StrCat(files.ca_key, " does not belong to ", files.ca_cert));
  }
  auto ca = std::unique_ptr<CertificateAuthority>(
      new CertificateAuthority(std::move(ca_key), std::move(ca_cert)));
  ca->ca_pem_ = std::move(ca_pem);
  ca->pin_ = ca->ca_cert_.SpkiSha256();
  OVVOC_ASSIGN_OR_RETURN(ca->server_chain_pem_, files::ReadFile(files.server_cert));
  OVVOC_ASSIGN_OR_RETURN(ca->server_key_pem_, files::ReadFile(files.server_key));
  return ca;
}

absl::StatusOr<pki::Certificate> CertificateAuthority::IssueAgentCertificate(
    const pki::CertificateRequest& csr, absl::string_view agent_id, absl::Time now,
    absl::Duration lifetime) const {
  pki::IssueOptions options;
  options.common_name = std::string(agent_id);
  options.alt_names.uris = {AgentUri(agent_id)};
  options.use = pki::CertificateUse::kClient;
  options.not_before = now - kClockSkew;
  options.not_after = now + lifetime;
  return pki::IssueFromCsr(ca_key_, ca_cert_, csr, options);
}

absl::StatusOr<AgentCertificate> CertificateAuthority::VerifyAgentCertificate(
    absl::string_view pem, absl::Time now) const {
  absl::StatusOr<pki::Certificate> cert = pki::Certificate::FromPem(pem);
  if (!cert.ok()) return absl::UnauthenticatedError("unreadable client certificate");
  if (absl::Status s = cert->VerifySignedBy(ca_cert_, now); !s.ok()) {
    return absl::UnauthenticatedError(absl::StrCat("client certificate refused: ", s.message()));
  }
  for (const std::string& uri : cert->AltNames().uris) {
    if (absl::StartsWith(uri, kAgentUriPrefix)) {
      std::string id = uri.substr(kAgentUriPrefix.size());
      if (IsWellFormedId(id, "agt")) return AgentCertificate{id, cert->SerialHex(), cert->NotAfter()};
    }
  }
  return absl::UnauthenticatedError("client certificate names no agent");
}

}  // namespace ovvoc::cp
