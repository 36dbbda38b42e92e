#include "common/pki.h"

#include <arpa/inet.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <climits>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/crypto.h"
#include "common/status_macros.h"

namespace ovvoc::pki {

void EvpPkeyDeleter::operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
void X509Deleter::operator()(X509* c) const { X509_free(c); }
void X509ReqDeleter::operator()(X509_REQ* r) const { X509_REQ_free(r); }

namespace {

// Owns any OpenSSL object whose free function is `Free`.
template <auto Free>
struct FreeWith {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
using BioPtr = std::unique_ptr<BIO, FreeWith<BIO_free_all>>;
using BignumPtr = std::unique_ptr<BIGNUM, FreeWith<BN_free>>;
using Asn1IntegerPtr = std::unique_ptr<ASN1_INTEGER, FreeWith<ASN1_INTEGER_free>>;
using Asn1TimePtr = std::unique_ptr<ASN1_TIME, FreeWith<ASN1_TIME_free>>;
using Asn1OctetStringPtr = std::unique_ptr<ASN1_OCTET_STRING, FreeWith<ASN1_OCTET_STRING_free>>;
using Asn1Ia5StringPtr = std::unique_ptr<ASN1_IA5STRING, FreeWith<ASN1_IA5STRING_free>>;
using X509NamePtr = std::unique_ptr<X509_NAME, FreeWith<X509_NAME_free>>;
using X509ExtensionPtr = std::unique_ptr<X509_EXTENSION, FreeWith<X509_EXTENSION_free>>;
using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, FreeWith<GENERAL_NAME_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, FreeWith<GENERAL_NAMES_free>>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using X509ReqPtr = std::unique_ptr<X509_REQ, X509ReqDeleter>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;
using X509PubkeyPtr = std::unique_ptr<X509_PUBKEY, FreeWith<X509_PUBKEY_free>>;

// Common Name upper bound from RFC 5280 (ub-common-name).
constexpr size_t kMaxCommonName = 64;

// `what`, then every error on this thread's OpenSSL queue, which it empties so that a later
// failure does not report this one's causes.
absl::Status OpenSslError(absl::StatusCode code, absl::string_view what) {
  std::string message(what);
  const char* separator = ": ";
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    absl::StrAppend(&message, separator, buf);
    separator = "; ";
  }
  return absl::Status(code, message);
}

absl::Status InternalOpenSslError(absl::string_view what) {
  return OpenSslError(absl::StatusCode::kInternal, what);
}

absl::StatusOr<BioPtr> ReadOnlyBio(absl::string_view data) {
  if (data.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError("input too large");
  }
  BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
  if (!bio) return InternalOpenSslError("BIO_new_mem_buf");
  return bio;
}

absl::StatusOr<BioPtr> WritableBio() {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return InternalOpenSslError("BIO_new");
  return bio;
}

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

// PEM readers fall back to prompting on the terminal for a passphrase when given no callback.
// Keys here are never encrypted, so refuse instead.
int NoPassphrase(char*, int, int, void*) { return -1; }

// The key's SubjectPublicKeyInfo must name its curve by OID. Explicit parameters equal to
// P-256's still report the group "prime256v1", yet they would be copied into every certificate
// issued for the key, for every peer's explicit-parameter parser to read. Read from the DER:
// keys made with the legacy EC_KEY API do not report OSSL_PKEY_PARAM_EC_ENCODING.
absl::Status CheckNamedCurveEncoding(const EVP_PKEY* key, absl::string_view what) {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key, &der);
  if (len <= 0) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        absl::StrCat(what, " cannot be encoded"));
  }
  const unsigned char* in = der;
  X509PubkeyPtr spki(d2i_X509_PUBKEY(nullptr, &in, len));
  OPENSSL_free(der);
  if (!spki) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        absl::StrCat(what, " has an unreadable public key"));
  }
  X509_ALGOR* algorithm = nullptr;
  X509_PUBKEY_get0_param(nullptr, nullptr, nullptr, &algorithm, spki.get());
  int parameter_type = V_ASN1_UNDEF;
  const void* parameter = nullptr;
  if (algorithm != nullptr) X509_ALGOR_get0(nullptr, &parameter_type, &parameter, algorithm);
  if (parameter_type != V_ASN1_OBJECT ||
      OBJ_obj2nid(static_cast<const ASN1_OBJECT*>(parameter)) != NID_X9_62_prime256v1) {
    return absl::InvalidArgumentError(
        absl::StrCat(what,
                     " spells out its curve as explicit parameters; only the named curve P-256 "
                     "(OID prime256v1) is accepted"));
  }
  return absl::OkStatus();
}

