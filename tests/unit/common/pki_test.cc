#include "common/pki.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <catch2/catch.hpp>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/crypto.h"

namespace ovvoc::pki {
namespace {

// Test-side OpenSSL handles, owned like the library's own.
template <auto Free>
struct FreeWith {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
using BioPtr = std::unique_ptr<BIO, FreeWith<BIO_free_all>>;
using BignumPtr = std::unique_ptr<BIGNUM, FreeWith<BN_free>>;
using StorePtr = std::unique_ptr<X509_STORE, FreeWith<X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, FreeWith<X509_STORE_CTX_free>>;
void FreeExtensions(STACK_OF(X509_EXTENSION) * s) {
  sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free);
}
using ExtensionsPtr = std::unique_ptr<STACK_OF(X509_EXTENSION), FreeWith<FreeExtensions>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using X509ReqPtr = std::unique_ptr<X509_REQ, X509ReqDeleter>;

// Fixed instants: tests never depend on the wall clock.
const absl::Time kNow = absl::FromUnixSeconds(1700000000);  // 2023-11-14T22:13:20Z
const absl::Time kCaFrom = kNow - absl::Hours(24);
const absl::Time kCaUntil = kNow + absl::Hours(24 * 3650);

template <typename T>
T ValueOf(absl::StatusOr<T> v) {
  INFO(v.status().ToString());
  REQUIRE(v.ok());
  return *std::move(v);
}

std::string StatusText(const absl::Status& s) { return s.ToString(); }

std::string BioString(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string DerToPem(const std::string& der, const std::string& label) {
  std::string b64 = crypto::Base64Encode(der);
  std::string out = absl::StrCat("-----BEGIN ", label, "-----\n");
  for (size_t i = 0; i < b64.size(); i += 64) absl::StrAppend(&out, b64.substr(i, 64), "\n");
  absl::StrAppend(&out, "-----END ", label, "-----\n");
  return out;
}

std::string CsrDer(X509_REQ* req) {
  unsigned char* der = nullptr;
  int len = i2d_X509_REQ(req, &der);
  REQUIRE(len > 0);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

std::string CertDer(X509* cert) {
  unsigned char* der = nullptr;
  int len = i2d_X509(cert, &der);
  REQUIRE(len > 0);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

std::string PubkeyDer(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key, &der);
  REQUIRE(len > 0);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

PkeyPtr RawKey(const char* type) {
  EVP_PKEY* key = absl::string_view(type) == "RSA"
                      ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048})
                      : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", type);
  REQUIRE(key != nullptr);
  return PkeyPtr(key);
}

std::string RawPrivateKeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  REQUIRE(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1);
  return BioString(bio.get());
}

// A CSR made directly with OpenSSL, optionally asking for extensions the CA must ignore.
std::string RawCsrPem(EVP_PKEY* key, const char* cn, bool greedy_extensions = false) {
  X509ReqPtr req(X509_REQ_new());
  REQUIRE(req);
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  REQUIRE(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                     reinterpret_cast<const unsigned char*>(cn), -1, -1, 0) == 1);
  REQUIRE(X509_REQ_set_pubkey(req.get(), key) == 1);
  if (greedy_extensions) {
    ExtensionsPtr exts(sk_X509_EXTENSION_new_null());
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, nullptr, nullptr, req.get(), nullptr, 0);
    X509V3_set_ctx_nodb(&ctx);
    for (auto [nid, value] : std::vector<std::pair<int, const char*>>{
             {NID_basic_constraints, "critical,CA:TRUE"},
             {NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"},
             {NID_ext_key_usage, "serverAuth,clientAuth"},
             {NID_subject_alt_name, "DNS:evil.example,IP:6.6.6.6"}}) {
      X509_EXTENSION* ext = X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value);
      REQUIRE(ext != nullptr);
      sk_X509_EXTENSION_push(exts.get(), ext);
    }
    REQUIRE(X509_REQ_add_extensions(req.get(), exts.get()) == 1);
  }
  REQUIRE(X509_REQ_sign(req.get(), key, EVP_sha256()) > 0);
  BioPtr bio(BIO_new(BIO_s_mem()));
  REQUIRE(PEM_write_bio_X509_REQ(bio.get(), req.get()) == 1);
  return BioString(bio.get());
}

bool ExtensionIsCritical(X509* cert, int nid) {
  int index = X509_get_ext_by_NID(cert, nid, -1);
  REQUIRE(index >= 0);
  return X509_EXTENSION_get_critical(X509_get_ext(cert, index)) == 1;
}

std::string KeyId(const ASN1_OCTET_STRING* id) {
  REQUIRE(id != nullptr);
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(id)),
                     static_cast<size_t>(ASN1_STRING_length(id)));
}

