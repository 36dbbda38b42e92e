// EgressProxy: the container's only way out, open during the install phase only.
//
// It listens on 127.0.0.1 inside the container's network namespace (which has nothing but
// `lo`), and dials out from the agent's own namespace, only to the job's registries:
//   - HTTP CONNECT host:port (tunnels, for https) and plain-HTTP proxying of absolute-form
//     requests (one request per client connection, forwarded with "Connection: close");
//   - host AND port must match an allowed endpoint; the host is resolved here, EVERY address
//     is checked against private, loopback, link-local, metadata, documentation and reserved
//     ranges (address_policy.h) unless the endpoint has allow_internal, and the checked
//     address itself is dialled (no second lookup to rebind);
//   - limits: concurrent connections (503 beyond), total bytes over all tunnels (then every
//     tunnel is cut), connect and idle timeouts;
//   - every allowed and refused attempt is kept as an EgressEvent and logged.
// Close() (also the destructor) stops listening and tears every tunnel down, so that nothing
// of the proxy remains reachable from the container.
//
// Threads: one accept thread, one per client connection, and for Start() into another
// namespace a short-lived thread that enters it to create the listening socket. No other
// thread's namespace is ever changed. All public methods are thread-safe.
#ifndef OVVOC_AGENT_REGISTRY_EGRESS_PROXY_H_
#define OVVOC_AGENT_REGISTRY_EGRESS_PROXY_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/unique_fd.h"

namespace ovvoc::agent::registry {

// One allowed destination.
struct EgressEndpoint {
  std::string host;  // hostname or IP literal, compared case-insensitively
  int port = 443;
  // May resolve to private/loopback/link-local addresses (tests' local registry).
  bool allow_internal = false;
};

struct EgressPolicy {
  std::vector<EgressEndpoint> allowed;
  int max_connections = 64;               // concurrent client connections; more get 503
  uint64_t max_total_bytes = 4ull << 30;  // both directions, all tunnels; then tunnels are cut
  absl::Duration connect_timeout = absl::Seconds(15);
  absl::Duration idle_timeout = absl::Seconds(120);  // also bounds reading the request head
  // Events kept (and logged one by one); later attempts are only counted: a container
  // hammering the proxy must not grow the agent's memory or flood its log.
  size_t max_events = 10000;
};

struct EgressEvent {
  absl::Time time;
  std::string method;  // "CONNECT", "GET", ...; "" when none was read
  std::string host;    // normalized; "" when none was parsed
  int port = 0;
  bool allowed = false;  // the policy let it through (the dial may still have failed)
  // Refusals: "host not allowed", "resolves to a non-public address 10.0.0.5 (private
  // 10.0.0.0/8)", ...; allowed attempts: "" or how they failed ("connect failed: ...").
  std::string reason;
  std::string address;  // the address dialled, when allowed ("93.184.216.34:443", "[::1]:80")
  bool connected = false;  // allowed, and the destination accepted the connection
  uint64_t bytes_up = 0, bytes_down = 0;  // updated when the connection ends
};

class EgressProxy {
 public:
  // Listens on 127.0.0.1:`port` (0: the kernel picks) inside the network namespace at
  // `netns_path` (e.g. "/proc/1234/ns/net"); empty: the caller's own namespace. Outbound
  // connections are made in the caller's namespace.
  static absl::StatusOr<std::unique_ptr<EgressProxy>> Start(EgressPolicy policy,
                                                            const std::string& netns_path,
                                                            int port = 0);
  ~EgressProxy();
  EgressProxy(const EgressProxy&) = delete;
  EgressProxy& operator=(const EgressProxy&) = delete;

  int port() const { return port_; }

  // Stops listening, tears down every connection, joins all threads. Idempotent. After it
  // returns, nothing of the proxy listens in that namespace. May wait for a DNS lookup in
  // flight (bounded by the resolver's own timeouts).
  void Close() ABSL_LOCKS_EXCLUDED(close_mu_);

  // Every allowed and refused attempt so far, in order.
  std::vector<EgressEvent> Events() const ABSL_LOCKS_EXCLUDED(mu_);
  // Attempts beyond policy.max_events, not kept in Events().
  uint64_t DroppedEvents() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Worker;
  class Connection;

  EgressProxy(EgressPolicy policy, UniqueFd listener, UniqueFd stop, UniqueFd budget, int port);

  void AcceptLoop();
  void ReapWorkers(bool all);
  void RefuseBusy(UniqueFd client);
  static constexpr size_t kNoEvent = ~size_t{0};

  // Stamps, logs and keeps `event`; its index, or kNoEvent once max_events are kept.
  size_t AddEvent(EgressEvent event) ABSL_LOCKS_EXCLUDED(mu_);
  void UpdateAddress(size_t index, absl::string_view address, bool connected)
      ABSL_LOCKS_EXCLUDED(mu_);
  void FinishEvent(size_t index, absl::string_view reason, uint64_t up, uint64_t down)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Reserves `n` bytes of the total budget; false (and every tunnel is cut) once exhausted.
  bool ChargeBytes(uint64_t n);
  bool budget_exhausted() const;

  // Immutable after construction.
  const EgressPolicy policy_;  // endpoint hosts normalized
  const int port_;
  const UniqueFd stop_fd_;    // eventfd, readable once Close() begins: every poll() watches it
  const UniqueFd budget_fd_;  // eventfd, readable once the byte budget is spent: tunnels watch it

  UniqueFd listener_;          // closed by Close() after the accept thread is joined
  std::thread accept_thread_;  // started by Start(), joined by Close()
  std::atomic<uint64_t> total_bytes_{0};
  std::atomic<int> active_connections_{0};
  // Owned by the accept thread; Close() touches it only after joining that thread.
  std::vector<std::unique_ptr<Worker>> workers_;

  absl::Mutex close_mu_;
  bool closed_ ABSL_GUARDED_BY(close_mu_) = false;

  mutable absl::Mutex mu_;
  std::vector<EgressEvent> events_ ABSL_GUARDED_BY(mu_);
  uint64_t dropped_events_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace ovvoc::agent::registry

#endif  // OVVOC_AGENT_REGISTRY_EGRESS_PROXY_H_
