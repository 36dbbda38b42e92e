// The proposals phase (DESIGN.md §4, phases 6-7): after the baseline passed, each of the plan's
// proposals is applied and proven in a fresh container of its own, and recorded as a
// ProposalResult beside the baseline.
//
// Apply: the agent edits each manifest the proposal touches, in its own copy of the clone, with
// the smallest byte diff (npm/manifest_edit.h). npm then regenerates the lockfile in the
// sandbox with --ignore-scripts, through the gateway in resolve mode, in two runs: first with
// every updated dependency pinned to its exact target (so that a newer version the plan refused,
// held by a cooldown or deprecated, cannot be what a widened range resolves to), then with the
// manifests as proposed (npm keeps the locked versions, which satisfy them, and writes the new
// ranges into the lockfile). The agent verifies the result (npm/lockfile_diff.h) and keeps its
// own copy of manifests and lockfile: what an install script does to them afterwards never
// reaches a branch.
//
// Prove: `npm ci` with scripts (script mode), build and test, as the baseline ran them. Gates,
// each a failed proposal when broken: the lockfile verifies, the install passes, every build and
// test that passed in the baseline passes, and no egress is attempted and no high-severity
// finding raised (tampering) that the baseline did not. A failed proposal never fails the job.
#ifndef OVVOC_AGENT_PIPELINE_PROPOSALS_H_
#define OVVOC_AGENT_PIPELINE_PROPOSALS_H_

#include <memory>
#include <string>
#include <vector>

#include "agent/pipeline/pipeline.h"
#include "agent/pipeline/sandbox_session.h"
#include "ovvoc/v1/job.pb.h"

namespace ovvoc::agent {

// The proposals phase, to run after the baseline's phases: it tears `baseline`'s container down
// before the first proposal's starts.
std::unique_ptr<Phase> MakeProposalsPhase(const SandboxSettings& settings,
                                          std::shared_ptr<SandboxSession> baseline);

// The branch a proposal's commit goes to, as Dependabot names its own
// ("dependabot/npm_and_yarn/<dir>/<name>-<version>"): "ovvoc/npm/lodash-4.17.21" for the root,
// "ovvoc/npm/packages-web/lodash-4.17.21" for another directory, and for a group its name and
// a short hash of what it updates ("ovvoc/npm/dev-tools-3f2a1b9c"). Only characters git allows
// in a ref.
std::string ProposalBranch(const ovvoc::v1::ProposalResult& proposal);

}  // namespace ovvoc::agent

#endif  // OVVOC_AGENT_PIPELINE_PROPOSALS_H_