// Keys are EC P-256 throughout, with the curve named: one algorithm to audit, and what the TLS
// layer expects.
absl::Status CheckP256(const EVP_PKEY* key, absl::string_view what) {
  if (key == nullptr) return absl::InvalidArgumentError(absl::StrCat(what, " has no key"));
  if (EVP_PKEY_is_a(key, "EC") != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is not an EC P-256 key (", EVP_PKEY_get0_type_name(key), ")"));
  }
  char group[64] = {};
  size_t len = 0;
  const bool named = EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                                    sizeof group, &len) == 1;
  if (!named) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        absl::StrCat(what, " is an EC key without a named curve"));
  }
  int nid = OBJ_sn2nid(group);
  if (nid == NID_undef) nid = EC_curve_nist2nid(group);
  if (nid != NID_X9_62_prime256v1) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is not an EC P-256 key (curve ", group, ")"));
  }
  return CheckNamedCurveEncoding(key, what);
}

// UTF-8 value of the first CN in `name`, or "" when there is none.
std::string CommonNameOf(const X509_NAME* name) {
  if (name == nullptr) return "";
  int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) return "";
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) {
    ERR_clear_error();
    return "";
  }
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

absl::StatusOr<X509NamePtr> NameWithCommonName(absl::string_view common_name) {
  if (common_name.empty() || common_name.size() > kMaxCommonName) {
    return absl::InvalidArgumentError(
        absl::StrCat("common name must be 1 to ", kMaxCommonName, " bytes"));
  }
  if (common_name.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError("common name contains a NUL byte");
  }
  X509NamePtr name(X509_NAME_new());
  if (!name) return InternalOpenSslError("X509_NAME_new");
  if (X509_NAME_add_entry_by_NID(name.get(), NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.data()),
                                 static_cast<int>(common_name.size()), -1, 0) != 1) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "bad common name");
  }
  return name;
}

// Fail-closed conversions: an unreadable NotBefore lies in the infinite future and an
// unreadable NotAfter in the infinite past, so validity checks reject the certificate.
absl::Time Asn1TimeToTime(const ASN1_TIME* t, absl::Time on_error) {
  struct tm tm = {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    ERR_clear_error();
    return on_error;
  }
  return absl::FromTimeT(timegm(&tm));
}

absl::StatusOr<Asn1TimePtr> TimeToAsn1(absl::Time t) {
  if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) {
    return absl::InvalidArgumentError("certificate validity times must be finite");
  }
  // ASN1_TIME_set picks UTCTime through 2049 and GeneralizedTime after, as RFC 5280 requires.
  Asn1TimePtr out(ASN1_TIME_set(nullptr, absl::ToTimeT(t)));
  if (!out) return OpenSslError(absl::StatusCode::kInvalidArgument, "time out of range");
  return out;
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone());
}

bool IsCa(X509* cert) {
  // X509_get_extension_flags caches the parsed extensions; EXFLAG_CA means basicConstraints
  // says CA:TRUE. A CA that limits its key usage must still allow certificate signing.
  uint32_t flags = X509_get_extension_flags(cert);
  if ((flags & EXFLAG_INVALID) != 0 || (flags & EXFLAG_CA) == 0) return false;
  return (X509_get_key_usage(cert) & KU_KEY_CERT_SIGN) != 0;
}

// DNS names are limited to hostname characters (plus "_" and a wildcard "*"); URIs to
// printable ASCII without spaces, which is what IA5String can carry and peers can match. Odd
// bytes never reach a certificate.
bool IsDnsChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
         c == '*';
}
bool IsUriChar(char c) { return c > 0x20 && c < 0x7f; }

