// One trial of a project: its commands (lockfile, install, build, test) run in one
// SandboxSession and recorded in one ovvoc::v1::Trial. The baseline's phases and each proposal
// run their commands through here, so that both are judged by the same rules: what the tree must
// hold before build and test, what an install may not change, how a failure reads.
#ifndef OVVOC_AGENT_PIPELINE_TRIAL_H_
#define OVVOC_AGENT_PIPELINE_TRIAL_H_

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "agent/pipeline/pipeline.h"
#include "agent/pipeline/sandbox_session.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "ovvoc/v1/job.pb.h"

namespace ovvoc::agent {

enum class TrialStep { kLockfile, kInstall, kBuild, kTest };

// "lockfile", "install", "build", "test": the phase names results and timings use.
const char* StepName(TrialStep step);

// Where a trial records what happened. Not owned; all must outlive the call.
struct TrialRecord {
  ovvoc::v1::Trial* trial = nullptr;
  // A failing command's termination and excerpt (its reason is the returned status's message).
  ovvoc::v1::FailureReport* failure = nullptr;
  google::protobuf::RepeatedPtrField<ovvoc::v1::SecurityFinding>* findings = nullptr;
  // The package.json and .npmrc build and test must see: what the agent read or wrote before any
  // dependency code ran (the clone's, or a proposal's manifest).
  const std::string* manifest = nullptr;
  const std::optional<std::string>* npmrc = nullptr;
  // A proposal's trial, judged against the baseline's: its build may change the repository's
  // files the baseline's build changed (job.project().build_changes) and no others.
  bool proposal = false;
  // A proposal's updated packages (their names as the manifest declares them): what the root
  // project's own install scripts may run in their new versions (`prepare: husky install`).
  std::vector<std::string> updated;
  // A proposal's: the paths its install made that the baseline's did not (already reported),
  // which its build is not held to again. Not owned; set by the install step.
  std::set<std::string>* install_made = nullptr;
};

// The project's own command for `step` (job.project(): the repository as cloned and its
// `.ovvoc.yml`); empty when there is nothing to run (no build script, no lockfile to make).
std::vector<std::string> ProjectCommand(const JobContext& job, TrialStep step);

// Runs `argv` as `step` in `session` and records it. OK when it passed, or when `argv` is empty
// (recorded as skipped). Otherwise an error whose message is the failure's one-line reason, with
// `record.failure`'s termination, exit code and excerpt set. Before build and test the tree's
// package.json and .npmrc are put back as `record` has them (a finding when they were changed);
// after a passing install every file of the session's source tree is put back (a finding names
// what the install changed). After a passing build, the baseline's records what its build
// changed of the source tree (job.project().build_changes), and a proposal's gets back every
// other file its build changed before the tests see it (a finding names them): the build runs
// dependency code too (a bundler's plugin, a code generator), which could otherwise rewrite a
// test into passing.
absl::Status RunTrialStep(JobContext& job, SandboxSession& session, TrialStep step,
                          std::vector<std::string> argv, const TrialRecord& record);

// The command as results show it: a `.ovvoc.yml` script as its lines, else its argv.
std::string DisplayCommand(const std::vector<std::string>& argv);

}  // namespace ovvoc::agent

#endif  // OVVOC_AGENT_PIPELINE_TRIAL_H_
