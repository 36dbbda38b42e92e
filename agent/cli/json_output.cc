#include "agent/cli/json_output.h"

#include <google/protobuf/util/json_util.h>

#include <cstdio>

#include "common/files.h"

namespace ovvoc::agent::cli {

absl::Status WriteJson(const google::protobuf::Message& message, const std::string& path) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  if (path == "-") {
    std::printf("%s\n", json.c_str());
    return absl::OkStatus();
  }
  return files::WriteFileAtomic(path, json, 0644);
}

}  // namespace ovvoc::agent::cli