// OpenSSL's own chain verifier, as TLS will run it: an independent check of what we build.
int OpenSslVerify(const Certificate& leaf, const std::vector<Certificate>& trusted, int purpose,
                  absl::Time at) {
  StorePtr store(X509_STORE_new());
  for (const Certificate& ca : trusted) REQUIRE(X509_STORE_add_cert(store.get(), ca.get()) == 1);
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  REQUIRE(X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), nullptr) == 1);
  X509_STORE_CTX_set_time(ctx.get(), 0, absl::ToTimeT(at));
  REQUIRE(X509_STORE_CTX_set_purpose(ctx.get(), purpose) == 1);
  int ok = X509_verify_cert(ctx.get());
  int err = X509_STORE_CTX_get_error(ctx.get());
  ERR_clear_error();
  return ok == 1 ? X509_V_OK : (err == X509_V_OK ? -1 : err);
}

struct TestCa {
  PrivateKey key;
  Certificate cert;
};

TestCa MakeCa(const std::string& cn = "ovvoc test CA") {
  PrivateKey key = ValueOf(PrivateKey::GenerateP256());
  Certificate cert = ValueOf(CreateSelfSignedCa(key, cn, kCaFrom, kCaUntil));
  return TestCa{key, cert};
}

IssueOptions Options(std::string cn, CertificateUse use, absl::Time from = kNow - absl::Minutes(5),
                     absl::Time until = kNow + absl::Hours(24 * 30)) {
  IssueOptions options;
  options.common_name = std::move(cn);
  options.use = use;
  options.not_before = from;
  options.not_after = until;
  return options;
}

Certificate IssueFor(const TestCa& ca, const PrivateKey& key, const IssueOptions& options) {
  return ValueOf(IssueCertificate(ca.key, ca.cert, key.get(), options));
}

// ----------------------------------------------------------------------------------------------

TEST_CASE("PrivateKey PEM round trip", "[pki]") {
  PrivateKey key = ValueOf(PrivateKey::GenerateP256());
  std::string pem = ValueOf(key.ToPem());
  CHECK(absl::StartsWith(pem, "-----BEGIN PRIVATE KEY-----\n"));
  PrivateKey parsed = ValueOf(PrivateKey::FromPem(pem));
  CHECK(ValueOf(parsed.ToPem()) == pem);
  CHECK(EVP_PKEY_eq(parsed.get(), key.get()) == 1);

  std::string pub = ValueOf(key.PublicKeyPem());
  CHECK(absl::StartsWith(pub, "-----BEGIN PUBLIC KEY-----\n"));
  CHECK(pub.find("PRIVATE") == std::string::npos);
  CHECK(ValueOf(parsed.PublicKeyPem()) == pub);

  PrivateKey other = ValueOf(PrivateKey::GenerateP256());
  CHECK(ValueOf(other.ToPem()) != pem);
  CHECK(ValueOf(other.PublicKeyPem()) != pub);
}

TEST_CASE("PrivateKey::FromPem rejects other algorithms and encrypted keys", "[pki]") {
  auto rsa = PrivateKey::FromPem(RawPrivateKeyPem(RawKey("RSA").get()));
  CHECK_FALSE(rsa.ok());
  CHECK(absl::StrContains(StatusText(rsa.status()), "P-256"));
  CHECK_FALSE(PrivateKey::FromPem(RawPrivateKeyPem(RawKey("P-384").get())).ok());

  // An encrypted key must fail, not prompt on the terminal for a passphrase.
  PkeyPtr ec = RawKey("P-256");
  BioPtr bio(BIO_new(BIO_s_mem()));
  char passphrase[] = "hunter2";
  REQUIRE(PEM_write_bio_PKCS8PrivateKey(bio.get(), ec.get(), EVP_aes_256_cbc(), passphrase,
                                        sizeof passphrase - 1, nullptr, nullptr) == 1);
  CHECK_FALSE(PrivateKey::FromPem(BioString(bio.get())).ok());
  CHECK(ERR_peek_error() == 0);
}

TEST_CASE("CSR create, PEM round trip and CommonName", "[pki]") {
  PrivateKey key = ValueOf(PrivateKey::GenerateP256());
  CertificateRequest csr = ValueOf(CertificateRequest::Create(key, "agt_0123456789abcdef"));
  CHECK(csr.CommonName() == "agt_0123456789abcdef");
  std::string pem = ValueOf(csr.ToPem());
  CHECK(absl::StartsWith(pem, "-----BEGIN CERTIFICATE REQUEST-----\n"));
  CertificateRequest parsed = ValueOf(CertificateRequest::FromPem(pem));
  CHECK(parsed.CommonName() == "agt_0123456789abcdef");
  CHECK(ValueOf(parsed.ToPem()) == pem);
  CHECK(EVP_PKEY_eq(X509_REQ_get0_pubkey(parsed.get()), key.get()) == 1);

  CertificateRequest utf8 = ValueOf(CertificateRequest::Create(key, "Zürich-Ωmega"));
  CHECK(ValueOf(CertificateRequest::FromPem(ValueOf(utf8.ToPem()))).CommonName() == "Zürich-Ωmega");

  CHECK_FALSE(CertificateRequest::Create(key, "").ok());
  CHECK_FALSE(CertificateRequest::Create(key, std::string(65, 'a')).ok());
  CHECK(CertificateRequest::Create(key, std::string(64, 'a')).ok());
  CHECK_FALSE(CertificateRequest::Create(key, std::string("a\0b", 3)).ok());
}

