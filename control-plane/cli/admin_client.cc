#include "control-plane/cli/admin_client.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/grpc_status.h"
#include "control-plane/server/convert.h"

namespace ovvoc::cp {
namespace {

// The largest answer is `job list` at its longest: kMaxListedJobs summaries of at most
// kMaxJobSummaryBytes (control-plane/server/convert.h), each with its tag and length. gRPC's
// default (4 MiB) is below that; it once held fewer than two whole results an agent chose.
constexpr int kMaxAnswerBytes = 64 << 20;
static_assert(size_t{kMaxListedJobs} * (kMaxJobSummaryBytes + 8) <= size_t{kMaxAnswerBytes});

}  // namespace

AdminClient::AdminClient(const std::string& data_dir)
    : data_dir_(data_dir), socket_(data_dir + "/admin.sock") {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxAnswerBytes);
  stub_ = ovvoc::v1::AdminService::NewStub(grpc::CreateCustomChannel(
      absl::StrCat("unix:", socket_), grpc::InsecureChannelCredentials(), args));
}

absl::Status AdminClient::Translate(const grpc::Status& status) const {
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    if (!files::Exists(socket_)) {
      return absl::UnavailableError(absl::StrCat(
          "no control plane is serving ", data_dir_, " (", socket_,
          " is missing); start one with `ovvoc-control-plane serve --data-dir ", data_dir_, "`"));
    }
    return absl::UnavailableError(
        absl::StrCat("cannot reach the control plane at ", socket_, ": ", status.error_message()));
  }
  return FromGrpcStatus(status);
}

}  // namespace ovvoc::cp
