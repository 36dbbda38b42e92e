// GatewayTls: the TLS a registry gateway terminates for one job. A fresh CA is made for each
// gateway and its key never leaves the agent's memory; it issues one leaf per https registry
// host. The container trusts that CA alone (npm's cafile), so the container holds no key that
// works anywhere else, and what it trusts is worthless once the gateway closes.
#ifndef OVVOC_AGENT_REGISTRY_GATEWAY_TLS_H_
#define OVVOC_AGENT_REGISTRY_GATEWAY_TLS_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace ovvoc::agent::registry {

class GatewayTls {
 public:
  // A CA valid from `now` (less a little skew) for a day, and a leaf for each of `hosts`
  // (NormalizeHost() form: names or IP literals).
  static absl::StatusOr<std::unique_ptr<GatewayTls>> Create(const std::vector<std::string>& hosts,
                                                            absl::Time now);
  ~GatewayTls();
  GatewayTls(const GatewayTls&) = delete;
  GatewayTls& operator=(const GatewayTls&) = delete;

  // The CA certificate, for the container's npm configuration.
  const std::string& ca_pem() const { return ca_pem_; }
  // A server context presenting `host`'s leaf; null for a host it has none for. Owned here.
  SSL_CTX* ContextFor(absl::string_view host) const;

 private:
  GatewayTls() = default;
  std::string ca_pem_;
  std::map<std::string, SSL_CTX*, std::less<>> contexts_;
};

}  // namespace ovvoc::agent::registry

#endif  // OVVOC_AGENT_REGISTRY_GATEWAY_TLS_H_
