// ServiceContext: what the gRPC services share. Everything in it outlives the services.
#ifndef OVVOC_CONTROL_PLANE_SERVER_CONTEXT_H_
#define OVVOC_CONTROL_PLANE_SERVER_CONTEXT_H_

#include <grpcpp/grpcpp.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/executor.h"
#include "common/grpc_status.h"
#include "control-plane/audit/audit.h"
#include "control-plane/ca/authority.h"
#include "control-plane/forge_tokens/forge_tokens.h"
#include "control-plane/server/auth.h"
#include "control-plane/server/call_limiter.h"
#include "control-plane/server/dispatcher.h"
#include "control-plane/server/options.h"
#include "control-plane/store/store.h"

namespace ovvoc::cp {

struct ServiceContext {
  const ServerOptions& options;
  Store& store;
  const CertificateAuthority& ca;
  AuditLog& audit;
  Dispatcher& dispatcher;
  // Authenticated agents' and admins' work. Anonymous callers never reach it.
  Executor& executor;
  // Enroll's store work: anonymous by nature, so it has a small queue of its own.
  Executor& enroll_executor;
  ForgeTokenSource& forge_tokens;
  const Clock& clock;
  Authenticator& auth;
  CallLimiter& agent_calls;  // an agent's unary calls queued or running
  CallLimiter& agent_polls;  // an agent's PollJob calls, parked or not
  CallLimiter& enroll_hosts; // Enroll calls queued or running, per caller host
};

inline absl::Status ServerBusy() {
  return absl::ResourceExhaustedError("the control plane is busy; retry in a moment");
}

// Runs `work` (returning absl::Status) on `executor` and finishes the call with its status:
// the shape of every unary handler that touches the store. A full queue refuses at once.
template <typename Work>
grpc::ServerUnaryReactor* FinishOnExecutor(grpc::CallbackServerContext* context, Executor& executor,
                                           Work work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!executor.Post(
          [reactor, work = std::move(work)]() mutable { reactor->Finish(ToGrpcStatus(work())); })) {
    reactor->Finish(ToGrpcStatus(ServerBusy()));
  }
  return reactor;
}

// An authenticated agent's unary call: identifies the caller on gRPC's thread (refusing at
// once, with no queued work, if the certificate does not name one of our agents), admits no
// more than the per-agent cap, then runs `work(certificate)` on the executor.
template <typename Work>
grpc::ServerUnaryReactor* FinishAgentCall(grpc::CallbackServerContext* call,
                                          const ServiceContext& ctx, absl::string_view method,
                                          Work work) {
  grpc::ServerUnaryReactor* reactor = call->DefaultReactor();
  absl::StatusOr<AgentCertificate> cert = ctx.auth.Identify(*call, method);
  if (!cert.ok()) {
    reactor->Finish(ToGrpcStatus(cert.status()));
    return reactor;
  }
  if (!ctx.agent_calls.TryEnter(cert->agent_id)) {
    reactor->Finish(ToGrpcStatus(ctx.auth.Refuse(
        *call, method, cert->agent_id,
        absl::ResourceExhaustedError(absl::StrCat("agent ", cert->agent_id, " has ",
                                                  ctx.agent_calls.max_per_agent(),
                                                  " calls in progress already")),
        "agent.calls.refused")));
    return reactor;
  }
  const std::string agent_id = cert->agent_id;
  if (!ctx.executor.Post([reactor, &ctx, cert = *std::move(cert), work = std::move(work)]() mutable {
        absl::Status status = work(cert);
        ctx.agent_calls.Leave(cert.agent_id);
        reactor->Finish(ToGrpcStatus(status));
      })) {
    ctx.agent_calls.Leave(agent_id);
    reactor->Finish(ToGrpcStatus(ServerBusy()));
  }
  return reactor;
}

}  // namespace ovvoc::cp

#endif  // OVVOC_CONTROL_PLANE_SERVER_CONTEXT_H_
