// absl::Status <-> grpc::Status at the RPC edge. The codes map one to one.
#ifndef OVVOC_COMMON_GRPC_STATUS_H_
#define OVVOC_COMMON_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace ovvoc {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace ovvoc

#endif  // OVVOC_COMMON_GRPC_STATUS_H_
