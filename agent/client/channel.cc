#include "agent/client/channel.h"

namespace ovvoc::agent {

std::shared_ptr<grpc::Channel> MakeControlPlaneChannel(const std::string& server,
                                                       const std::string& ca_pem,
                                                       const ChannelIdentity* identity) {
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = ca_pem;
  if (identity != nullptr) {
    tls.pem_private_key = identity->key_pem;
    tls.pem_cert_chain = identity->certificate_pem;
  }
  grpc::ChannelArguments args;
  // Long polls sit idle for up to a minute: keep NATs and proxies from dropping them.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // A channel of its own, never a subchannel shared with an older identity.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 500);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 10'000);
  return grpc::CreateCustomChannel(server, grpc::SslCredentials(tls), args);
}

}  // namespace ovvoc::agent
