// The update job as a sequence of phases. Each phase reads and extends a JobContext; the
// pipeline times them, stops at the first failure or a cancel, and turns the outcome into a
// JobResult. Later phases (resolve, sandboxed install/build/test, score, push) slot in here.
#ifndef OVVOC_AGENT_PIPELINE_PIPELINE_H_
#define OVVOC_AGENT_PIPELINE_PIPELINE_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/git/git.h"
#include "agent/sandbox/sandbox.h"
#include "agent/workspace/installed.h"
#include "common/clock.h"
#include "ovvoc/v1/job.pb.h"

namespace ovvoc::agent {

struct SandboxSettings;  // sandbox_session.h

// What jobs run with, all of it the agent's and none of it the job's: how they tell time, clone,
// and run code. One per agent, shared by its jobs; tests build their own.
struct JobEnv {
  const Clock* clock = &Clock::Real();
  git::Cloner* git = &git::Libgit2();
  // How jobs run their code. Null or without a backend: a job fails after reading the
  // manifest, since nothing can be proven without a sandbox.
  const SandboxSettings* sandbox = nullptr;
  // Clone file:// and plain-path remotes. Off by default: a job must not be able to make the
  // agent read repositories that merely sit on its own disk.
  bool allow_file_remotes = false;
  // One-shot mode's `--policy FILE` (agent/npm/policy.h): replaces the repository's policy.
  std::string policy_file;
  // Where each passing proposal is committed, on its branch (agent/git/branch.h): one-shot
  // mode's local repository, which holds the job's head commit. Unset: no commits.
  struct Branches {
    std::string repo_dir;
    std::string author_name;
    std::string author_email;
  };
  std::optional<Branches> branches;
};

// What the job read from the repository as cloned, before any code of it or of its dependencies
// ran. Later phases decide from this (which commands to run, what the manifest must say),
// never from the work tree after an install script could have rewritten it.
struct ClonedProject {
  std::string manifest;  // package.json, byte for byte
  // The project's .npmrc, if it has one: npm reads how to run scripts from it too
  // (script-shell, node-options).
  std::optional<std::string> npmrc;
  std::map<std::string, std::string> scripts;  // package.json's, string values only
  std::string build_script;   // scripts.build; "" when there is none
  std::string test_script;    // scripts.test; "" when there is none
  bool has_lockfile = false;  // package-lock.json or npm-shrinkwrap.json, a regular file
  // Without one: the package-lock.json the baseline's lockfile phase made (npm with
  // --ignore-scripts, before any dependency code ran), where proposals start from.
  std::optional<std::string> made_lockfile;
  // The repository's own files the baseline's build changed (generated sources, a committed
  // dist/): what a proposal's build may change too (trial.h).
  std::vector<std::string> build_changes;
  // The paths outside node_modules the baseline's install, then its build, made (AddedBeneath:
  // a hook dir, dist/ and what they hold): what a proposal's may make too. False `*_whole`: the
  // list stopped at its bound, and proposals are not held to it.
  std::set<std::string> install_added;
  std::set<std::string> build_added;
  bool install_added_whole = true;
  bool build_added_whole = true;
  // What the baseline's install, then its build, left in node_modules (workspace/installed.h):
  // what a proposal's must leave of every package the update does not change. Unset: not read.
  std::optional<InstalledTree> installed;
  std::optional<InstalledTree> installed_after_build;
  // The agent's copy of the node_modules folders the baseline's install left, before its build
  // ran (`dir` holds each of `roots`, "node_modules" or "packages/a/node_modules", at its path):
  // what a proposal's work tree starts from, so that npm installs only what the update changes
  // (proposal_run.cc). Unset: not kept (the baseline was remembered, the copy was too big).
  struct KeptInstall {
    std::string dir;
    std::vector<std::string> roots;
    int node_major = 0;  // the node it was installed for (node_major's meaning)
  };
  std::optional<KeptInstall> kept_install;
  // From the plan phase: the node major whose image the job runs (0: the agent's default
  // image), and `.ovvoc.yml`'s commands (empty: the project's npm scripts).
  int node_major = 0;
  // The older npm the image carries that the job runs instead of its default (plan phase;
  // npm/npm_choice.h); 0: the default.
  int npm_major = 0;
  // Where a failing baseline is tried again, in order: {major, node version} of the agent's
  // other images that the project allows (plan_step.h, JobNode::alternatives).
  std::vector<std::pair<int, std::string>> node_alternatives;
  std::vector<std::string> test_commands;
  std::vector<std::string> build_commands;
};

// A job's baseline memo (baseline_memo.h), as the sandbox phases see it.
struct BaselineMemoState {
  std::string key;      // this job's baseline's key; empty: it has none (no lockfile, ...)
  bool reused = false;  // the baseline was taken from the spec's memo, not run
  int advice_from = 0;  // the result's first advice of the baseline's own runs
  // What this job's passing baseline leaves for later jobs (the runner reports it beside the
  // result; `update` keeps it in its state dir).
  std::optional<ovvoc::v1::BaselineMemo> made;
};

// One running job. The job's thread runs the phases; other threads may Cancel() it and read
// its progress. `result` and `project` belong to the job's thread, but for the proposals
// phase's trials, which run on threads of their own: they only read `project` and the result's
// plan, baseline and findings, and write the result through UpdateResult().
class JobContext {
 public:
  // `env` must outlive the job. JobHost::Run gives it its work dir.
  JobContext(ovvoc::v1::JobSpec spec, const JobEnv& env) : spec_(std::move(spec)), env_(env) {}

