// CertificateAuthority: the control plane's CA. Owns the CA key and the server's TLS identity,
// issues short-lived agent client certificates from CSRs, and checks the certificates agents
// present. Immutable after Load(); thread-safe.
//
// An agent certificate names its agent twice: CN=<agent id> and the URI SAN
// ovvoc://agent/<agent id>. Only the URI SAN is trusted when checking.
#ifndef OVVOC_CONTROL_PLANE_CA_AUTHORITY_H_
#define OVVOC_CONTROL_PLANE_CA_AUTHORITY_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/pki.h"

namespace ovvoc::cp {

struct CaFiles {
  std::string ca_key;       // DIR/ca.key
  std::string ca_cert;      // DIR/ca.pem
  std::string server_key;   // DIR/server.key
  std::string server_cert;  // DIR/server.pem (server certificate, then the CA certificate)
  static CaFiles In(const std::string& data_dir);
};

// What a client certificate this CA issued says about its holder.
struct AgentCertificate {
  std::string agent_id;
  std::string serial;  // hex, as AgentRecord::certificate_serial holds it
  absl::Time not_after;
};

class CertificateAuthority {
 public:
  // Creates the CA (EC P-256, 10 years) and a server certificate (EC P-256, 1 year) for
  // localhost, 127.0.0.1, ::1 and `extra_names` (DNS names or IP addresses). Files are 0600.
  static absl::Status Create(const CaFiles& files, const std::vector<std::string>& extra_names,
                             absl::Time now);
  static absl::StatusOr<std::unique_ptr<CertificateAuthority>> Load(const CaFiles& files);

  const std::string& ca_pem() const { return ca_pem_; }
  // The server's certificate followed by the CA's, as TLS should present them.
  const std::string& server_chain_pem() const { return server_chain_pem_; }
  const std::string& server_key_pem() const { return server_key_pem_; }
  // SHA-256 of the CA's SubjectPublicKeyInfo (32 raw bytes): what enrollment tokens pin.
  const std::string& pin() const { return pin_; }

  absl::StatusOr<pki::Certificate> IssueAgentCertificate(const pki::CertificateRequest& csr,
                                                         absl::string_view agent_id, absl::Time now,
                                                         absl::Duration lifetime) const;

  // The agent named by a client certificate (PEM) that this CA issued and that is valid at
  // `now`. Unauthenticated otherwise, with the reason.
  absl::StatusOr<AgentCertificate> VerifyAgentCertificate(absl::string_view pem,
                                                          absl::Time now) const;

 private:
  CertificateAuthority(pki::PrivateKey key, pki::Certificate cert)
      : ca_key_(std::move(key)), ca_cert_(std::move(cert)) {}

  pki::PrivateKey ca_key_;
  pki::Certificate ca_cert_;
  std::string ca_pem_;
  std::string server_chain_pem_;
  std::string server_key_pem_;
  std::string pin_;
};

// "ovvoc://agent/<id>".
std::string AgentUri(absl::string_view agent_id);

}  // namespace ovvoc::cp

#endif  // OVVOC_CONTROL_PLANE_CA_AUTHORITY_H_
