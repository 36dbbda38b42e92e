// A passing baseline, remembered: a later job of the same repository whose project is unchanged
// (the same commit, lockfile, image, commands and limits) takes the earlier job's outcome instead
// of installing, building and testing the unmodified project again, and proves its proposals
// against it. The memo (job.proto's BaselineMemo) carries what proposals are held to: the
// baseline's commands and test counts, its findings, the files its build changed, the paths its
// install and build made and what they left in node_modules. Metadata only.
//
// The control plane keeps the newest memo per repository and sends it in the JobSpec;
// `ovvoc-agent update` keeps one per repository in its state dir. Either way a memo is used only
// by a job whose own key, computed by the agent from what it cloned and chose, is the memo's.
#ifndef OVVOC_AGENT_PIPELINE_BASELINE_MEMO_H_
#define OVVOC_AGENT_PIPELINE_BASELINE_MEMO_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/pipeline/pipeline.h"
#include "agent/pipeline/sandbox_session.h"
#include "agent/workspace/installed.h"
#include "common/job_text.h"
#include "ovvoc/v1/job.pb.h"

namespace ovvoc::agent {

// What decides a baseline's outcome, as BaselineKey() gathers it from a job.
struct BaselineInputs {
  std::string commit;
  std::string manifest;
  std::optional<std::string> npmrc;
  std::map<std::string, std::string> lockfiles;  // name -> bytes: package-lock.json, shrinkwrap
  std::string image;                             // "sha256:<hex>"
  std::string backend;                           // "oci", "docker"
  std::string node;                              // "24.11.1"
  int npm_major = 0;                             // 0: the image's own npm
  std::vector<std::string> commands;             // install, build, test, as results show them
  std::vector<std::string> registries;           // "<scope> <url>", the job's
  sandbox::Limits limits;
};

// The running binary's GNU build ID, hex ("" when it has none): it changes with any change to
// the agent's code.
std::string AgentBuildId();

// sha256 (hex) over every input, each named and length-prefixed, and the agent's version and
// build (its GNU build ID: any change to the agent's code is another key).
std::string BaselineKeyOf(const BaselineInputs& inputs);

// The key of the baseline `job` is about to run (after the plan phase, when its node, npm and
// commands are chosen): sha256 (hex) over the agent's version, the head commit, the manifest,
// lockfile and .npmrc bytes as cloned, the sandbox backend, the image's digest, node and npm, the
// install, build and test commands, the registries and the limits. FailedPrecondition saying why
// there is none: a project without a lockfile (what npm resolves for it changes with the registry),
// an image whose identity the agent does not know.
absl::StatusOr<std::string> BaselineKey(const JobContext& job, const SandboxSettings& settings);

// When job.spec()'s memo has `key`: its outcome stands in the result and the project where the
// baseline's run would have put it (result().baseline(), its findings and advice,
// result().baseline_reused(); ClonedProject's build_changes, install/build_added, installed
// trees), and true. Else false, and nothing changed.
bool TakeBaselineMemo(JobContext& job, const std::string& key);

// The memo of `job`'s baseline, which has just passed its tests: nullopt when it may not be
// remembered (a high-severity finding: code that did something hostile runs again; bigger than
// kMaxBaselineMemoBytes, common/job_text.h). `advice_from` is the index of the first advice the
// baseline's own runs gave (the plan's come before it).
std::optional<ovvoc::v1::BaselineMemo> MakeBaselineMemo(const JobContext& job,
                                                        const std::string& key, int advice_from);

// The key of a proposal as planned (`planned`: its group, manifest dir, branch and updates, not
// yet run) against the baseline of key `baseline_key`.
std::string ProposalKey(const std::string& baseline_key, const ovvoc::v1::ProposalResult& planned);

// What the job's memo says proposal `key` came to, when the job's baseline is the memo's
// (job.memo().reused) and the outcome may stand: failed by the project's own build or tests or
// by the findings (not cut short, not the registry's doing), or passed with the lockfile its
// branch holds, the job writing branches and that branch still at the commit the memo names
// (a pass is a pass of that lockfile: resolving the update again may bring other transitive
// versions). Each result with proven_by_job set. Empty: the proposal is proven again.
std::vector<ovvoc::v1::ProposalResult> TakeProvenProposal(const JobContext& job,
                                                          const std::string& key);

// The outcomes of this job's proposals become its memo's (`proven`: one per proposal run or
// taken, in order), when the job has a memo to leave: the one its baseline made, or the one it
// took (its baseline unchanged). Outcomes that may not stand again are left out, and each
// result is bounded as the control plane stores it; the memo stays within
// kMaxBaselineMemoBytes, or leaves proposals out.
void RememberProposals(JobContext& job, std::vector<ovvoc::v1::ProvenProposal> proven);

ovvoc::v1::InstalledFingerprints FingerprintsOf(const InstalledTree& tree);
InstalledTree InstalledTreeOf(const ovvoc::v1::InstalledFingerprints& proto);

// `update`'s memos: one file per repository under `dir` (the state dir's "baselines"), named by
// the sha256 of its URL. Load returns an empty memo when there is none or it cannot be read (a
// memo is an optimisation: the baseline then runs); Save replaces it atomically.
ovvoc::v1::BaselineMemo LoadBaselineMemo(const std::string& dir, const std::string& repo_url);
absl::Status SaveBaselineMemo(const std::string& dir, const std::string& repo_url,
                              const ovvoc::v1::BaselineMemo& memo);

}  // namespace ovvoc::agent

#endif  // OVVOC_AGENT_PIPELINE_BASELINE_MEMO_H_
