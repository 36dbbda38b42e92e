// How agent commands write a message as JSON for programs: `--json FILE`, "-" for stdout.
#ifndef OVVOC_AGENT_CLI_JSON_OUTPUT_H_
#define OVVOC_AGENT_CLI_JSON_OUTPUT_H_

#include <google/protobuf/message.h>

#include <string>

#include "absl/status/status.h"

namespace ovvoc::agent::cli {

// Proto field names (snake_case), indented; written atomically unless `path` is "-".
absl::Status WriteJson(const google::protobuf::Message& message, const std::string& path);

}  // namespace ovvoc::agent::cli

#endif  // OVVOC_AGENT_CLI_JSON_OUTPUT_H_
