// Authentication of AgentService calls, in two halves.
//
// Identify() runs on gRPC's thread as a call arrives, before any work is queued: the client
// certificate the caller presented to the TLS front (server/listener.h, which lists it in the
// PeerDirectory) must be one our CA issued, within its validity, naming an agent that
// this process has not seen revoked. It reads no store and writes nothing; a refusal is counted
// in the RefusalLog. So an anonymous flood costs the server a certificate check per call (a
// cache hit for certificates seen before) and never a queue slot, a store write or an fsync.
//
// Admit() is the store half, on the executor: the agent exists, is not revoked, and the
// certificate is its newest one and still valid. The certificate a renewal replaced is accepted
// only until the agent first uses the new one (then it is retired for good), so that a renewal
// whose answer was lost does not lock the agent out. PollReactor applies it again inside the lease's transaction, so a poll parked before
// a revocation or an expiry never leases a job after it. Thread-safe.
#ifndef OVVOC_CONTROL_PLANE_SERVER_AUTH_H_
#define OVVOC_CONTROL_PLANE_SERVER_AUTH_H_

#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "control-plane/ca/authority.h"
#include "control-plane/server/peers.h"
#include "control-plane/server/refusal_log.h"
#include "control-plane/store/store.h"

namespace ovvoc::cp {

class Authenticator {
 public:
  Authenticator(const CertificateAuthority& ca, const PeerDirectory& peers, RefusalLog& refusals,
                const Clock& clock)
      : ca_(ca), peers_(peers), refusals_(refusals), clock_(clock) {}

  // The certificate half. Non-blocking: call on gRPC's thread.
  absl::StatusOr<AgentCertificate> Identify(const grpc::CallbackServerContext& call,
                                            absl::string_view method);

  // The store half: reads the agent, checks it against `cert` (see AdmitAgent) and refreshes
  // its last_seen at most once a minute. Blocking: call on the executor.
  absl::StatusOr<AgentRecord> Admit(const grpc::CallbackServerContext& call,
                                    const AgentCertificate& cert, Store& store,
                                    absl::string_view method);

  // The caller's host ("ipv4:10.0.0.7"), or "unknown" once its connection is gone.
  std::string Host(const grpc::CallbackServerContext& call) const;

  // The agent is refused by Identify() from now on (the store keeps the revocation for good).
  void MarkRevoked(absl::string_view agent_id);

  // Counts a refusal of `call` (anonymous unless `agent_id` is set) and returns `why`. The
  // subject is `subject`, else the agent.
  absl::Status Refuse(const grpc::CallbackServerContext& call, absl::string_view method,
                      absl::string_view agent_id, absl::Status why,
                      absl::string_view action = "auth.refused", absl::string_view subject = {});

 private:
  static constexpr size_t kMaxCachedCertificates = 4096;

  const CertificateAuthority& ca_;
  const PeerDirectory& peers_;
  RefusalLog& refusals_;
  const Clock& clock_;

  absl::Mutex mu_;
  // SHA-256 of a certificate's PEM -> what it says, for certificates the CA verified.
  absl::flat_hash_map<std::string, AgentCertificate> verified_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> revoked_ ABSL_GUARDED_BY(mu_);
};

// What a revoked agent is told, whichever check found it.
absl::Status RevokedError(absl::string_view agent_id);

// Whether `agent` may act with `cert` at `now`: Unauthenticated with the reason if it was
// revoked, the certificate is neither its newest one nor the one that replaced while unused,
// or the certificate has expired.
absl::Status AdmitAgent(const AgentRecord& agent, const AgentCertificate& cert, absl::Time now);

}  // namespace ovvoc::cp

#endif  // OVVOC_CONTROL_PLANE_SERVER_AUTH_H_
