// The phases of the first real job: clone, read the manifest. The sandboxed install, build and
// test phases come next and run between these and the report.
#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/git/git.h"
#include "agent/npm/manifest.h"
#include "agent/pipeline/pipeline.h"
#include "agent/pipeline/plan_step.h"
#include "agent/pipeline/sandbox_phases.h"
#include "agent/pipeline/sandbox_session.h"
#include "agent/sandbox/job_disk.h"
#include "agent/workspace/beneath.h"
#include "common/files.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace ovvoc::agent {
namespace {

constexpr size_t kMaxManifestBytes = 4 << 20;
constexpr size_t kMaxNpmrcBytes = 64 << 10;

bool IsRemoteUrl(absl::string_view url) {
  return absl::StartsWith(url, "https://") || absl::StartsWith(url, "http://");
}

// What a clone may take, from the job's disk cap: the tree is copied onto the job disk, and what
// the agent checks out lands on its own disk first.
git::CloneLimits CloneLimitsFor(uint64_t disk_bytes) {
  git::CloneLimits limits;
  limits.max_fetch_bytes = disk_bytes;
  limits.max_checkout_bytes = disk_bytes / 2;
  limits.max_file_bytes = std::min(limits.max_file_bytes, disk_bytes / 2);
  return limits;
}

class ClonePhase final : public Phase {
 public:
  explicit ClonePhase(uint64_t disk_bytes) : disk_bytes_(disk_bytes) {}
  absl::string_view name() const override { return "clone"; }
  absl::Status Run(JobContext& job) override {
    if (!job.env().allow_file_remotes && !IsRemoteUrl(job.spec().repo().url())) {
      return absl::PermissionDeniedError(
          "this agent clones only http(s) remotes; start it with --allow-file-remotes to let "
          "jobs clone local paths (single-machine setups and tests)");
    }
    git::CloneOptions options;
    options.url = job.spec().repo().url();
    options.destination = job.repo_dir();
    options.branch = job.spec().repo().default_branch();
    if (job.spec().has_forge_token() && !job.spec().forge_token().token().empty()) {
      options.credentials =
          git::Credentials{job.spec().forge_token().username(), job.spec().forge_token().token()};
    }
    options.cancelled = [&job] { return job.cancelled(); };
    options.deadline = job.deadline();
    options.limits = CloneLimitsFor(disk_bytes_);
    absl::StatusOr<git::CloneResult> clone = job.env().git->Clone(options);
    if (absl::IsResourceExhausted(clone.status())) {
      job.result().mutable_failure()->set_termination(ovvoc::v1::TERMINATION_DISK);
    } else if (absl::IsDeadlineExceeded(clone.status())) {
      job.result().mutable_failure()->set_termination(ovvoc::v1::TERMINATION_TIMEOUT);
    }
    if (!clone.ok()) return clone.status();
    job.result().set_head_commit(clone->head_commit);
    return absl::OkStatus();
  }

 private:
  const uint64_t disk_bytes_;
};

class ManifestPhase final : public Phase {
 public:
  absl::string_view name() const override { return "manifest"; }
  absl::Status Run(JobContext& job) override {
    absl::StatusOr<std::string> text =
        ReadFileBeneath(job.repo_dir(), "package.json", kMaxManifestBytes);
    if (absl::IsNotFound(text.status())) {
      return absl::FailedPreconditionError(
          "the repository has no package.json at its root; Ovvoc updates npm projects");
    }
    if (!text.ok()) return text.status();
    OVVOC_ASSIGN_OR_RETURN(npm::Manifest manifest, npm::ParseManifest(*text, "package.json"));
    for (ovvoc::v1::Dependency& d : manifest.dependencies) {
      *job.result().add_dependencies() = std::move(d);
    }
    ClonedProject& project = job.project();
    project.manifest = *std::move(text);
    absl::StatusOr<std::string> npmrc = ReadFileBeneath(job.repo_dir(), ".npmrc", kMaxNpmrcBytes);
    if (npmrc.ok()) {
      project.npmrc = *std::move(npmrc);
    } else if (!absl::IsNotFound(npmrc.status())) {
      return absl::FailedPreconditionError(
          absl::StrCat("the repository's .npmrc cannot be read: ", npmrc.status().message()));
    }
    project.build_script = manifest.scripts["build"];
    project.test_script = manifest.scripts["test"];
    for (const char* lockfile : {"package-lock.json", "npm-shrinkwrap.json"}) {
      if (CheckRegularFileBeneath(job.repo_dir(), lockfile).ok()) {
        project.has_lockfile = true;
      }
    }
    return absl::OkStatus();
  }
};

// What to update and why, from the checkout and registry metadata only (plan_step.h). A
// registry's or a file's problem is a line in the plan, not a failed job; only a `--policy FILE`
// that cannot be read fails it.
class PlanPhase final : public Phase {
 public:
  explicit PlanPhase(const SandboxSettings& settings) : settings_(settings) {}
  absl::string_view name() const override { return "plan"; }
  absl::Status Run(JobContext& job) override {
    OVVOC_ASSIGN_OR_RETURN(std::vector<registry::RegistryEndpoint> endpoints,
                           JobEndpoints(job.spec(), settings_));
    const absl::Time give_up = std::min(job.deadline(), job.Now() + kPlanFetchBudget);
    RegistryPackuments source(
        *settings_.registry, std::move(endpoints), [&job, give_up]() -> std::string {
          if (job.cancelled()) return "not fetched: the job was cancelled";
          if (job.Now() >= give_up) {
            return absl::StrCat("not fetched: the plan's ",
                                absl::FormatDuration(kPlanFetchBudget),
                                " for registry metadata (or the job's time) ran out");
          }
          return "";
        });
    PlanInputs inputs;
    inputs.policy_file = job.env().policy_file;
    inputs.now = job.Now();
    if (!settings_.node_version.empty()) inputs.node_version = "v" + settings_.node_version;
    inputs.npm_version = settings_.npm_version;
    // The job's own time, on its clock, as a span of real time.
    inputs.time_left = std::max(absl::ZeroDuration(), job.deadline() - job.Now());
    job.SetProgress("plan", "reading registry metadata");
    npm::Project project;
    OVVOC_ASSIGN_OR_RETURN(ovvoc::v1::Plan plan,
                           PlanCheckout(job.repo_dir(), source, inputs, &project));
    int updates = 0;
    for (const auto& d : plan.dependencies()) {
      updates += d.decision() == ovvoc::v1::PLAN_DECISION_UPDATE;
    }
    job.SetProgress("plan", absl::StrCat(updates, " of ", plan.dependencies_size(),
                                         " dependencies to update"));
    *job.result().mutable_plan() = std::move(plan);
    *job.result().mutable_node() =
        ChooseJobNode(job.repo_dir(), project, settings_.node_version, job.Now());
    return absl::OkStatus();
  }