  const ovvoc::v1::JobSpec& spec() const { return spec_; }
  const JobEnv& env() const { return env_; }
  absl::Time Now() const { return env_.clock->Now(); }
  // The job's private directory (empty until JobHost::Run made it); the repository is cloned
  // into repo_dir().
  const std::string& work_dir() const { return work_dir_; }
  std::string repo_dir() const { return work_dir_ + "/repo"; }

  // The job's result. The phases write it from the job's thread; while the proposals phase
  // proves proposals side by side, its trials only read the fields no other phase writes then
  // (plan, baseline, findings) and write through UpdateResult().
  ovvoc::v1::JobResult& result() { return result_; }
  const ovvoc::v1::JobResult& result() const { return result_; }
  // Runs `update` on the result, one caller at a time: how what every trial adds to the job's
  // own totals (egress, resource peaks, advice) gets there from any thread.
  void UpdateResult(absl::FunctionRef<void(ovvoc::v1::JobResult&)> update)
      ABSL_LOCKS_EXCLUDED(result_mu_);
  // When the whole job must be over. Set once, before the phases run.
  absl::Time deadline() const { return deadline_; }
  void set_deadline(absl::Time deadline) { deadline_ = deadline; }
  ClonedProject& project() { return project_; }
  const ClonedProject& project() const { return project_; }
  BaselineMemoState& memo() { return memo_; }
  const BaselineMemoState& memo() const { return memo_; }

  void Cancel(absl::string_view reason) ABSL_LOCKS_EXCLUDED(mu_);
  bool cancelled() const ABSL_LOCKS_EXCLUDED(mu_);
  std::string cancel_reason() const ABSL_LOCKS_EXCLUDED(mu_);

  void SetProgress(absl::string_view phase, absl::string_view message) ABSL_LOCKS_EXCLUDED(mu_);
  ovvoc::v1::Progress progress() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  friend class JobHost;

  const ovvoc::v1::JobSpec spec_;
  std::string work_dir_;  // set once, by JobHost::Run, before any phase
  const JobEnv& env_;
  ovvoc::v1::JobResult result_;
  ClonedProject project_;
  BaselineMemoState memo_;
  absl::Time deadline_ = absl::InfiniteFuture();

  absl::Mutex result_mu_;  // serialises UpdateResult()
  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::string cancel_reason_ ABSL_GUARDED_BY(mu_);
  ovvoc::v1::Progress progress_ ABSL_GUARDED_BY(mu_);
};

class Phase {
 public:
  virtual ~Phase() = default;
  virtual absl::string_view name() const = 0;
  // A failure's message becomes the job's failure reason: make it say what to do.
  virtual absl::Status Run(JobContext& job) = 0;
  // Called once the pipeline ends, for every phase that started, latest first, whatever the
  // outcome: where a phase releases what it made (a container, a mount).
  virtual void Finish(JobContext& job) {}
};

// The limits `spec`'s job runs under: the agent's, tightened by the job's own.
sandbox::Limits JobLimits(const JobEnv& env, const ovvoc::v1::JobSpec& spec);

// The phases of `spec`'s update job, in order.
std::vector<std::unique_ptr<Phase>> UpdatePhases(const JobEnv& env,
                                                 const ovvoc::v1::JobSpec& spec);

// When the phases from `first` on failed: whether to run them again. `again` sees the failed
// result, readies the job and its result for another attempt and says true, or says false and
// the failure stands. The failed attempt's phases have finished (released what they made)
// before it is called.
struct Rerun {
  size_t first = 0;
  std::function<bool(JobContext&)> again;
  // Called once after the last attempt's phases have finished, before the result is made inert:
  // may choose which attempt's result stands.
  std::function<void(JobContext&)> done;
};

// Runs `phases` in order and completes job.result(): outcome, failure, per-phase timings. A
// phase is not started once the job's deadline has passed. With `rerun`, a failure from its
// `first` phase on may run those phases again.
void RunPipeline(JobContext& job, const std::vector<std::unique_ptr<Phase>>& phases,
                 const Rerun* rerun = nullptr);

// Sets the job's deadline (the job timeout counts from here, the clone included) and runs
// UpdatePhases() of the job's env in its work dir.
void RunUpdateJob(JobContext& job);

// Where an agent process runs its jobs: `env`, and `work_root`, the agent's own directory for
// jobs' work dirs. `run` and `update` both run every job through one. Make it once per process,
// holding the state dir's lock (LockStateDir): it first removes what a crashed earlier process
// with this state dir left behind (containers, job disks, job dirs). `env` must outlive it.
class JobHost {
 public:
  JobHost(const JobEnv& env, std::string work_root);

  const JobEnv& env() const { return env_; }

  // The whole of one job (made with env()): a private 0700 dir under the work root, the phases
  // in it, and the dir removed afterwards (its job disks unmounted first) whatever happened. A
  // dir that cannot be made fails the job in "prepare".
  void Run(JobContext& job) const;

 private:
  const JobEnv& env_;
  const std::string work_root_;
};

}  // namespace ovvoc::agent

#endif  // OVVOC_AGENT_PIPELINE_PIPELINE_H_