absl::StatusOr<GeneralNamePtr> Ia5Name(int type, absl::string_view value) {
  const bool dns = type == GEN_DNS;
  const char* kind = dns ? "DNS" : "URI";
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat("empty ", kind, " name"));
  for (char c : value) {
    if (!(dns ? IsDnsChar(c) : IsUriChar(c))) {
      return absl::InvalidArgumentError(
          absl::StrCat(kind, " name has a character not allowed there: ", std::string(value)));
    }
  }
  if (value.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError(absl::StrCat(kind, " name too long"));
  }
  Asn1Ia5StringPtr ia5(ASN1_IA5STRING_new());
  if (!ia5 || ASN1_STRING_set(ia5.get(), value.data(), static_cast<int>(value.size())) != 1) {
    return InternalOpenSslError("ASN1_STRING_set");
  }
  GeneralNamePtr name(GENERAL_NAME_new());
  if (!name) return InternalOpenSslError("GENERAL_NAME_new");
  GENERAL_NAME_set0_value(name.get(), type, ia5.release());
  return name;
}

absl::StatusOr<GeneralNamePtr> IpName(const std::string& text) {
  Asn1OctetStringPtr ip(a2i_IPADDRESS(text.c_str()));
  if (!ip) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat("not an IP address: ", text));
  }
  GeneralNamePtr name(GENERAL_NAME_new());
  if (!name) return InternalOpenSslError("GENERAL_NAME_new");
  GENERAL_NAME_set0_value(name.get(), GEN_IPADD, ip.release());
  return name;
}

// Builds the subjectAltName value field by field rather than through OpenSSL's config-string
// parser, so a name containing "," or ":" cannot smuggle in a second entry.
absl::StatusOr<GeneralNamesPtr> BuildAltNames(const SubjectAltNames& alt) {
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  if (!names) return InternalOpenSslError("sk_GENERAL_NAME_new_null");
  auto push = [&](GeneralNamePtr name) -> absl::Status {
    if (sk_GENERAL_NAME_push(names.get(), name.get()) <= 0) {
      return InternalOpenSslError("sk_GENERAL_NAME_push");
    }
    name.release();  // Now owned by `names`.
    return absl::OkStatus();
  };
  for (const std::string& dns : alt.dns) {
    OVVOC_ASSIGN_OR_RETURN(GeneralNamePtr name, Ia5Name(GEN_DNS, dns));
    OVVOC_RETURN_IF_ERROR(push(std::move(name)));
  }
  for (const std::string& ip : alt.ips) {
    OVVOC_ASSIGN_OR_RETURN(GeneralNamePtr name, IpName(ip));
    OVVOC_RETURN_IF_ERROR(push(std::move(name)));
  }
  for (const std::string& uri : alt.uris) {
    OVVOC_ASSIGN_OR_RETURN(GeneralNamePtr name, Ia5Name(GEN_URI, uri));
    OVVOC_RETURN_IF_ERROR(push(std::move(name)));
  }
  return names;
}

// Adds one extension from OpenSSL's textual form. Only ever called with constant values.
absl::Status AddExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  X509ExtensionPtr ext(X509V3_EXT_nconf_nid(nullptr, ctx, nid, value));
  if (!ext) return InternalOpenSslError(absl::StrCat("cannot build extension ", OBJ_nid2sn(nid)));
  if (X509_add_ext(cert, ext.get(), -1) != 1) {
    return InternalOpenSslError(absl::StrCat("cannot add extension ", OBJ_nid2sn(nid)));
  }
  return absl::OkStatus();
}

absl::StatusOr<Asn1IntegerPtr> RandomSerial() {
  // 128 random bits read as an unsigned big-endian number: positive by construction (DER adds
  // a leading zero octet when the top bit is set), at most 17 octets of the 20 RFC 5280 allows.
  std::string bytes;
  do {
    bytes = crypto::RandomBytes(16);
  } while (bytes.find_first_not_of('\0') == std::string::npos);  // Serials must be non-zero.
  BignumPtr bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                         static_cast<int>(bytes.size()), nullptr));
  if (!bn) return InternalOpenSslError("BN_bin2bn");
  Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (!serial) return InternalOpenSslError("BN_to_ASN1_INTEGER");
  return serial;
}

