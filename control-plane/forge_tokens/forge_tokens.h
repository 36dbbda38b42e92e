// ForgeTokenSource: where the control plane gets the credential a job clones and pushes with.
// Tokens are handed to the agent inside the JobSpec and never stored.
//
// Today: none (public or file:// remotes), or static per-org, per-URL-prefix tokens from a 0600
// file for plain git remotes. Short-lived, repo-scoped GitHub App installation tokens implement
// the same interface in the forge-token issue.
//
// A credential belongs to an org: a repository of one org never receives another org's token,
// whatever its URL says. Implementations are immutable after construction; any thread may call
// TokenFor.
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
  // A token for exactly `repo` of `org` (the org that owns it), or nullopt when the repo needs
  // none.
  virtual absl::StatusOr<std::optional<ovvoc::v1::ForgeToken>> TokenFor(const OrgRecord& org,
                                                                        const RepoRecord& repo) = 0;
};

std::unique_ptr<ForgeTokenSource> NoForgeTokens();

// Reads lines "ORG URL-PREFIX TOKEN" (blank lines and lines starting with '#' are skipped):
//
//   acme  https://git.example.com/acme       tok-acme
//   acme  https://git.example.com/shared/web tok-acme-web
//
// ORG is an org name; URL-PREFIX is parsed by ParseRepoUrl (common/repo_url.h). A repo gets the
// token of the longest prefix, in whole path segments (RepoUrl::HasPrefix), among the entries of
// its own org; the entries of other orgs never match. InvalidArgument, naming PATH:LINE, for a
// malformed line, an old two-field "URL-PREFIX TOKEN" line, a prefix that does not parse, or
// the same ORG and prefix twice. PermissionDenied when the file is readable by group or others.
//
// TokenFor parses the repo's stored URL again. A URL stored before repo URLs were checked may
// not parse: when the repo's org has entries, TokenFor then fails with FailedPrecondition (the
// job is aborted with that reason) rather than guess.
absl::StatusOr<std::unique_ptr<ForgeTokenSource>> StaticForgeTokens(const std::string& path);

}  // namespace ovvoc::cp

#endif  // OVVOC_CONTROL_PLANE_FORGE_TOKENS_FORGE_TOKENS_H_
