// PollReactor: one PollJob call. Identifies the caller on gRPC's thread (Authenticator), counts
// it against the agent's cap of polls, authenticates against the store, tries to lease a job
// for the agent's org and pool, and if there is none parks in the Dispatcher until work
// arrives, the hold ends, the agent is revoked, the client goes away or the server shuts down.
// The lease itself re-admits the agent in the store's transaction (revoked, certificate
// replaced or expired since the poll arrived: no job).
//
// Lifetime: reference-counted. gRPC holds one reference until OnDone(); every queued executor
// task and every parked Dispatcher waiter holds another. So code running in a task may touch
// `this` even after Reply() finished the call.
#ifndef OVVOC_CONTROL_PLANE_SERVER_POLL_REACTOR_H_
#define OVVOC_CONTROL_PLANE_SERVER_POLL_REACTOR_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "control-plane/server/context.h"
#include "ovvoc/v1/agent.pb.h"

namespace ovvoc::cp {

class PollReactor final : public grpc::ServerUnaryReactor {
 public:
  // Starts the call; the reactor is owned by gRPC from here on.
  static PollReactor* Start(const ServiceContext& ctx, grpc::CallbackServerContext* call,
                            const ovvoc::v1::PollJobRequest* request,
                            ovvoc::v1::PollJobResponse* response);

  void OnCancel() override;
  void OnDone() override;

 private:
  PollReactor(const ServiceContext& ctx, grpc::CallbackServerContext* call,
              ovvoc::v1::PollJobResponse* response)
      : ctx_(ctx), call_(call), response_(response) {}

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
  // Runs `method` on the executor under a reference; replies "busy" if the queue is full.
  void Post(void (PollReactor::*method)());
  void Begin();  // on gRPC's thread

  // Each of these runs on the executor.
  void Authenticate();
  void TryLease();
  void OnWake(Dispatcher::Wake wake);

  void Park(uint64_t generation);
  bool cancelled() const;
  // Finishes the call once; nothing may touch `this` afterwards.
  void Reply(const absl::Status& status);

  const ServiceContext& ctx_;
  grpc::CallbackServerContext* const call_;
  ovvoc::v1::PollJobResponse* const response_;
  AgentCertificate cert_;        // set by Begin(), then read-only
  bool counted_ = false;         // set by Begin(): the poll holds one of the agent's slots
  AgentRecord agent_;            // set by Authenticate(), then read-only
  absl::Time hold_until_;

  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<Dispatcher::WaiterId> waiter_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> finished_{false};
  std::atomic<int> refs_{1};
};

}  // namespace ovvoc::cp

#endif  // OVVOC_CONTROL_PLANE_SERVER_POLL_REACTOR_H_
