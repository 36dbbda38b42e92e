// Gateway: a job's one way to its registries, replacing any network. It listens on 127.0.0.1
// inside the container's network namespace (which has nothing but `lo`); npm reaches it as its
// proxy:
//   - https registries: CONNECT host:port, then TLS that the gateway terminates with a leaf of
//     its own per-gateway CA (gateway_tls.h), then HTTP/1.1 requests; the TLS SNI and every
//     Host header must name the CONNECTed registry;
//   - http registries: absolute-form requests ("GET http://host:port/path"), Host checked.
// Only reads pass (endpoint.h: GET/HEAD of packuments and tarballs under a registry's path).
// Everything else is refused with 403/405, recorded as a refused GatewayEvent (the job makes it
// a finding) and the connection is closed without reading a body. The gateway never relays
// bytes from the container upstream: it makes its own requests (client.h), with the registry's
// credentials, which therefore never enter the container.
//
// Two modes:
//   kResolve  (npm runs with --ignore-scripts: no dependency code) packuments and tarballs are
//             fetched upstream as npm asks for them.
//   kScript   (dependency code runs) nothing goes upstream: only the tarballs named in
//             `tarballs` (fetched and checked by the agent beforehand) and cached packuments
//             of `packages` are served; any other read is refused like a write.
//
// Threads: one accept thread and one per client connection. Close() (also the destructor)
// stops listening, cuts every connection, abandons upstream requests in flight and joins all
// threads. Events() and the rest of the public methods are thread-safe.
#ifndef OVVOC_AGENT_REGISTRY_GATEWAY_H_
#define OVVOC_AGENT_REGISTRY_GATEWAY_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/registry/client.h"
#include "agent/registry/endpoint.h"
#include "agent/registry/gateway_tls.h"
#include "agent/registry/integrity.h"
#include "common/clock.h"
#include "common/unique_fd.h"

namespace ovvoc::agent::registry {

enum class GatewayMode { kResolve, kScript };

struct GatewayOptions {
  std::vector<RegistryEndpoint> registries;
  GatewayMode mode = GatewayMode::kResolve;
  // Tarballs by URL ("https://host/path/name/-/name-1.0.0.tgz", RegistryEndpoint::origin() +
  // path) and the integrity they must have. Script mode serves these only; resolve mode checks
  // and caches these, and passes others through unchecked.
  std::map<std::string, Integrity> tarballs;
  // Script mode: packages ("name", "@scope/name") whose cached packuments may be served.
  std::set<std::string> packages;
  int max_connections = 64;  // concurrent client connections; more get 503
  absl::Duration idle_timeout = absl::Seconds(120);
  // From a request's first byte (or a tunnel's TLS handshake) to the end of its head: a client
  // that trickles bytes to hold connections open is cut off here, whatever the idle timeout.
  absl::Duration request_head_timeout = absl::Seconds(30);
  // Events kept; later ones only counted, so a container hammering the gateway cannot grow the
  // agent's memory or flood its log.
  size_t max_events = 10000;
};

struct GatewayEvent {
  absl::Time time;
  std::string method;  // "" when none was read
  std::string host;    // "" when none was parsed
  int port = 0;
  std::string path;  // PathForReport(): no query, bounded
  // A request that is not a read of a configured registry (or, in script mode, not of what the
  // lockfile names): the job reports it as blocked egress.
  bool refused = false;
  // A read the gateway could not serve (the registry failed, lied, or had no such package).
  bool failed = false;
  std::string reason;  // why refused or failed
  uint64_t bytes = 0;  // body bytes served to the container
};

class Gateway {
 public:
  // Listens on 127.0.0.1 (a kernel-chosen port) inside the network namespace at `netns_path`
  // (empty: the caller's own). `client` and `clock` must outlive the gateway.
  static absl::StatusOr<std::unique_ptr<Gateway>> Start(GatewayOptions options,
                                                        RegistryClient& client,
                                                        const Clock& clock,
                                                        const std::string& netns_path);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  int port() const { return port_; }
  // The CA the container must trust (its npm cafile) for https registries.
  const std::string& ca_pem() const { return tls_->ca_pem(); }

  // Idempotent. After it returns, nothing of the gateway listens in the namespace.
  void Close() ABSL_LOCKS_EXCLUDED(close_mu_);

  std::vector<GatewayEvent> Events() const ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t DroppedEvents() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Worker;
  class Connection;

  Gateway(GatewayOptions options, RegistryClient& client, const Clock& clock,
          std::unique_ptr<GatewayTls> tls, UniqueFd listener, UniqueFd stop, int port);

  void AcceptLoop();
  void ReapWorkers(bool all);
  void AddEvent(GatewayEvent event) ABSL_LOCKS_EXCLUDED(mu_);
  bool stopping() const { return stopping_.load(); }

  // Immutable after construction.
  const GatewayOptions options_;
  RegistryClient& client_;
  const Clock& clock_;
  const std::unique_ptr<GatewayTls> tls_;
  const int port_;
  const UniqueFd stop_fd_;  // eventfd, readable once Close() begins

  UniqueFd listener_;          // closed by Close() after the accept thread is joined
  std::thread accept_thread_;  // started by Start(), joined by Close()
  std::atomic<bool> stopping_{false};
  std::atomic<int> active_connections_{0};
  // Owned by the accept thread; Close() touches it only after joining that thread.
  std::vector<std::unique_ptr<Worker>> workers_;

  absl::Mutex close_mu_;
  bool closed_ ABSL_GUARDED_BY(close_mu_) = false;

  mutable absl::Mutex mu_;
  std::set<int> client_fds_ ABSL_GUARDED_BY(mu_);  // open connections, cut by Close()
  std::vector<GatewayEvent> events_ ABSL_GUARDED_BY(mu_);
  uint64_t dropped_events_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace ovvoc::agent::registry

#endif  // OVVOC_AGENT_REGISTRY_GATEWAY_H_
