#include "control-plane/server/auth.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/logging.h"
#include "nlohmann/json.hpp"

namespace ovvoc::cp {
namespace {

absl::Status Refuse(const grpc::CallbackServerContext& call, const ServiceContext& ctx,
                    absl::string_view method, absl::string_view agent_id, absl::Status why) {
  nlohmann::json details = {{"method", method}, {"peer", call.peer()}, {"reason", why.message()}};
  std::string actor =
      agent_id.empty() ? absl::StrCat("anonymous@", call.peer()) : absl::StrCat("agent:", agent_id);
  ctx.audit.Record({actor, "auth.refused", std::string(agent_id), details});
  log::Warning("refused %s from %s: %s", method, call.peer(), why.message());
  return why;
}

}  // namespace

absl::StatusOr<AgentRecord> AuthenticateAgent(const grpc::CallbackServerContext& call,
                                              const ServiceContext& ctx, absl::string_view method) {
  std::shared_ptr<const grpc::AuthContext> auth = call.auth_context();
  std::vector<grpc::string_ref> pems =
      auth ? auth->FindPropertyValues("x509_pem_cert") : std::vector<grpc::string_ref>{};
  if (pems.empty()) {
    return Refuse(call, ctx, method, "",
                  absl::UnauthenticatedError(
                      "a client certificate is required; enroll with `ovvoc-agent register`"));
  }
  const absl::Time now = ctx.clock.Now();
  absl::StatusOr<std::string> agent_id =
      ctx.ca.VerifyAgentCertificate(absl::string_view(pems[0].data(), pems[0].size()), now);
  if (!agent_id.ok()) return Refuse(call, ctx, method, "", agent_id.status());

  absl::StatusOr<AgentRecord> agent = ctx.store.GetAgent(*agent_id);
  if (absl::IsNotFound(agent.status())) {
    return Refuse(call, ctx, method, *agent_id,
                  absl::UnauthenticatedError(absl::StrCat("unknown agent ", *agent_id)));
  }
  if (!agent.ok()) return agent.status();
  if (agent->revoked) {
    return Refuse(call, ctx, method, *agent_id,
                  absl::UnauthenticatedError(absl::StrCat(
                      "agent ", *agent_id, " was revoked; register again with a new token")));
  }
  // last_seen is for humans: write it at most once a minute per agent.
  if (now - agent->last_seen_at > absl::Minutes(1)) {
    absl::StatusOr<AgentRecord> touched = ctx.store.UpdateAgent(*agent_id, [&](AgentRecord& a) {
      a.last_seen_at = now;
      return absl::OkStatus();
    });
    if (touched.ok()) agent = *std::move(touched);
  }
  return agent;
}

}  // namespace ovvoc::cp
