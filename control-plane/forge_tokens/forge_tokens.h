// ForgeTokenSource: where the control plane gets the credential a job clones and pushes with.
// Tokens are handed to the agent inside the JobSpec and never stored.
//
// Today: none (public or file:// remotes), or static per-URL-prefix tokens from a 0600 file for
// plain git remotes. Short-lived, repo-scoped GitHub App installation tokens implement the same
// interface in the forge-token issue.
#ifndef OVVOC_CONTROL_PLANE_FORGE_TOKENS_FORGE_TOKENS_H_
#define OVVOC_CONTROL_PLANE_FORGE_TOKENS_FORGE_TOKENS_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "control-plane/store/store.h"
#include "ovvoc/v1/job.pb.h"

namespace ovvoc::cp {

class ForgeTokenSource {
 public:
  virtual ~ForgeTokenSource() = default;
  // A token for exactly `repo`, or nullopt when the repo needs none.
  virtual absl::StatusOr<std::optional<ovvoc::v1::ForgeToken>> TokenFor(const RepoRecord& repo) = 0;
};

std::unique_ptr<ForgeTokenSource> NoForgeTokens();

// Reads lines "URL-PREFIX TOKEN" ('#' starts a comment); the longest matching prefix wins. The
// file must not be readable by group or others.
absl::StatusOr<std::unique_ptr<ForgeTokenSource>> StaticForgeTokens(const std::string& path);

}  // namespace ovvoc::cp

#endif  // OVVOC_CONTROL_PLANE_FORGE_TOKENS_FORGE_TOKENS_H_
