#include "agent/registry/gateway_tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "agent/registry/address_policy.h"
#include "common/pki.h"
#include "common/status_macros.h"

namespace ovvoc::agent::registry {
namespace {

absl::Status OpenSslError(absl::string_view what) {
  char text[256] = {0};
  ERR_error_string_n(ERR_get_error(), text, sizeof(text));
  ERR_clear_error();
  return absl::InternalError(absl::StrCat(what, ": ", text));
}

absl::StatusOr<SSL_CTX*> ServerContext(const pki::PrivateKey& key, const pki::Certificate& leaf,
                                       const pki::Certificate& ca) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return OpenSslError("SSL_CTX_new");
  auto fail = [ctx](absl::string_view what) {
    absl::Status status = OpenSslError(what);
    SSL_CTX_free(ctx);
    return status;
  };
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (SSL_CTX_use_certificate(ctx, leaf.get()) != 1) return fail("SSL_CTX_use_certificate");
  if (SSL_CTX_add1_chain_cert(ctx, ca.get()) != 1) return fail("SSL_CTX_add1_chain_cert");
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1) return fail("SSL_CTX_use_PrivateKey");
  if (SSL_CTX_check_private_key(ctx) != 1) return fail("SSL_CTX_check_private_key");
  return ctx;
}

}  // namespace

absl::StatusOr<std::unique_ptr<GatewayTls>> GatewayTls::Create(
    const std::vector<std::string>& hosts, absl::Time now) {
  const absl::Time not_before = now - absl::Minutes(5);
  const absl::Time not_after = now + absl::Hours(24);
  OVVOC_ASSIGN_OR_RETURN(pki::PrivateKey ca_key, pki::PrivateKey::GenerateP256());
  OVVOC_ASSIGN_OR_RETURN(
      pki::Certificate ca,
      pki::CreateSelfSignedCa(ca_key, "ovvoc job registry gateway (one job only)", not_before,
                              not_after));
  auto tls = absl::WrapUnique(new GatewayTls());
  OVVOC_ASSIGN_OR_RETURN(tls->ca_pem_, ca.ToPem());
  for (const std::string& host : hosts) {
    if (tls->contexts_.count(host) > 0) continue;
    OVVOC_ASSIGN_OR_RETURN(pki::PrivateKey key, pki::PrivateKey::GenerateP256());
    pki::IssueOptions options;
    options.common_name = host;
    options.use = pki::CertificateUse::kServer;
    options.not_before = not_before;
    options.not_after = not_after;
    if (IpAddress::Parse(host)) {
      options.alt_names.ips.push_back(host);
      // npm's proxy agent opens TLS through the tunnel without a servername for an IP host, and
      // node then checks the certificate against "localhost" (ERR_TLS_CERT_ALTNAME_INVALID).
      // Naming it too costs nothing: this CA is trusted by one container, whose localhost is
      // the gateway itself.
      options.alt_names.dns.push_back("localhost");
    } else {
      options.alt_names.dns.push_back(host);
    }
    OVVOC_ASSIGN_OR_RETURN(pki::Certificate leaf,
                           pki::IssueCertificate(ca_key, ca, key.get(), options));
    OVVOC_ASSIGN_OR_RETURN(SSL_CTX * ctx, ServerContext(key, leaf, ca));
    tls->contexts_.emplace(host, ctx);
  }
  return tls;
}

GatewayTls::~GatewayTls() {
  for (auto& [host, ctx] : contexts_) SSL_CTX_free(ctx);
}

SSL_CTX* GatewayTls::ContextFor(absl::string_view host) const {
  auto it = contexts_.find(host);
  return it == contexts_.end() ? nullptr : it->second;
}

}  // namespace ovvoc::agent::registry
