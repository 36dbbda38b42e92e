// PKI over OpenSSL 3: EC P-256 keys, CSRs, certificates, signing, verification and SPKI pins.
// The control plane's CA and the agent's enrollment both use only this interface.
// Values are immutable after construction and may be shared across threads for reading.
#ifndef OVVOC_COMMON_PKI_H_
#define OVVOC_COMMON_PKI_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

// OpenSSL types, forward-declared so that this header does not pull in OpenSSL.
typedef struct evp_pkey_st EVP_PKEY;
typedef struct x509_st X509;
typedef struct X509_req_st X509_REQ;

namespace ovvoc::pki {

struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* k) const;
};
struct X509Deleter {
  void operator()(X509* c) const;
};
struct X509ReqDeleter {
  void operator()(X509_REQ* r) const;
};

class PrivateKey {
 public:
  // A fresh EC P-256 key.
  static absl::StatusOr<PrivateKey> GenerateP256();
  // PKCS#8 PEM, unencrypted ("-----BEGIN PRIVATE KEY-----").
  static absl::StatusOr<PrivateKey> FromPem(absl::string_view pem);
  absl::StatusOr<std::string> ToPem() const;
  // PEM of the public half ("-----BEGIN PUBLIC KEY-----").
  absl::StatusOr<std::string> PublicKeyPem() const;
  EVP_PKEY* get() const { return key_.get(); }

 private:
  explicit PrivateKey(EVP_PKEY* k) : key_(k, EvpPkeyDeleter()) {}
  std::shared_ptr<EVP_PKEY> key_;
};

// Names that go into a certificate's subjectAltName.
struct SubjectAltNames {
  std::vector<std::string> dns;
  std::vector<std::string> ips;   // textual IPv4 or IPv6
  std::vector<std::string> uris;  // e.g. "ovvoc://agent/agt_..."
};

class CertificateRequest {
 public:
  // A CSR with subject CN=`common_name`, signed by `key` (SHA-256).
  static absl::StatusOr<CertificateRequest> Create(const PrivateKey& key,
                                                   absl::string_view common_name);
  // Parses and checks the CSR's self-signature; rejects keys other than EC P-256.
  static absl::StatusOr<CertificateRequest> FromPem(absl::string_view pem);
  absl::StatusOr<std::string> ToPem() const;
  std::string CommonName() const;
  X509_REQ* get() const { return req_.get(); }

 private:
  explicit CertificateRequest(X509_REQ* r) : req_(r, X509ReqDeleter()) {}
  std::shared_ptr<X509_REQ> req_;
};

enum class CertificateUse { kCertificateAuthority, kServer, kClient };

class Certificate {
 public:
  static absl::StatusOr<Certificate> FromPem(absl::string_view pem);
  // All certificates in a PEM bundle, in order.
  static absl::StatusOr<std::vector<Certificate>> ChainFromPem(absl::string_view pem);
  // Parses DER (as OpenSSL's SSL_get_peer_certificate gives after i2d).
  static absl::StatusOr<Certificate> FromDer(absl::string_view der);
  absl::StatusOr<std::string> ToPem() const;

  std::string CommonName() const;
  std::string SerialHex() const;
  absl::Time NotBefore() const;
  absl::Time NotAfter() const;
  SubjectAltNames AltNames() const;
  // SHA-256 of the DER SubjectPublicKeyInfo: the pin enrollment tokens carry (raw 32 bytes).
  std::string SpkiSha256() const;

  // OK when this certificate was signed by `issuer`'s key, `issuer` is a CA, and `now` lies
  // within this certificate's validity. Does not consult revocation: callers do.
  absl::Status VerifySignedBy(const Certificate& issuer, absl::Time now) const;

  X509* get() const { return cert_.get(); }

 private:
  explicit Certificate(X509* c) : cert_(c, X509Deleter()) {}
  std::shared_ptr<X509> cert_;
};

struct IssueOptions {
  std::string common_name;
  SubjectAltNames alt_names;
  CertificateUse use = CertificateUse::kClient;
  absl::Time not_before;  // typically now - 5 min for clock skew
  absl::Time not_after;
};

// A self-signed CA certificate for `key`.
absl::StatusOr<Certificate> CreateSelfSignedCa(const PrivateKey& key, absl::string_view common_name,
                                               absl::Time not_before, absl::Time not_after);

// Signs `subject_public_key` (taken from a CSR or a key) with the CA's key. The subject and
// extensions come from `options` only, never from the CSR, so a CSR cannot ask for more.
// Serial numbers are 128 random bits.
absl::StatusOr<Certificate> IssueCertificate(const PrivateKey& ca_key, const Certificate& ca_cert,
                                             EVP_PKEY* subject_public_key,
                                             const IssueOptions& options);
absl::StatusOr<Certificate> IssueFromCsr(const PrivateKey& ca_key, const Certificate& ca_cert,
                                         const CertificateRequest& csr,
                                         const IssueOptions& options);

// True when `cert` holds the public half of `key`.
bool KeyMatchesCertificate(const PrivateKey& key, const Certificate& cert);

}  // namespace ovvoc::pki

#endif  // OVVOC_COMMON_PKI_H_