TEST_CASE("CSR with a tampered signature is rejected", "[pki]") {
  PrivateKey key = ValueOf(PrivateKey::GenerateP256());
  CertificateRequest csr = ValueOf(CertificateRequest::Create(key, "agt_x"));
  std::string der = CsrDer(csr.get());
  REQUIRE(CertificateRequest::FromPem(DerToPem(der, "CERTIFICATE REQUEST")).ok());

  // The last byte lies inside the ECDSA signature's s value: still well-formed DER.
  std::string bad_sig = der;
  bad_sig.back() ^= 0x01;
  auto parsed = CertificateRequest::FromPem(DerToPem(bad_sig, "CERTIFICATE REQUEST"));
  CHECK_FALSE(parsed.ok());
  CHECK(absl::StrContains(StatusText(parsed.status()), "signature"));
  CHECK(ERR_peek_error() == 0);

  // Changing the signed subject ("agt_x" -> "agt_y") breaks it too.
  std::string bad_subject = der;
  size_t at = bad_subject.find("agt_x");
  REQUIRE(at != std::string::npos);
  bad_subject[at + 4] = 'y';
  CHECK_FALSE(CertificateRequest::FromPem(DerToPem(bad_subject, "CERTIFICATE REQUEST")).ok());
}

TEST_CASE("CSR with a key other than EC P-256 is rejected", "[pki]") {
  PkeyPtr rsa = RawKey("RSA");
  auto from_rsa = CertificateRequest::FromPem(RawCsrPem(rsa.get(), "rsa"));
  CHECK_FALSE(from_rsa.ok());
  CHECK(absl::StrContains(StatusText(from_rsa.status()), "P-256"));

  PkeyPtr p384 = RawKey("P-384");
  CHECK_FALSE(CertificateRequest::FromPem(RawCsrPem(p384.get(), "p384")).ok());

  // The same path accepts a P-256 CSR made outside this library.
  PkeyPtr p256 = RawKey("P-256");
  CHECK(ValueOf(CertificateRequest::FromPem(RawCsrPem(p256.get(), "p256"))).CommonName() == "p256");
}

// A P-256 key whose SubjectPublicKeyInfo spells the curve out as explicit parameters (equal to
// P-256's) instead of naming it. `legacy`: built through EC_GROUP with the
// OPENSSL_EC_EXPLICIT_CURVE flag, as old code would; else through the EC key generator.
PkeyPtr ExplicitCurveP256Key(bool legacy) {
  if (legacy) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    std::unique_ptr<EC_GROUP, FreeWith<EC_GROUP_free>> group(
        EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
    REQUIRE(group);
    EC_GROUP_set_asn1_flag(group.get(), OPENSSL_EC_EXPLICIT_CURVE);
    EC_KEY* ec = EC_KEY_new();
    REQUIRE(ec != nullptr);
    REQUIRE(EC_KEY_set_group(ec, group.get()) == 1);
    REQUIRE(EC_KEY_generate_key(ec) == 1);
    PkeyPtr key(EVP_PKEY_new());
    REQUIRE(EVP_PKEY_assign_EC_KEY(key.get(), ec) == 1);
#pragma GCC diagnostic pop
    return key;
  }
  std::unique_ptr<EVP_PKEY_CTX, FreeWith<EVP_PKEY_CTX_free>> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  REQUIRE(ctx);
  REQUIRE(EVP_PKEY_keygen_init(ctx.get()) == 1);
  char group[] = "P-256";
  char encoding[] = OSSL_PKEY_EC_ENCODING_EXPLICIT;
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, encoding, 0),
      OSSL_PARAM_construct_end()};
  REQUIRE(EVP_PKEY_CTX_set_params(ctx.get(), params) == 1);
  EVP_PKEY* key = nullptr;
  REQUIRE(EVP_PKEY_generate(ctx.get(), &key) == 1);
  return PkeyPtr(key);
}

