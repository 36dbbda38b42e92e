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
// threads. Events() and the rest of the public methods are thread-safe. Nothing a client sends
// ends the agent: an exception while serving a connection fails that request (a failed event,
// "internal error serving the request: ...") and closes that connection only.
//
// The log names the first kLoggedRequests refused or failed requests of each gateway, one line
// each; Close() logs how many more it did not name. Events() keeps them (up to max_events).
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
#include "agent/registry/gateway_events.h"
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
  // agent's memory (nor its log: only the first Gateway::kLoggedRequests are logged).
  size_t max_events = 10000;
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

  // Refused or failed requests the log names, per gateway.
  static constexpr int kLoggedRequests = 20;

  int port() const { return port_; }
  // The CA the container must trust (its npm cafile) for https registries.
  const std::string& ca_pem() const { return tls_->ca_pem(); }

  // Idempotent. After it returns, nothing of the gateway listens in the namespace.
  void Close() ABSL_LOCKS_EXCLUDED(close_mu_);

  std::vector<GatewayEvent> Events() const ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t DroppedEvents() const ABSL_LOCKS_EXCLUDED(mu_);
  // Resolve mode: the packages whose packuments it served (what the job's npm read with no
  // dependency code running), all of them, however many events were dropped.
  std::set<std::string> ServedPackuments() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Worker;
  class Connection;

  Gateway(GatewayOptions options, RegistryClient& client, const Clock& clock,
          std::unique_ptr<GatewayTls> tls, UniqueFd listener, UniqueFd stop, int port);

  void AcceptLoop();
  // Answers 503 and records a failed event: no connection is served for `fd`.
  void TurnAway(int fd, std::string reason);
  // Serves `client` on a thread of its own (turned away when there is none to be had).
  void StartWorker(UniqueFd client);
  void ServeConnection(Worker& worker);
  void ReapWorkers(bool all);
  void AddEvent(GatewayEvent event) ABSL_LOCKS_EXCLUDED(mu_);
  void NotePackument(const std::string& package) ABSL_LOCKS_EXCLUDED(mu_);
  // Whether a warning about one request may be logged (the first kLoggedRequests may); else it
  // is counted, as refused or failed, for Close() to sum up.
  bool MayLog(bool refused) ABSL_LOCKS_EXCLUDED(mu_);
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
  std::set<std::string> served_packuments_ ABSL_GUARDED_BY(mu_);
  int logged_requests_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t unlogged_refused_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t unlogged_failed_ ABSL_GUARDED_BY(mu_) = 0;
};


}  // namespace ovvoc::agent::registry

#endif  // OVVOC_AGENT_REGISTRY_GATEWAY_H_
