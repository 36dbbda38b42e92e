// A proposal applied in the agent's own copy of the clone, before any npm runs: each manifest
// it changes edited with the smallest byte diff (npm/manifest_edit.h), both pinned to the plan's
// targets (npm's first run, where a range could resolve elsewhere) and as proposed, and written.
#ifndef OVVOC_AGENT_PIPELINE_PROPOSAL_APPLY_H_
#define OVVOC_AGENT_PIPELINE_PROPOSAL_APPLY_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ovvoc/v1/job.pb.h"

namespace ovvoc::agent {

// The lockfiles npm reads, in its order of preference.
inline constexpr const char* kLockfileNames[] = {"npm-shrinkwrap.json", "package-lock.json"};

// A proposal's manifests as the agent writes them, by manifest path ("packages/web/package.json").
struct ProposalManifests {
  std::map<std::string, std::string> pinned;    // each update's range pinned to its target
  std::map<std::string, std::string> proposed;  // each update's range as the plan proposes it
};

// `deps`' edits of the manifests read from `clone`; an error names the manifest it is about.
absl::StatusOr<ProposalManifests> EditManifests(
    const std::string& clone, const std::vector<const ovvoc::v1::PlannedDependency*>& deps);

// Writes `files` (path -> text) beneath `dir`, as the agent's own.
absl::Status WriteManifests(const std::string& dir,
                            const std::map<std::string, std::string>& files);

// The lockfile npm keeps in `dir`: the shrinkwrap over package-lock.json, as npm prefers it.
std::string LockfileName(const std::string& dir);

// "packages/web" for "packages/web/package.json"; "" for the root's.
std::string ManifestDir(absl::string_view manifest_path);

}  // namespace ovvoc::agent

#endif  // OVVOC_AGENT_PIPELINE_PROPOSAL_APPLY_H_
