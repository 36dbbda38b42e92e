// Authentication of AgentService calls: the caller's TLS client certificate must be issued by
// our CA, be within its validity, name an enrolled agent, and that agent must not be revoked.
// Checked on every call, so a revocation takes effect at the agent's next call. Every refusal
// is audited. Blocking (store read): call on the executor.
#ifndef OVVOC_CONTROL_PLANE_SERVER_AUTH_H_
#define OVVOC_CONTROL_PLANE_SERVER_AUTH_H_

#include <grpcpp/grpcpp.h>

#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "control-plane/server/context.h"

namespace ovvoc::cp {

absl::StatusOr<AgentRecord> AuthenticateAgent(const grpc::CallbackServerContext& call,
                                              const ServiceContext& ctx, absl::string_view method);

}  // namespace ovvoc::cp

#endif  // OVVOC_CONTROL_PLANE_SERVER_AUTH_H_
