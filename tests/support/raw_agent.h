// RawAgent: an agent made of nothing but the protocol, for tests and benchmarks that must say
// things the real `ovvoc-agent` never would (hostile ids, thousands of polls, floods). Enrolls
// over gRPC with a fresh P-256 key, then calls AgentService with that identity on a TLS
// connection of its own. Test support only.
#ifndef OVVOC_TESTS_SUPPORT_RAW_AGENT_H_
#define OVVOC_TESTS_SUPPORT_RAW_AGENT_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "ovvoc/v1/agent.grpc.pb.h"

namespace ovvoc::testing {

struct RawAgent {
  std::string id;
  std::string key_pem;
  std::string certificate_pem;
  std::string ca_pem;
  std::string address;

  // Enrolls with `token` (from `enroll-token create`) at `address`, trusting `ca_pem`.
  static absl::StatusOr<RawAgent> Enroll(const std::string& address, const std::string& ca_pem,
                                         const std::string& token,
                                         const std::string& hostname = "raw-agent");

  // A stub on a new TLS connection (never shared with another channel) with this identity.
  std::unique_ptr<ovvoc::v1::AgentService::Stub> NewStub() const;
};

// A stub on a new TLS connection that presents no client certificate.
std::unique_ptr<ovvoc::v1::AgentService::Stub> AnonymousStub(const std::string& address,
                                                             const std::string& ca_pem);

// A client context whose deadline is `seconds` from now.
std::unique_ptr<grpc::ClientContext> ContextWithDeadline(double seconds);

}  // namespace ovvoc::testing

#endif  // OVVOC_TESTS_SUPPORT_RAW_AGENT_H_