 private:
  const SandboxSettings& settings_;
};

// Stands where the sandbox phases would: without a sandbox nothing can be installed, built or
// tested, so the job cannot succeed.
class NoSandboxPhase final : public Phase {
 public:
  absl::string_view name() const override { return "sandbox"; }
  absl::Status Run(JobContext& job) override {
    return absl::FailedPreconditionError(
        "this agent has no sandbox backend: nothing was installed, built or tested");
  }
};

}  // namespace

sandbox::Limits JobLimits(const JobEnv& env, const ovvoc::v1::JobSpec& spec) {
  return sandbox::Tighten(env.sandbox ? env.sandbox->limits : sandbox::Limits(), spec.limits());
}

std::vector<std::unique_ptr<Phase>> UpdatePhases(const JobEnv& env,
                                                 const ovvoc::v1::JobSpec& spec) {
  std::vector<std::unique_ptr<Phase>> phases;
  phases.push_back(std::make_unique<ClonePhase>(JobLimits(env, spec).disk_bytes));
  phases.push_back(std::make_unique<ManifestPhase>());
  if (env.sandbox != nullptr && env.sandbox->registry != nullptr) {
    phases.push_back(std::make_unique<PlanPhase>(*env.sandbox));
  }
  if (env.sandbox != nullptr && env.sandbox->backend != nullptr) {
    AddSandboxPhases(*env.sandbox, phases);
  } else {
    phases.push_back(std::make_unique<NoSandboxPhase>());
  }
  return phases;
}

void RunUpdateJob(JobContext& job) {
  job.set_deadline(job.Now() + JobLimits(job.env(), job.spec()).job_timeout);
  RunPipeline(job, UpdatePhases(job.env(), job.spec()));
}

JobHost::JobHost(const JobEnv& env, std::string work_root)
    : env_(env), work_root_(std::move(work_root)) {
  ReapLeftovers(env_.sandbox, work_root_);
}

void JobHost::Run(JobContext& job) const {
  absl::StatusOr<std::string> dir;
  if (absl::Status root = files::EnsureDir(work_root_, 0700); root.ok()) {
    dir = files::MakeTempDir(work_root_, absl::StrCat("job-", job.spec().job_id(), "-"));
  } else {
    dir = root;
  }
  if (!dir.ok()) {
    job.result().set_outcome(ovvoc::v1::JOB_OUTCOME_FAILED);
    job.result().mutable_failure()->set_phase("prepare");
    job.result().mutable_failure()->set_reason(
        absl::StrCat("cannot create a job directory under ", work_root_, ": ",
                     dir.status().message()));
    return;
  }
  job.work_dir_ = *dir;
  RunUpdateJob(job);
  sandbox::JobDisk::UnmountAllUnder(*dir);  // normally already done
  if (absl::Status s = files::RemoveTree(*dir); !s.ok()) {
    log::Error("job %s: %s", job.spec().job_id(), s.ToString());
  }
}

}  // namespace ovvoc::agent
