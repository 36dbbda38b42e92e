// The admin CLI's connection to a running control plane: gRPC over DATA_DIR/admin.sock.
#ifndef OVVOC_CONTROL_PLANE_CLI_ADMIN_CLIENT_H_
#define OVVOC_CONTROL_PLANE_CLI_ADMIN_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "ovvoc/v1/admin.grpc.pb.h"

namespace ovvoc::cp {

class AdminClient {
 public:
  explicit AdminClient(const std::string& data_dir);

  // Calls `method` with a 30 s deadline. A control plane that is not running becomes an
  // Unavailable status that says how to start it.
  template <typename Request, typename Response>
  absl::Status Call(grpc::Status (ovvoc::v1::AdminService::Stub::*method)(grpc::ClientContext*,
                                                                          const Request&,
                                                                          Response*),
                    const Request& request, Response& response);

 private:
  absl::Status Translate(const grpc::Status& status) const;

  std::string data_dir_;
  std::string socket_;
  std::unique_ptr<ovvoc::v1::AdminService::Stub> stub_;
};

template <typename Request, typename Response>
absl::Status AdminClient::Call(grpc::Status (ovvoc::v1::AdminService::Stub::*method)(
                                   grpc::ClientContext*, const Request&, Response*),
                               const Request& request, Response& response) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return Translate(((*stub_).*method)(&context, request, &response));
}

}  // namespace ovvoc::cp

#endif  // OVVOC_CONTROL_PLANE_CLI_ADMIN_CLIENT_H_
