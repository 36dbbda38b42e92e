// ServiceContext: what the gRPC services share. Everything in it outlives the services.
#ifndef OVVOC_CONTROL_PLANE_SERVER_CONTEXT_H_
#define OVVOC_CONTROL_PLANE_SERVER_CONTEXT_H_

#include <grpcpp/grpcpp.h>

#include <utility>

#include "common/clock.h"
#include "common/executor.h"
#include "common/grpc_status.h"
#include "control-plane/audit/audit.h"
#include "control-plane/ca/authority.h"
#include "control-plane/forge_tokens/forge_tokens.h"
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
  Executor& executor;
  ForgeTokenSource& forge_tokens;
  const Clock& clock;
};

// Runs `work` (returning absl::Status) on the executor and finishes the call with its status:
// the shape of every unary handler that touches the store.
template <typename Work>
grpc::ServerUnaryReactor* FinishOnExecutor(grpc::CallbackServerContext* context, Executor& executor,
                                           Work work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  executor.Post(
      [reactor, work = std::move(work)]() mutable { reactor->Finish(ToGrpcStatus(work())); });
  return reactor;
}

}  // namespace ovvoc::cp

#endif  // OVVOC_CONTROL_PLANE_SERVER_CONTEXT_H_
