// package.json, as far as dependency updates care: the declared dependencies, in file order.
// Input is untrusted: every malformed shape is an error that names the offending key.
#ifndef OVVOC_AGENT_NPM_MANIFEST_H_
#define OVVOC_AGENT_NPM_MANIFEST_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ovvoc/v1/job.pb.h"

namespace ovvoc::agent::npm {

struct Manifest {
  std::string name;
  std::string version;
  std::vector<ovvoc::v1::Dependency> dependencies;
  std::map<std::string, std::string> scripts;  // "scripts", string values only
};

// `path` names the file in messages and in each Dependency's manifest_path.
absl::StatusOr<Manifest> ParseManifest(absl::string_view text, absl::string_view path);

}  // namespace ovvoc::agent::npm

#endif  // OVVOC_AGENT_NPM_MANIFEST_H_
