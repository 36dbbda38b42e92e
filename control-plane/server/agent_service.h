// AgentService over the callback API: handlers post their store work to the executor, and an
// idle PollJob waits in the Dispatcher holding no thread.
#ifndef OVVOC_CONTROL_PLANE_SERVER_AGENT_SERVICE_H_
#define OVVOC_CONTROL_PLANE_SERVER_AGENT_SERVICE_H_

#include "common/enrollment_token.h"
#include "control-plane/server/context.h"
#include "ovvoc/v1/agent.grpc.pb.h"

namespace ovvoc::cp {

class AgentServiceImpl final : public ovvoc::v1::AgentService::CallbackService {
 public:
  explicit AgentServiceImpl(const ServiceContext& ctx) : ctx_(ctx) {}

  grpc::ServerUnaryReactor* Enroll(grpc::CallbackServerContext* call,
                                   const ovvoc::v1::EnrollRequest* request,
                                   ovvoc::v1::EnrollResponse* response) override;
  grpc::ServerUnaryReactor* RenewCertificate(
      grpc::CallbackServerContext* call, const ovvoc::v1::RenewCertificateRequest* request,
      ovvoc::v1::RenewCertificateResponse* response) override;
  grpc::ServerUnaryReactor* PollJob(grpc::CallbackServerContext* call,
                                    const ovvoc::v1::PollJobRequest* request,
                                    ovvoc::v1::PollJobResponse* response) override;
  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* call,
                                      const ovvoc::v1::HeartbeatRequest* request,
                                      ovvoc::v1::HeartbeatResponse* response) override;
  grpc::ServerUnaryReactor* ReportResult(grpc::CallbackServerContext* call,
                                         const ovvoc::v1::ReportResultRequest* request,
                                         ovvoc::v1::ReportResultResponse* response) override;
  grpc::ServerUnaryReactor* ReleaseJob(grpc::CallbackServerContext* call,
                                       const ovvoc::v1::ReleaseJobRequest* request,
                                       ovvoc::v1::ReleaseJobResponse* response) override;

 private:
  absl::Status DoEnroll(const grpc::CallbackServerContext& call, const EnrollmentToken& token,
                        const ovvoc::v1::EnrollRequest& request,
                        ovvoc::v1::EnrollResponse& response);
  absl::Status DoRenew(const grpc::CallbackServerContext& call, const AgentCertificate& caller,
                       const ovvoc::v1::RenewCertificateRequest& request,
                       ovvoc::v1::RenewCertificateResponse& response);
  absl::Status DoHeartbeat(const grpc::CallbackServerContext& call, const AgentCertificate& caller,
                           const ovvoc::v1::HeartbeatRequest& request,
                           ovvoc::v1::HeartbeatResponse& response);
  absl::Status DoReport(const grpc::CallbackServerContext& call, const AgentCertificate& caller,
                        const ovvoc::v1::ReportResultRequest& request,
                        ovvoc::v1::ReportResultResponse& response);
  absl::Status DoRelease(const grpc::CallbackServerContext& call, const AgentCertificate& caller,
                         const ovvoc::v1::ReleaseJobRequest& request);
  // InvalidArgument, before the store is touched, for an id NewId("job") could not have made.
  absl::Status CheckJobId(const grpc::CallbackServerContext& call, const AgentRecord& agent,
                          absl::string_view method, absl::string_view job_id);

  const ServiceContext& ctx_;
};

}  // namespace ovvoc::cp

#endif  // OVVOC_CONTROL_PLANE_SERVER_AGENT_SERVICE_H_