TEST_CASE("A P-256 key with explicit curve parameters is neither accepted nor certified", "[pki]") {
  TestCa ca = MakeCa();
  for (bool legacy : {true, false}) {
    INFO((legacy ? "EC_GROUP with OPENSSL_EC_EXPLICIT_CURVE" : "keygen with explicit encoding"));
    PkeyPtr key = ExplicitCurveP256Key(legacy);
    const std::string csr_pem = RawCsrPem(key.get(), "agt_explicit");

    // Positive control: OpenSSL reads it as a well-signed P-256 CSR, and the curve reports the
    // name a group-name check looks for. Only the encoding gives it away.
    BioPtr bio(BIO_new_mem_buf(csr_pem.data(), static_cast<int>(csr_pem.size())));
    X509ReqPtr parsed(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
    REQUIRE(parsed);
    EVP_PKEY* parsed_key = X509_REQ_get0_pubkey(parsed.get());
    CHECK(X509_REQ_verify(parsed.get(), parsed_key) == 1);
    char group[64] = {};
    REQUIRE(EVP_PKEY_get_utf8_string_param(parsed_key, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                           sizeof group, nullptr) == 1);
    CHECK(absl::string_view(group) == "prime256v1");
    CHECK(PubkeyDer(parsed_key).size() > 200);  // a named P-256 SPKI is 91 bytes

    auto from_pem = CertificateRequest::FromPem(csr_pem);
    CHECK_FALSE(from_pem.ok());
    CHECK(absl::StrContains(StatusText(from_pem.status()), "explicit parameters"));
    auto issued =
        IssueCertificate(ca.key, ca.cert, key.get(), Options("x", CertificateUse::kClient));
    CHECK_FALSE(issued.ok());
    CHECK(absl::StrContains(StatusText(issued.status()), "named curve"));
    CHECK_FALSE(PrivateKey::FromPem(RawPrivateKeyPem(key.get())).ok());
    CHECK(ERR_peek_error() == 0);
  }
}

TEST_CASE("Self-signed CA", "[pki]") {
  TestCa ca = MakeCa("ovvoc root");
  X509* x = ca.cert.get();
  CHECK(ca.cert.CommonName() == "ovvoc root");
  CHECK(X509_get_version(x) == X509_VERSION_3);
  CHECK(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(x)) == 0);
  CHECK(X509_get_signature_nid(x) == NID_ecdsa_with_SHA256);
  CHECK(ca.cert.NotBefore() == kCaFrom);
  CHECK(ca.cert.NotAfter() == kCaUntil);

  uint32_t flags = X509_get_extension_flags(x);
  CHECK((flags & EXFLAG_CA) != 0);
  CHECK((flags & EXFLAG_SS) != 0);
  CHECK((flags & EXFLAG_XKUSAGE) == 0);  // No extendedKeyUsage on a CA.
  CHECK(ExtensionIsCritical(x, NID_basic_constraints));
  CHECK(ExtensionIsCritical(x, NID_key_usage));
  CHECK(X509_get_key_usage(x) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  CHECK(KeyId(X509_get0_authority_key_id(x)) == KeyId(X509_get0_subject_key_id(x)));
  CHECK(X509_get_ext_by_NID(x, NID_subject_alt_name, -1) < 0);

  CHECK(KeyMatchesCertificate(ca.key, ca.cert));
  CHECK(ca.cert.VerifySignedBy(ca.cert, kNow).ok());
  CHECK(X509_check_ca(x) == 1);
}

TEST_CASE("IssueFromCsr puts DNS, IP and URI names in subjectAltName", "[pki]") {
  TestCa ca = MakeCa();
  PrivateKey key = ValueOf(PrivateKey::GenerateP256());
  CertificateRequest csr = ValueOf(CertificateRequest::Create(key, "name-the-csr-asked-for"));
  IssueOptions options = Options("cp.internal", CertificateUse::kServer);
  options.alt_names.dns = {"cp.example.com", "localhost", "*.agents.example.com"};
  options.alt_names.ips = {"10.1.2.3", "::1", "2001:db8::5", "127.0.0.1"};
  options.alt_names.uris = {"ovvoc://agent/agt_0123456789abcdef"};
  Certificate cert = ValueOf(IssueFromCsr(ca.key, ca.cert, csr, options));

  CHECK(cert.CommonName() == "cp.internal");  // From the options, not the CSR.
  SubjectAltNames names = cert.AltNames();
  CHECK(names.dns == options.alt_names.dns);
  CHECK(names.ips == options.alt_names.ips);
  CHECK(names.uris == options.alt_names.uris);
  CHECK_FALSE(ExtensionIsCritical(cert.get(), NID_subject_alt_name));
  CHECK(X509_check_host(cert.get(), "cp.example.com", 0, 0, nullptr) == 1);
  CHECK(X509_check_ip_asc(cert.get(), "10.1.2.3", 0) == 1);
  CHECK(X509_check_ip_asc(cert.get(), "::1", 0) == 1);
  CHECK(KeyMatchesCertificate(key, cert));
  CHECK(cert.VerifySignedBy(ca.cert, kNow).ok());

  // Only the names given.
  Certificate bare =
      ValueOf(IssueFromCsr(ca.key, ca.cert, csr, Options("x", CertificateUse::kClient)));
  SubjectAltNames none = bare.AltNames();
  CHECK(none.dns.empty());
  CHECK(none.ips.empty());
  CHECK(none.uris.empty());
  CHECK(X509_get_ext_by_NID(bare.get(), NID_subject_alt_name, -1) < 0);
}

TEST_CASE("Issuing rejects malformed names", "[pki]") {
  TestCa ca = MakeCa();
  PrivateKey key = ValueOf(PrivateKey::GenerateP256());
  auto issue = [&](SubjectAltNames names) {
    IssueOptions options = Options("x", CertificateUse::kServer);
    options.alt_names = std::move(names);
    return IssueCertificate(ca.key, ca.cert, key.get(), options).status();
  };
  CHECK_FALSE(issue({.ips = {"999.1.1.1"}}).ok());
  CHECK_FALSE(issue({.ips = {"example.com"}}).ok());
  CHECK_FALSE(issue({.ips = {""}}).ok());
  CHECK_FALSE(issue({.dns = {""}}).ok());
  CHECK_FALSE(issue({.dns = {"a,IP:1.2.3.4"}}).ok());  // no config-string injection
  CHECK_FALSE(issue({.dns = {"bad name"}}).ok());
  CHECK_FALSE(issue({.dns = {std::string("a\0b", 3)}}).ok());
  CHECK_FALSE(issue({.uris = {"ovvoc://a b"}}).ok());
  CHECK_FALSE(issue({.uris = {"ovvoc://\xc3\xa9"}}).ok());
  CHECK(issue({.dns = {"ok.example"}, .ips = {"192.0.2.1"}, .uris = {"ovvoc://x"}}).ok());

  IssueOptions no_cn = Options("", CertificateUse::kClient);
  CHECK_FALSE(IssueCertificate(ca.key, ca.cert, key.get(), no_cn).ok());
}

TEST_CASE("IssueFromCsr ignores extensions the CSR asks for", "[pki]") {
  TestCa ca = MakeCa();
  PkeyPtr raw = RawKey("P-256");
  CertificateRequest csr = ValueOf(
      CertificateRequest::FromPem(RawCsrPem(raw.get(), "greedy", /*greedy_extensions=*/true)));
  Certificate cert =
      ValueOf(IssueFromCsr(ca.key, ca.cert, csr, Options("agt_honest", CertificateUse::kClient)));
  uint32_t flags = X509_get_extension_flags(cert.get());
  CHECK((flags & EXFLAG_CA) == 0);
  CHECK(X509_get_key_usage(cert.get()) == KU_DIGITAL_SIGNATURE);
  CHECK(X509_get_extended_key_usage(cert.get()) == XKU_SSL_CLIENT);
  CHECK(cert.AltNames().dns.empty());
  CHECK(cert.AltNames().ips.empty());
  CHECK(cert.CommonName() == "agt_honest");
  CHECK(X509_get_ext_count(cert.get()) == 5);  // BC, KU, EKU, SKI, AKI
}

TEST_CASE("Server, client and CA certificates carry their usages", "[pki]") {
  TestCa ca = MakeCa();
  PrivateKey key = ValueOf(PrivateKey::GenerateP256());
  Certificate server = IssueFor(ca, key, Options("server", CertificateUse::kServer));
  Certificate client = IssueFor(ca, key, Options("client", CertificateUse::kClient));
  Certificate sub_ca =
      IssueFor(ca, key, Options("intermediate", CertificateUse::kCertificateAuthority));

  for (const Certificate* c : {&server, &client, &sub_ca}) {
    INFO(c->CommonName());
    X509* x = c->get();
    CHECK(X509_get_version(x) == X509_VERSION_3);
    CHECK(X509_get_signature_nid(x) == NID_ecdsa_with_SHA256);
    CHECK((X509_get_extension_flags(x) & EXFLAG_BCONS) != 0);
    CHECK(ExtensionIsCritical(x, NID_basic_constraints));
    CHECK(ExtensionIsCritical(x, NID_key_usage));
    CHECK(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca.cert.get())) == 0);
    CHECK(KeyId(X509_get0_authority_key_id(x)) == KeyId(X509_get0_subject_key_id(ca.cert.get())));
    CHECK(KeyId(X509_get0_subject_key_id(x)).size() > 0);
    CHECK(c->VerifySignedBy(ca.cert, kNow).ok());
  }

  CHECK((X509_get_extension_flags(server.get()) & EXFLAG_CA) == 0);
  CHECK(X509_get_key_usage(server.get()) == KU_DIGITAL_SIGNATURE);
  CHECK(X509_get_extended_key_usage(server.get()) == XKU_SSL_SERVER);
  CHECK_FALSE(ExtensionIsCritical(server.get(), NID_ext_key_usage));

  CHECK((X509_get_extension_flags(client.get()) & EXFLAG_CA) == 0);
  CHECK(X509_get_key_usage(client.get()) == KU_DIGITAL_SIGNATURE);
  CHECK(X509_get_extended_key_usage(client.get()) == XKU_SSL_CLIENT);

  CHECK((X509_get_extension_flags(sub_ca.get()) & EXFLAG_CA) != 0);
  CHECK((X509_get_extension_flags(sub_ca.get()) & EXFLAG_XKUSAGE) == 0);
  CHECK(X509_get_key_usage(sub_ca.get()) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));

  // OpenSSL's verifier agrees, purpose by purpose.
  CHECK(OpenSslVerify(server, {ca.cert}, X509_PURPOSE_SSL_SERVER, kNow) == X509_V_OK);
  CHECK(OpenSslVerify(server, {ca.cert}, X509_PURPOSE_SSL_CLIENT, kNow) ==
        X509_V_ERR_INVALID_PURPOSE);
  CHECK(OpenSslVerify(client, {ca.cert}, X509_PURPOSE_SSL_CLIENT, kNow) == X509_V_OK);
  CHECK(OpenSslVerify(client, {ca.cert}, X509_PURPOSE_SSL_SERVER, kNow) ==
        X509_V_ERR_INVALID_PURPOSE);
  CHECK(X509_check_ca(server.get()) == 0);
  CHECK(X509_check_ca(sub_ca.get()) == 1);
}

