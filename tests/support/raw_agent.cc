#include "tests/support/raw_agent.h"

#include <atomic>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/pki.h"
#include "common/status_macros.h"

namespace ovvoc::testing {
namespace {

std::unique_ptr<ovvoc::v1::AgentService::Stub> StubWith(const std::string& address,
                                                        const std::string& ca_pem,
                                                        const std::string& key_pem,
                                                        const std::string& cert_pem) {
  static std::atomic<int> channel_number{0};
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = ca_pem;
  tls.pem_private_key = key_pem;
  tls.pem_cert_chain = cert_pem;
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);              // a connection per channel
  args.SetInt("ovvoc.test.channel", channel_number.fetch_add(1));  // and no channel sharing
  return ovvoc::v1::AgentService::NewStub(
      grpc::CreateCustomChannel(address, grpc::SslCredentials(tls), args));
}

}  // namespace

absl::StatusOr<RawAgent> RawAgent::Enroll(const std::string& address, const std::string& ca_pem,
                                          const std::string& token, const std::string& hostname) {
  OVVOC_ASSIGN_OR_RETURN(pki::PrivateKey key, pki::PrivateKey::GenerateP256());
  OVVOC_ASSIGN_OR_RETURN(pki::CertificateRequest csr, pki::CertificateRequest::Create(key, "raw"));
  ovvoc::v1::EnrollRequest request;
  request.set_token(token);
  OVVOC_ASSIGN_OR_RETURN(*request.mutable_csr_pem(), csr.ToPem());
  request.set_hostname(hostname);
  request.set_agent_version("raw");
  ovvoc::v1::EnrollResponse response;
  auto context = ContextWithDeadline(20);
  OVVOC_RETURN_IF_ERROR(
      FromGrpcStatus(AnonymousStub(address, ca_pem)->Enroll(context.get(), request, &response)));
  RawAgent agent;
  agent.id = response.agent_id();
  OVVOC_ASSIGN_OR_RETURN(agent.key_pem, key.ToPem());
  agent.certificate_pem = response.certificate_pem();
  agent.ca_pem = ca_pem;
  agent.address = address;
  return agent;
}

std::unique_ptr<ovvoc::v1::AgentService::Stub> RawAgent::NewStub() const {
  return StubWith(address, ca_pem, key_pem, certificate_pem);
}

std::unique_ptr<ovvoc::v1::AgentService::Stub> AnonymousStub(const std::string& address,
                                                             const std::string& ca_pem) {
  return StubWith(address, ca_pem, "", "");
}

std::unique_ptr<grpc::ClientContext> ContextWithDeadline(double seconds) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6)));
  return context;
}

}  // namespace ovvoc::testing
