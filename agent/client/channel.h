// The agent's gRPC channel to the control plane: TLS 1.3, trusting only the control plane's CA,
// presenting the agent's certificate when it has one.
#ifndef OVVOC_AGENT_CLIENT_CHANNEL_H_
#define OVVOC_AGENT_CLIENT_CHANNEL_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

namespace ovvoc::agent {

struct ChannelIdentity {
  std::string key_pem;
  std::string certificate_pem;
};

std::shared_ptr<grpc::Channel> MakeControlPlaneChannel(const std::string& server,
                                                       const std::string& ca_pem,
                                                       const ChannelIdentity* identity);

}  // namespace ovvoc::agent

#endif  // OVVOC_AGENT_CLIENT_CHANNEL_H_
