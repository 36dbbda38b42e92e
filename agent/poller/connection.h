// Connection: the agent's authenticated link to the control plane. Hands out stubs for the
// current certificate and renews the certificate at half its life: a fresh key, a CSR over the
// current channel, then a new channel for the new identity. Calls already in flight finish on
// the old channel. Certificate validity and renewal times go by the clock it was opened with.
// Thread-safe.
#ifndef OVVOC_AGENT_POLLER_CONNECTION_H_
#define OVVOC_AGENT_POLLER_CONNECTION_H_

#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/config/config.h"
#include "common/clock.h"
#include "ovvoc/v1/agent.grpc.pb.h"

namespace ovvoc::agent {

class Connection {
 public:
  // Fails when the stored certificate has expired (with how to re-register) or is unreadable.
  // `clock` must outlive the connection.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(ConfigDir config, AgentIdentity identity,
                                                          const Clock& clock);

  std::shared_ptr<ovvoc::v1::AgentService::Stub> stub() const ABSL_LOCKS_EXCLUDED(mu_);
  const AgentIdentity& identity() const { return identity_; }

  // Halfway between when the current certificate was taken into use and when it expires: at
  // half-life for a fresh certificate, sooner for one loaded late in its life.
  absl::Time RenewalDue() const ABSL_LOCKS_EXCLUDED(mu_);
  absl::Time CertificateExpires() const ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Renew() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  Connection(ConfigDir config, AgentIdentity identity, const Clock& clock)
      : config_(std::move(config)), identity_(std::move(identity)), clock_(clock) {}
  // Replaces the stub for `key_pem`/`cert_pem` and records the certificate's validity.
  absl::Status Adopt(const std::string& key_pem, const std::string& cert_pem)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ConfigDir config_;
  const AgentIdentity identity_;  // as loaded; key and certificate may be superseded
  const Clock& clock_;

  mutable absl::Mutex mu_;
  std::shared_ptr<ovvoc::v1::AgentService::Stub> stub_ ABSL_GUARDED_BY(mu_);
  absl::Time adopted_at_ ABSL_GUARDED_BY(mu_);
  absl::Time not_after_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ovvoc::agent

#endif  // OVVOC_AGENT_POLLER_CONNECTION_H_