// The one place certificates are built. `issuer_cert` null means self-signed: the new
// certificate is its own issuer and `signing_key` must be the key of `subject_key`.
absl::StatusOr<Certificate> BuildCertificate(EVP_PKEY* signing_key, X509* issuer_cert,
                                             EVP_PKEY* subject_key, const IssueOptions& options) {
  OVVOC_RETURN_IF_ERROR(CheckP256(subject_key, "subject public key"));
  if (options.not_before >= options.not_after) {
    return absl::InvalidArgumentError("not_before must be earlier than not_after");
  }
  OVVOC_ASSIGN_OR_RETURN(X509NamePtr subject, NameWithCommonName(options.common_name));
  OVVOC_ASSIGN_OR_RETURN(Asn1TimePtr not_before, TimeToAsn1(options.not_before));
  OVVOC_ASSIGN_OR_RETURN(Asn1TimePtr not_after, TimeToAsn1(options.not_after));
  OVVOC_ASSIGN_OR_RETURN(Asn1IntegerPtr serial, RandomSerial());

  X509Ptr cert(X509_new());
  if (!cert) return InternalOpenSslError("X509_new");
  X509* x = cert.get();
  const X509_NAME* issuer_name =
      issuer_cert != nullptr ? X509_get_subject_name(issuer_cert) : subject.get();
  if (X509_set_version(x, X509_VERSION_3) != 1 || X509_set_serialNumber(x, serial.get()) != 1 ||
      X509_set_subject_name(x, subject.get()) != 1 || X509_set_issuer_name(x, issuer_name) != 1 ||
      X509_set1_notBefore(x, not_before.get()) != 1 ||
      X509_set1_notAfter(x, not_after.get()) != 1 || X509_set_pubkey(x, subject_key) != 1) {
    return InternalOpenSslError("cannot fill in certificate");
  }

  // The extension context names the issuer so that authorityKeyIdentifier can copy its
  // subjectKeyIdentifier; for a self-signed certificate that is the certificate itself, so
  // subjectKeyIdentifier must be added before authorityKeyIdentifier.
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer_cert != nullptr ? issuer_cert : x, x, nullptr, nullptr, 0);
  X509V3_set_ctx_nodb(&ctx);
  const bool ca = options.use == CertificateUse::kCertificateAuthority;
  OVVOC_RETURN_IF_ERROR(
      AddExtension(x, &ctx, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE"));
  OVVOC_RETURN_IF_ERROR(AddExtension(
      x, &ctx, NID_key_usage, ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature"));
  if (options.use == CertificateUse::kServer) {
    OVVOC_RETURN_IF_ERROR(AddExtension(x, &ctx, NID_ext_key_usage, "serverAuth"));
  } else if (options.use == CertificateUse::kClient) {
    OVVOC_RETURN_IF_ERROR(AddExtension(x, &ctx, NID_ext_key_usage, "clientAuth"));
  }
  OVVOC_RETURN_IF_ERROR(AddExtension(x, &ctx, NID_subject_key_identifier, "hash"));
  OVVOC_RETURN_IF_ERROR(AddExtension(x, &ctx, NID_authority_key_identifier, "keyid:always"));

  const SubjectAltNames& alt = options.alt_names;
  if (!alt.dns.empty() || !alt.ips.empty() || !alt.uris.empty()) {
    OVVOC_ASSIGN_OR_RETURN(GeneralNamesPtr names, BuildAltNames(alt));
    if (X509_add1_ext_i2d(x, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
      return InternalOpenSslError("cannot add subjectAltName");
    }
  }

  if (X509_sign(x, signing_key, EVP_sha256()) <= 0) {
    return InternalOpenSslError("cannot sign certificate");
  }
  // Certificate's constructor is private; going through DER also means the caller gets exactly
  // what a peer will parse.
  unsigned char* der = nullptr;
  int len = i2d_X509(x, &der);
  if (len <= 0) return InternalOpenSslError("cannot encode certificate");
  std::string encoded(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return Certificate::FromDer(encoded);
}

}  // namespace

// ----------------------------------------------------------------------------------------------
// PrivateKey

absl::StatusOr<PrivateKey> PrivateKey::GenerateP256() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (key == nullptr) return InternalOpenSslError("cannot generate EC P-256 key");
  return PrivateKey(key);
}

absl::StatusOr<PrivateKey> PrivateKey::FromPem(absl::string_view pem) {
  OVVOC_ASSIGN_OR_RETURN(BioPtr bio, ReadOnlyBio(pem));
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (!key) return OpenSslError(absl::StatusCode::kInvalidArgument, "cannot parse private key PEM");
  OVVOC_RETURN_IF_ERROR(CheckP256(key.get(), "private key"));
  return PrivateKey(key.release());
}

absl::StatusOr<std::string> PrivateKey::ToPem() const {
  OVVOC_ASSIGN_OR_RETURN(BioPtr bio, WritableBio());
  // PEM_write_bio_PrivateKey writes PKCS#8 ("BEGIN PRIVATE KEY") in OpenSSL 3.
  if (PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return InternalOpenSslError("cannot write private key PEM");
  }
  return BioContents(bio.get());
}

absl::StatusOr<std::string> PrivateKey::PublicKeyPem() const {
  OVVOC_ASSIGN_OR_RETURN(BioPtr bio, WritableBio());
  if (PEM_write_bio_PUBKEY(bio.get(), key_.get()) != 1) {
    return InternalOpenSslError("cannot write public key PEM");
  }
  return BioContents(bio.get());
}

// ----------------------------------------------------------------------------------------------
// CertificateRequest

absl::StatusOr<CertificateRequest> CertificateRequest::Create(const PrivateKey& key,
                                                              absl::string_view common_name) {
  OVVOC_RETURN_IF_ERROR(CheckP256(key.get(), "CSR key"));
  OVVOC_ASSIGN_OR_RETURN(X509NamePtr subject, NameWithCommonName(common_name));
  X509ReqPtr req(X509_REQ_new());
  if (!req) return InternalOpenSslError("X509_REQ_new");
  if (X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1 ||
      X509_REQ_set_subject_name(req.get(), subject.get()) != 1 ||
      X509_REQ_set_pubkey(req.get(), key.get()) != 1) {
    return InternalOpenSslError("cannot fill in CSR");
  }
  if (X509_REQ_sign(req.get(), key.get(), EVP_sha256()) <= 0) {
    return InternalOpenSslError("cannot sign CSR");
  }
  return CertificateRequest(req.release());
}

absl::StatusOr<CertificateRequest> CertificateRequest::FromPem(absl::string_view pem) {
  OVVOC_ASSIGN_OR_RETURN(BioPtr bio, ReadOnlyBio(pem));
  X509ReqPtr req(PEM_read_bio_X509_REQ(bio.get(), nullptr, NoPassphrase, nullptr));
  if (!req) return OpenSslError(absl::StatusCode::kInvalidArgument, "cannot parse CSR PEM");
  EVP_PKEY* key = X509_REQ_get0_pubkey(req.get());
  OVVOC_RETURN_IF_ERROR(CheckP256(key, "CSR key"));
  // Proof of possession: the requester holds the private half of the key it asks us to certify.
  if (X509_REQ_verify(req.get(), key) != 1) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "CSR signature does not verify");
  }
  return CertificateRequest(req.release());
}

absl::StatusOr<std::string> CertificateRequest::ToPem() const {
  OVVOC_ASSIGN_OR_RETURN(BioPtr bio, WritableBio());
  if (PEM_write_bio_X509_REQ(bio.get(), req_.get()) != 1) {
    return InternalOpenSslError("cannot write CSR PEM");
  }
  return BioContents(bio.get());
}

std::string CertificateRequest::CommonName() const {
  return CommonNameOf(X509_REQ_get_subject_name(req_.get()));
}

// ----------------------------------------------------------------------------------------------
// Certificate

absl::StatusOr<Certificate> Certificate::FromPem(absl::string_view pem) {
  OVVOC_ASSIGN_OR_RETURN(BioPtr bio, ReadOnlyBio(pem));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr));
  if (!cert) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "cannot parse certificate PEM");
  }
  return Certificate(cert.release());
}