TEST_CASE("A leaf cannot issue certificates", "[pki]") {
  TestCa ca = MakeCa();
  PrivateKey leaf_key = ValueOf(PrivateKey::GenerateP256());
  Certificate leaf = IssueFor(ca, leaf_key, Options("leaf", CertificateUse::kServer));
  PrivateKey key = ValueOf(PrivateKey::GenerateP256());
  auto s = IssueCertificate(leaf_key, leaf, key.get(), Options("x", CertificateUse::kClient));
  CHECK(s.status().code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("Issuing checks its inputs", "[pki]") {
  TestCa ca = MakeCa();
  TestCa other = MakeCa("other");
  PrivateKey key = ValueOf(PrivateKey::GenerateP256());
  // CA key that is not the CA certificate's.
  CHECK_FALSE(
      IssueCertificate(other.key, ca.cert, key.get(), Options("x", CertificateUse::kClient)).ok());
  // Empty or inverted validity.
  CHECK_FALSE(IssueCertificate(ca.key, ca.cert, key.get(),
                               Options("x", CertificateUse::kClient, kNow, kNow))
                  .ok());
  CHECK_FALSE(IssueCertificate(ca.key, ca.cert, key.get(),
                               Options("x", CertificateUse::kClient, kNow, kNow - absl::Hours(1)))
                  .ok());
  CHECK_FALSE(IssueCertificate(ca.key, ca.cert, key.get(),
                               Options("x", CertificateUse::kClient, absl::InfinitePast(),
                                       absl::InfiniteFuture()))
                  .ok());
  // Subject keys are P-256 only.
  PkeyPtr rsa = RawKey("RSA");
  CHECK_FALSE(
      IssueCertificate(ca.key, ca.cert, rsa.get(), Options("x", CertificateUse::kClient)).ok());
  CHECK_FALSE(
      IssueCertificate(ca.key, ca.cert, nullptr, Options("x", CertificateUse::kClient)).ok());
  CHECK_FALSE(CreateSelfSignedCa(key, "ca", kNow, kNow).ok());
  CHECK(ERR_peek_error() == 0);
}

TEST_CASE("VerifySignedBy", "[pki]") {
  TestCa ca = MakeCa("ovvoc CA");
  PrivateKey key = ValueOf(PrivateKey::GenerateP256());
  const absl::Time from = kNow - absl::Minutes(5);
  const absl::Time until = kNow + absl::Hours(1);
  Certificate cert = IssueFor(ca, key, Options("agt_x", CertificateUse::kClient, from, until));
  CHECK(cert.NotBefore() == from);
  CHECK(cert.NotAfter() == until);

  SECTION("OK within validity, inclusive at both ends") {
    CHECK(cert.VerifySignedBy(ca.cert, kNow).ok());
    CHECK(cert.VerifySignedBy(ca.cert, from).ok());
    CHECK(cert.VerifySignedBy(ca.cert, until).ok());
  }
  SECTION("fails for a CA with another name") {
    TestCa other = MakeCa("some other CA");
    absl::Status s = cert.VerifySignedBy(other.cert, kNow);
    CHECK(s.code() == absl::StatusCode::kUnauthenticated);
    CHECK(absl::StrContains(s.message(), "not signed by this CA"));
  }
  SECTION("fails for another CA with the same name") {
    TestCa twin = MakeCa("ovvoc CA");
    absl::Status s = cert.VerifySignedBy(twin.cert, kNow);
    CHECK(s.code() == absl::StatusCode::kUnauthenticated);
    CHECK(absl::StrContains(s.message(), "not signed by this CA"));
    CHECK(ERR_peek_error() == 0);
  }
  SECTION("fails when the issuer is not a CA") {
    // A leaf whose subject equals the real CA's subject: names match, basicConstraints do not.
    Certificate impostor = IssueFor(ca, key, Options("ovvoc CA", CertificateUse::kServer));
    absl::Status s = cert.VerifySignedBy(impostor, kNow);
    CHECK(s.code() == absl::StatusCode::kUnauthenticated);
    CHECK(absl::StrContains(s.message(), "not a CA"));
  }
  SECTION("fails when expired") {
    absl::Status s = cert.VerifySignedBy(ca.cert, until + absl::Seconds(1));
    CHECK(s.code() == absl::StatusCode::kUnauthenticated);
    CHECK(absl::StrContains(s.message(), "expired at"));
    CHECK(absl::StrContains(s.message(), "2023-11-14T23:13:20"));
    CHECK_FALSE(cert.VerifySignedBy(ca.cert, kNow + absl::Hours(24 * 365)).ok());
  }
  SECTION("fails when not yet valid") {
    absl::Status s = cert.VerifySignedBy(ca.cert, from - absl::Seconds(1));
    CHECK(s.code() == absl::StatusCode::kUnauthenticated);
    CHECK(absl::StrContains(s.message(), "not yet valid"));
  }
  SECTION("a certificate is only valid under the CA that issued it, not its own issuer's peer") {
    Certificate sub =
        IssueFor(ca, key, Options("intermediate", CertificateUse::kCertificateAuthority));
    PrivateKey leaf_key = ValueOf(PrivateKey::GenerateP256());
    Certificate leaf = ValueOf(
        IssueCertificate(key, sub, leaf_key.get(), Options("leaf", CertificateUse::kServer)));
    CHECK(leaf.VerifySignedBy(sub, kNow).ok());
    CHECK(sub.VerifySignedBy(ca.cert, kNow).ok());
    CHECK_FALSE(leaf.VerifySignedBy(ca.cert, kNow).ok());
  }
}

TEST_CASE("Validity times survive both ASN.1 time forms", "[pki]") {
  // UTCTime until 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5).
  PrivateKey key = ValueOf(PrivateKey::GenerateP256());
  const absl::Time y1990 = absl::FromUnixSeconds(631152000);
  const absl::Time y2070 = absl::FromUnixSeconds(3155760000);
  Certificate ca = ValueOf(CreateSelfSignedCa(key, "long-lived", y1990, y2070));
  CHECK(ca.NotBefore() == y1990);
  CHECK(ca.NotAfter() == y2070);
  CHECK(ValueOf(Certificate::FromPem(ValueOf(ca.ToPem()))).NotAfter() == y2070);
  CHECK(ca.VerifySignedBy(ca, absl::FromUnixSeconds(3000000000)).ok());
  // Sub-second parts are dropped (certificates hold whole seconds).
  Certificate frac = ValueOf(
      CreateSelfSignedCa(key, "frac", kNow + absl::Milliseconds(700), kNow + absl::Hours(1)));
  CHECK(frac.NotBefore() == kNow);
}

TEST_CASE("SpkiSha256", "[pki]") {
  TestCa ca = MakeCa();
  PrivateKey key = ValueOf(PrivateKey::GenerateP256());
  Certificate cert = IssueFor(ca, key, Options("a", CertificateUse::kClient));
  std::string pin = cert.SpkiSha256();
  CHECK(pin.size() == 32);
  CHECK(pin == crypto::Sha256(PubkeyDer(X509_get0_pubkey(cert.get()))));
  // The pin can be computed from the key before any certificate exists.
  CHECK(pin == crypto::Sha256(PubkeyDer(key.get())));

  Certificate reparsed = ValueOf(Certificate::FromPem(ValueOf(cert.ToPem())));
  CHECK(reparsed.SpkiSha256() == pin);
  // Same key, new certificate: same pin.
  CHECK(IssueFor(ca, key, Options("b", CertificateUse::kServer)).SpkiSha256() == pin);
  // Different keys: different pins.
  CHECK(ca.cert.SpkiSha256() != pin);
  PrivateKey other = ValueOf(PrivateKey::GenerateP256());
  CHECK(IssueFor(ca, other, Options("a", CertificateUse::kClient)).SpkiSha256() != pin);
}

TEST_CASE("KeyMatchesCertificate", "[pki]") {
  TestCa ca = MakeCa();
  PrivateKey key = ValueOf(PrivateKey::GenerateP256());
  PrivateKey other = ValueOf(PrivateKey::GenerateP256());
  Certificate cert = IssueFor(ca, key, Options("a", CertificateUse::kClient));
  CHECK(KeyMatchesCertificate(key, cert));
  CHECK(KeyMatchesCertificate(ValueOf(PrivateKey::FromPem(ValueOf(key.ToPem()))), cert));
  CHECK_FALSE(KeyMatchesCertificate(other, cert));
  CHECK_FALSE(KeyMatchesCertificate(ca.key, cert));
  CHECK(KeyMatchesCertificate(ca.key, ca.cert));
}

TEST_CASE("ChainFromPem reads every certificate in order", "[pki]") {
  TestCa ca = MakeCa("root");
  PrivateKey key = ValueOf(PrivateKey::GenerateP256());
  Certificate leaf = IssueFor(ca, key, Options("leaf", CertificateUse::kServer));
  std::string bundle = ValueOf(leaf.ToPem()) + ValueOf(ca.cert.ToPem());

  std::vector<Certificate> chain = ValueOf(Certificate::ChainFromPem(bundle));
  REQUIRE(chain.size() == 2);
  CHECK(chain[0].CommonName() == "leaf");
  CHECK(chain[1].CommonName() == "root");
  CHECK(chain[0].VerifySignedBy(chain[1], kNow).ok());
  CHECK(ERR_peek_error() == 0);

  // Text around the blocks (as in openssl's output with -text) is fine.
  auto annotated = Certificate::ChainFromPem("# leaf\n" + ValueOf(leaf.ToPem()) + "\n# root\n" +
                                             ValueOf(ca.cert.ToPem()) + "trailing words\n");
  REQUIRE(annotated.ok());
  CHECK(annotated->size() == 2);

  CHECK_FALSE(Certificate::ChainFromPem("").ok());
  CHECK_FALSE(Certificate::ChainFromPem("no pem here").ok());
  // A damaged second certificate fails the whole bundle.
  std::string root_pem = ValueOf(ca.cert.ToPem());
  auto truncated =
      Certificate::ChainFromPem(ValueOf(leaf.ToPem()) + root_pem.substr(0, root_pem.size() / 2));
  CHECK_FALSE(truncated.ok());
  CHECK(ERR_peek_error() == 0);
  // FromPem of a bundle takes the first.
  CHECK(ValueOf(Certificate::FromPem(bundle)).CommonName() == "leaf");
}

TEST_CASE("FromDer", "[pki]") {
  TestCa ca = MakeCa();
  PrivateKey key = ValueOf(PrivateKey::GenerateP256());
  Certificate cert = IssueFor(ca, key, Options("der", CertificateUse::kClient));
  std::string der = CertDer(cert.get());
  Certificate parsed = ValueOf(Certificate::FromDer(der));
  CHECK(parsed.CommonName() == "der");
  CHECK(parsed.SerialHex() == cert.SerialHex());
  CHECK(parsed.SpkiSha256() == cert.SpkiSha256());
  CHECK(X509_cmp(parsed.get(), cert.get()) == 0);
  CHECK(ValueOf(parsed.ToPem()) == ValueOf(cert.ToPem()));

  CHECK_FALSE(Certificate::FromDer("").ok());
  CHECK_FALSE(Certificate::FromDer(der.substr(0, der.size() - 1)).ok());
  CHECK_FALSE(Certificate::FromDer(der + "x").ok());
  CHECK_FALSE(Certificate::FromDer(ValueOf(cert.ToPem())).ok());
  CHECK(ERR_peek_error() == 0);
}

TEST_CASE("Serial numbers are random, positive and at most 128 bits", "[pki]") {
  TestCa ca = MakeCa();
  PrivateKey key = ValueOf(PrivateKey::GenerateP256());
  std::set<std::string> serials;
  for (int i = 0; i < 20; ++i) {
    Certificate cert = IssueFor(ca, key, Options("s", CertificateUse::kClient));
    std::string hex = cert.SerialHex();
    INFO(hex);
    CHECK(hex.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(hex.size() <= 32);
    BignumPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr));
    REQUIRE(bn);
    CHECK_FALSE(BN_is_negative(bn.get()));
    CHECK_FALSE(BN_is_zero(bn.get()));
    CHECK(BN_num_bits(bn.get()) <= 128);
    CHECK(BN_num_bits(bn.get()) > 64);  // fails with probability 2^-64
    serials.insert(hex);
  }
  CHECK(serials.size() == 20);
  CHECK(ca.cert.SerialHex() != *serials.begin());
}

TEST_CASE("Malformed PEM gives an error, not a crash", "[pki]") {
  TestCa ca = MakeCa();
  std::string cert_pem = ValueOf(ca.cert.ToPem());
  std::string key_pem = ValueOf(ca.key.ToPem());
  PrivateKey key = ValueOf(PrivateKey::GenerateP256());
  std::string csr_pem = ValueOf(ValueOf(CertificateRequest::Create(key, "x")).ToPem());

  std::vector<std::string> junk = {
      "",
      "garbage",
      std::string("\0\0\0", 3),
      crypto::RandomBytes(512),
      "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
      "-----BEGIN CERTIFICATE-----\nnot*base64!\n-----END CERTIFICATE-----\n",
      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
      "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
      "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
      cert_pem.substr(0, cert_pem.size() / 2),
      key_pem.substr(0, key_pem.size() / 2),
      csr_pem.substr(0, csr_pem.size() / 2),
      cert_pem.substr(0, cert_pem.size() - 10),
  };
  // A body character changed in the middle of each valid PEM.
  for (std::string pem : {cert_pem, key_pem, csr_pem}) {
    pem[pem.size() / 2] = pem[pem.size() / 2] == 'A' ? 'B' : 'A';
    junk.push_back(pem);
  }
  for (size_t i = 0; i < junk.size(); ++i) {
    INFO("junk #" << i);
    const std::string& input = junk[i];
    auto cert = Certificate::FromPem(input);
    auto chain = Certificate::ChainFromPem(input);
    auto csr = CertificateRequest::FromPem(input);
    auto pkey = PrivateKey::FromPem(input);
    auto der = Certificate::FromDer(input);
    // A corrupted body may still decode if the change falls somewhere benign; it must never
    // decode into something that passes as a valid value of another type.
    if (i < junk.size() - 3) {
      CHECK_FALSE(cert.ok());
      CHECK_FALSE(chain.ok());
      CHECK_FALSE(csr.ok());
      CHECK_FALSE(pkey.ok());
    }
    CHECK_FALSE(der.ok());
    CHECK(ERR_peek_error() == 0);
  }
  // A message names the failure and carries OpenSSL's reason.
  auto s = Certificate::FromPem("garbage").status();
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(s.message(), "cannot parse certificate PEM: error:"));
  // The wrong PEM type is not accepted in place of another.
  CHECK_FALSE(Certificate::FromPem(csr_pem).ok());
  CHECK_FALSE(CertificateRequest::FromPem(cert_pem).ok());
  CHECK_FALSE(PrivateKey::FromPem(cert_pem).ok());
}

}  // namespace
}  // namespace ovvoc::pki
