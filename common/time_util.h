// Conversions between absl time types and google.protobuf Timestamp/Duration.
#ifndef OVVOC_COMMON_TIME_UTIL_H_
#define OVVOC_COMMON_TIME_UTIL_H_

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>

#include "absl/time/time.h"

namespace ovvoc {

google::protobuf::Timestamp ToProto(absl::Time t);
google::protobuf::Duration ToProto(absl::Duration d);
absl::Time FromProto(const google::protobuf::Timestamp& t);
absl::Duration FromProto(const google::protobuf::Duration& d);

// RFC 3339 in UTC with seconds, "2026-11-28T20:30:00Z"; "-" for the infinite past.
std::string Rfc3339(absl::Time t);

}  // namespace ovvoc

#endif  // OVVOC_COMMON_TIME_UTIL_H_