absl::StatusOr<std::vector<Certificate>> Certificate::ChainFromPem(absl::string_view pem) {
  OVVOC_ASSIGN_OR_RETURN(BioPtr bio, ReadOnlyBio(pem));
  std::vector<Certificate> chain;
  for (;;) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr));
    if (cert) {
      chain.push_back(Certificate(cert.release()));
      continue;
    }
    // Running out of PEM blocks is the normal end; anything else is a damaged block.
    unsigned long e = ERR_peek_last_error();
    if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
      ERR_clear_error();
      break;
    }
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        absl::StrCat("cannot parse certificate ", chain.size() + 1, " of bundle"));
  }
  if (chain.empty()) return absl::InvalidArgumentError("no certificate in PEM bundle");
  return chain;
}

absl::StatusOr<Certificate> Certificate::FromDer(absl::string_view der) {
  if (der.size() > static_cast<size_t>(LONG_MAX)) {
    return absl::InvalidArgumentError("DER too large");
  }
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "cannot parse certificate DER");
  }
  if (p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    return absl::InvalidArgumentError("trailing bytes after certificate DER");
  }
  return Certificate(cert.release());
}

absl::StatusOr<std::string> Certificate::ToPem() const {
  OVVOC_ASSIGN_OR_RETURN(BioPtr bio, WritableBio());
  if (PEM_write_bio_X509(bio.get(), cert_.get()) != 1) {
    return InternalOpenSslError("cannot write certificate PEM");
  }
  return BioContents(bio.get());
}

