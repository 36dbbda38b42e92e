// AdminService: operator commands, served only on DATA_DIR/admin.sock. Every mutating call is
// audited with actor "admin".
#ifndef OVVOC_CONTROL_PLANE_SERVER_ADMIN_SERVICE_H_
#define OVVOC_CONTROL_PLANE_SERVER_ADMIN_SERVICE_H_

#include "control-plane/server/context.h"
#include "ovvoc/v1/admin.grpc.pb.h"

namespace ovvoc::cp {

class AdminServiceImpl final : public ovvoc::v1::AdminService::CallbackService {
 public:
  explicit AdminServiceImpl(const ServiceContext& ctx) : ctx_(ctx) {}

  grpc::ServerUnaryReactor* CreateOrg(grpc::CallbackServerContext* call,
                                      const ovvoc::v1::CreateOrgRequest* request,
                                      ovvoc::v1::Org* response) override;
  grpc::ServerUnaryReactor* ListOrgs(grpc::CallbackServerContext* call,
                                     const ovvoc::v1::ListOrgsRequest* request,
                                     ovvoc::v1::ListOrgsResponse* response) override;
  grpc::ServerUnaryReactor* CreateEnrollmentToken(
      grpc::CallbackServerContext* call, const ovvoc::v1::CreateEnrollmentTokenRequest* request,
      ovvoc::v1::CreateEnrollmentTokenResponse* response) override;
  grpc::ServerUnaryReactor* AddRepo(grpc::CallbackServerContext* call,
                                    const ovvoc::v1::AddRepoRequest* request,
                                    ovvoc::v1::Repo* response) override;
  grpc::ServerUnaryReactor* ListRepos(grpc::CallbackServerContext* call,
                                      const ovvoc::v1::ListReposRequest* request,
                                      ovvoc::v1::ListReposResponse* response) override;
  grpc::ServerUnaryReactor* CreateJob(grpc::CallbackServerContext* call,
                                      const ovvoc::v1::CreateJobRequest* request,
                                      ovvoc::v1::Job* response) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* call,
                                   const ovvoc::v1::GetJobRequest* request,
                                   ovvoc::v1::Job* response) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* call,
                                     const ovvoc::v1::ListJobsRequest* request,
                                     ovvoc::v1::ListJobsResponse* response) override;
  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* call,
                                      const ovvoc::v1::CancelJobRequest* request,
                                      ovvoc::v1::Job* response) override;
  grpc::ServerUnaryReactor* ListAgents(grpc::CallbackServerContext* call,
                                       const ovvoc::v1::ListAgentsRequest* request,
                                       ovvoc::v1::ListAgentsResponse* response) override;
  grpc::ServerUnaryReactor* RevokeAgent(grpc::CallbackServerContext* call,
                                        const ovvoc::v1::RevokeAgentRequest* request,
                                        ovvoc::v1::Agent* response) override;

 private:
  absl::Status DoCreateOrg(const ovvoc::v1::CreateOrgRequest& request, ovvoc::v1::Org& response);
  absl::Status DoCreateToken(const ovvoc::v1::CreateEnrollmentTokenRequest& request,
                             ovvoc::v1::CreateEnrollmentTokenResponse& response);
  absl::Status DoAddRepo(const ovvoc::v1::AddRepoRequest& request, ovvoc::v1::Repo& response);
  absl::Status DoCreateJob(const ovvoc::v1::CreateJobRequest& request, ovvoc::v1::Job& response);
  absl::Status DoListJobs(const ovvoc::v1::ListJobsRequest& request,
                          ovvoc::v1::ListJobsResponse& response);
  absl::Status DoCancelJob(const ovvoc::v1::CancelJobRequest& request, ovvoc::v1::Job& response);
  absl::Status DoRevokeAgent(const ovvoc::v1::RevokeAgentRequest& request,
                             ovvoc::v1::Agent& response);
  // Fills `out` from `job`, looking up its repo's URL and its org's name.
  absl::Status FillJob(const JobRecord& job, ovvoc::v1::Job& out);
  // The org named `name`, or a NotFound that says how to create it.
  absl::StatusOr<OrgRecord> OrgNamed(const std::string& name);

  const ServiceContext& ctx_;
};

}  // namespace ovvoc::cp

#endif  // OVVOC_CONTROL_PLANE_SERVER_ADMIN_SERVICE_H_