std::string Certificate::CommonName() const {
  return CommonNameOf(X509_get_subject_name(cert_.get()));
}

std::string Certificate::SerialHex() const {
  BignumPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert_.get()), nullptr));
  if (!bn) {
    ERR_clear_error();
    return "";
  }
  char* hex = BN_bn2hex(bn.get());
  if (hex == nullptr) {
    ERR_clear_error();
    return "";
  }
  // Lowercase like crypto::HexEncode, so serials compare as plain strings everywhere.
  std::string out = absl::AsciiStrToLower(hex);
  OPENSSL_free(hex);
  return out;
}

absl::Time Certificate::NotBefore() const {
  return Asn1TimeToTime(X509_get0_notBefore(cert_.get()), absl::InfiniteFuture());
}

absl::Time Certificate::NotAfter() const {
  return Asn1TimeToTime(X509_get0_notAfter(cert_.get()), absl::InfinitePast());
}

SubjectAltNames Certificate::AltNames() const {
  SubjectAltNames out;
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert_.get(), NID_subject_alt_name, nullptr, nullptr)));
  if (!names) {
    ERR_clear_error();
    return out;
  }
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    int type = 0;
    const auto* value = static_cast<const ASN1_STRING*>(GENERAL_NAME_get0_value(name, &type));
    if (value == nullptr) continue;
    absl::string_view bytes(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                            static_cast<size_t>(ASN1_STRING_length(value)));
    switch (type) {
      case GEN_DNS:
        out.dns.emplace_back(bytes);
        break;
      case GEN_URI:
        out.uris.emplace_back(bytes);
        break;
      case GEN_IPADD: {
        char text[INET6_ADDRSTRLEN] = {};
        int family = bytes.size() == 4 ? AF_INET : bytes.size() == 16 ? AF_INET6 : -1;
        if (family != -1 && inet_ntop(family, bytes.data(), text, sizeof text) != nullptr) {
          out.ips.emplace_back(text);
        }
        break;
      }
      default:
        break;  // Other name forms are never issued here.
    }
  }
  return out;
}

std::string Certificate::SpkiSha256() const {
  // The DER of the certificate's own SubjectPublicKeyInfo, byte for byte as a peer sees it.
  unsigned char* der = nullptr;
  int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert_.get()), &der);
  if (len <= 0) {
    ERR_clear_error();
    return "";
  }
  std::string digest =
      crypto::Sha256(absl::string_view(reinterpret_cast<char*>(der), static_cast<size_t>(len)));
  OPENSSL_free(der);
  return digest;
}

// Every failure is Unauthenticated: whatever the reason, this certificate does not establish
// an identity under `issuer`.
absl::Status Certificate::VerifySignedBy(const Certificate& issuer, absl::Time now) const {
  X509* cert = cert_.get();
  X509* ca = issuer.get();
  if (cert == nullptr || ca == nullptr) return absl::InvalidArgumentError("empty certificate");
  if (X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(ca)) != 0) {
    return absl::UnauthenticatedError(
        "certificate not signed by this CA (issuer name does not match CA subject)");
  }
  if (!IsCa(ca)) {
    ERR_clear_error();
    return absl::UnauthenticatedError("issuer is not a CA certificate");
  }
  EVP_PKEY* ca_key = X509_get0_pubkey(ca);
  if (ca_key == nullptr || X509_verify(cert, ca_key) != 1) {
    return OpenSslError(absl::StatusCode::kUnauthenticated, "certificate not signed by this CA");
  }
  absl::Time not_before = NotBefore();
  absl::Time not_after = NotAfter();
  if (now < not_before) {
    return absl::UnauthenticatedError(
        absl::StrCat("certificate not yet valid: valid from ", Rfc3339(not_before)));
  }
  if (now > not_after) {
    return absl::UnauthenticatedError(absl::StrCat("certificate expired at ", Rfc3339(not_after)));
  }
  return absl::OkStatus();
}

// ----------------------------------------------------------------------------------------------
// Issuing

absl::StatusOr<Certificate> CreateSelfSignedCa(const PrivateKey& key, absl::string_view common_name,
                                               absl::Time not_before, absl::Time not_after) {
  OVVOC_RETURN_IF_ERROR(CheckP256(key.get(), "CA key"));
  IssueOptions options;
  options.common_name = std::string(common_name);
  options.use = CertificateUse::kCertificateAuthority;
  options.not_before = not_before;
  options.not_after = not_after;
  return BuildCertificate(key.get(), /*issuer_cert=*/nullptr, key.get(), options);
}

absl::StatusOr<Certificate> IssueCertificate(const PrivateKey& ca_key, const Certificate& ca_cert,
                                             EVP_PKEY* subject_public_key,
                                             const IssueOptions& options) {
  if (ca_cert.get() == nullptr || ca_key.get() == nullptr) {
    return absl::InvalidArgumentError("missing CA certificate or key");
  }
  if (!IsCa(ca_cert.get())) {
    ERR_clear_error();
    return absl::FailedPreconditionError("issuer certificate is not a CA");
  }
  if (!KeyMatchesCertificate(ca_key, ca_cert)) {
    return absl::FailedPreconditionError("CA key does not match CA certificate");
  }
  return BuildCertificate(ca_key.get(), ca_cert.get(), subject_public_key, options);
}

absl::StatusOr<Certificate> IssueFromCsr(const PrivateKey& ca_key, const Certificate& ca_cert,
                                         const CertificateRequest& csr,
                                         const IssueOptions& options) {
  X509_REQ* req = csr.get();
  if (req == nullptr) return absl::InvalidArgumentError("empty CSR");
  // CertificateRequest values are verified when made; checking again costs one signature
  // verification and keeps this function safe on its own.
  EVP_PKEY* key = X509_REQ_get0_pubkey(req);
  OVVOC_RETURN_IF_ERROR(CheckP256(key, "CSR key"));
  if (X509_REQ_verify(req, key) != 1) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "CSR signature does not verify");
  }
  return IssueCertificate(ca_key, ca_cert, key, options);
}

bool KeyMatchesCertificate(const PrivateKey& key, const Certificate& cert) {
  if (key.get() == nullptr || cert.get() == nullptr) return false;
  EVP_PKEY* pub = X509_get0_pubkey(cert.get());
  bool match = pub != nullptr && EVP_PKEY_eq(pub, key.get()) == 1;
  ERR_clear_error();
  return match;
}

}  // namespace ovvoc::pki
