// The phases of the first real job: clone, read the manifest. The sandboxed install, build and
// test phases come next and run between these and the report.
#include <algorithm>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/git/git.h"
#include "agent/npm/manifest.h"
#include "agent/npm/test_advice.h"
#include "agent/pipeline/pipeline.h"
#include "agent/pipeline/plan_step.h"
#include "agent/pipeline/sandbox_phases.h"
#include "agent/pipeline/sandbox_session.h"
#include "agent/sandbox/job_disk.h"
#include "agent/workspace/beneath.h"
#include "common/files.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "common/time_util.h"

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
    project.scripts = std::move(manifest.scripts);
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
    inputs.runtimes = Runtimes(settings_);
    inputs.default_major = DefaultMajor(settings_);
    inputs.remembered_major = static_cast<int>(job.spec().remembered_node_major());
    // The job's own time, on its clock, as a span of real time.
    inputs.time_left = std::max(absl::ZeroDuration(), job.deadline() - job.Now());
    job.SetProgress("plan", "reading registry metadata");
    OVVOC_ASSIGN_OR_RETURN(CheckoutPlan checkout, PlanCheckout(job.repo_dir(), source, inputs));
    int updates = 0;
    for (const auto& d : checkout.plan.dependencies()) {
      updates += d.decision() == ovvoc::v1::PLAN_DECISION_UPDATE;
    }
    job.SetProgress("plan", absl::StrCat(updates, " of ", checkout.plan.dependencies_size(),
                                         " dependencies to update"));
    *job.result().mutable_plan() = std::move(checkout.plan);
    ClonedProject& project = job.project();
    if (checkout.node.has_value()) {
      *job.result().mutable_node() = checkout.node->record;
      project.node_major = checkout.node->runtime.major;
      for (const NodeRuntime& other : checkout.node->alternatives) {
        project.node_alternatives.emplace_back(other.major, other.node_version);
      }
    }
    if (checkout.npm.has_value()) {
      project.npm_major = checkout.npm->major;
      ovvoc::v1::NpmChoice* npm = job.result().mutable_npm();
      npm->set_version(checkout.npm->version);
      npm->set_source(checkout.npm->source);
      npm->set_reason(checkout.npm->reason);
    }
    project.test_commands = std::move(checkout.test);
    project.build_commands = std::move(checkout.build);
    if (project.test_commands.empty()) {
      if (std::optional<npm::TestAdvice> advice = npm::AdviseTests(project.scripts)) {
        ovvoc::v1::Advice* out = job.result().add_advice();
        out->set_subject("test");
        out->set_message(advice->message);
        out->set_suggestion(advice->suggestion);
      }
    }
    return absl::OkStatus();
  }

 private:
  // The nodes of the agent's images; when it has none per major, its one image's.
  static std::vector<NodeRuntime> Runtimes(const SandboxSettings& settings) {
    std::vector<NodeRuntime> out;
    for (const sandbox::NodeImage& image : settings.node_images) {
      out.push_back({image.major, image.runtime.node, image.runtime.npm, image.runtime.npms});
    }
    if (out.empty() && DefaultMajor(settings) != 0) {
      out.push_back({DefaultMajor(settings), settings.node_version, settings.npm_version});
    }
    return out;
  }
  static int DefaultMajor(const SandboxSettings& settings) {
    int major = 0;
    const std::string& v = settings.node_version;
    return absl::SimpleAtoi(absl::string_view(v).substr(0, v.find('.')), &major) ? major : 0;
  }

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

namespace {

// Where a failed baseline may be the node's fault: a build or test command that ran and failed.
// Not the install (in the corpus its failures were the registry's, the lockfile's or memory's,
// and a retry cost a minute each: an addon that builds only on an older node is the exception
// this gives up), a timeout, a resource limit or the sandbox itself, nor a phase the job's advice already
// explains (`npm test` needing a browser fails on every node), nor a job whose code did
// something hostile (a high-severity finding: tampering, egress): that code is not run again.
bool NodeMayBeToBlame(const ovvoc::v1::JobResult& result) {
  const std::string& phase = result.failure().phase();
  const ovvoc::v1::Termination how = result.failure().termination();
  for (const ovvoc::v1::Advice& advice : result.advice()) {
    if (advice.subject() == phase) return false;
  }
  for (const ovvoc::v1::SecurityFinding& finding : result.findings()) {
    if (finding.severity() >= ovvoc::v1::SEVERITY_HIGH) return false;
  }
  return (phase == "build" || phase == "test") &&
         (how == ovvoc::v1::TERMINATION_EXITED || how == ovvoc::v1::TERMINATION_SIGNALED);
}

// How long the last attempt took: its phases from the last "sandbox" on.
absl::Duration LastAttempt(const ovvoc::v1::JobResult& result) {
  absl::Duration total;
  for (int i = result.timings_size() - 1; i >= 0; --i) {
    total += FromProto(result.timings(i).duration());
    if (result.timings(i).phase() == "sandbox") break;
  }
  return total;
}

// Runs a failed baseline again on the other nodes the project allows (Rerun::again). When no
// node passes, the result reported is the chosen node's, the project's own choice, with the
// other tries beside it: a last resort's failure (node 20 refusing a lockfile made for 24) would
// hide the one that matters.
class NodeRetry {
 public:
  // After a failed attempt: the next node, with the result readied for it; false when there is
  // none, when the node cannot be to blame, or when the job has not the time for another attempt
  // like the last (a try cut short by the deadline would lose the failure it was meant to
  // explain).
  bool Again(JobContext& job) {
    ovvoc::v1::JobResult& result = job.result();
    ClonedProject& project = job.project();
    if (!NodeMayBeToBlame(result) || !result.has_node() || project.node_alternatives.empty()) {
      return false;
    }
    if (job.deadline() - job.Now() < 2 * LastAttempt(result) + absl::Seconds(10)) {
      log::Info("job %s: no time left to try the baseline on another node", job.spec().job_id());
      return false;
    }
    if (!chosen_.has_value()) {
      chosen_ = result;
      chosen_major_ = project.node_major;
    }
    ovvoc::v1::NodeChoice& node = *result.mutable_node();
    AddAttempt(result, node);
    const auto [major, version] = project.node_alternatives.front();
    project.node_alternatives.erase(project.node_alternatives.begin());
    log::Info("job %s: the baseline failed on node %s (%s); trying node %s", job.spec().job_id(),
              node.ran(), result.failure().phase(), version);
    project.node_major = major;
    node.set_ran(version);
    // The next attempt's commands stand where this one's did.
    result.clear_baseline();
    result.clear_failure();
    result.clear_outcome();
    return true;
  }

  // After the pipeline: when the baseline was retried and failed everywhere it was tried, the
  // chosen node's result, the later tries as attempts and every attempt's timings.
  void Finish(JobContext& job) {
    ovvoc::v1::JobResult& last = job.result();
    if (!chosen_.has_value() || last.outcome() != ovvoc::v1::JOB_OUTCOME_FAILED) return;
    ovvoc::v1::NodeChoice node = last.node();
    AddAttempt(last, node);
    node.set_every_node_failed(job.project().node_alternatives.empty());
    node.set_ran(node.attempts(0).ran());
    node.mutable_attempts()->erase(node.mutable_attempts()->begin());
    ovvoc::v1::JobResult reported = *std::move(chosen_);
    chosen_.reset();
    job.project().node_major = chosen_major_;  // what runs next (broken before) runs on it
    *reported.mutable_node() = std::move(node);
    *reported.mutable_timings() = last.timings();
    for (const ovvoc::v1::SecurityFinding& finding : last.findings()) {
      const bool known = std::any_of(
          reported.findings().begin(), reported.findings().end(),
          [&](const ovvoc::v1::SecurityFinding& f) {
            return f.kind() == finding.kind() && f.package() == finding.package() &&
                   f.detail() == finding.detail();
          });
      if (!known) *reported.add_findings() = finding;
    }
    log::Info("job %s: the baseline failed on every node tried; the result is node %s's",
              job.spec().job_id(), reported.node().ran());
    last = std::move(reported);
  }

 private:
  static void AddAttempt(const ovvoc::v1::JobResult& result, ovvoc::v1::NodeChoice& node) {
    ovvoc::v1::NodeAttempt* attempt = node.add_attempts();
    attempt->set_ran(node.ran());
    attempt->set_phase(result.failure().phase());
    attempt->set_reason(result.failure().reason());
  }

  std::optional<ovvoc::v1::JobResult> chosen_;  // the first attempt's failed result
  int chosen_major_ = 0;                        // and its node major
};

// Broken before: the project installs and builds, but its own tests fail on every node tried,
// and they say how many (a runner's counts: what a proposal's are compared with).
// The job has failed, and says why; each update is still proven on what does pass, and is not
// blamed for what failed before it (proposals.h).
bool BrokenBefore(JobContext& job) {
  const ovvoc::v1::JobResult& result = job.result();
  const ovvoc::v1::CommandOutcome& install = result.baseline().install();
  const std::string& phase = result.failure().phase();
  for (const ovvoc::v1::SecurityFinding& finding : result.findings()) {
    if (finding.severity() >= ovvoc::v1::SEVERITY_HIGH) return false;  // hostile: not run again
  }
  return result.outcome() == ovvoc::v1::JOB_OUTCOME_FAILED && phase == "test" &&
         result.baseline().test().has_tests() &&
         install.termination() == ovvoc::v1::TERMINATION_EXITED && install.exit_code() == 0 &&
         !job.cancelled() && job.Now() < job.deadline();
}

}  // namespace

void RunUpdateJob(JobContext& job) {
  job.set_deadline(job.Now() + JobLimits(job.env(), job.spec()).job_timeout);
  const std::vector<std::unique_ptr<Phase>> phases = UpdatePhases(job.env(), job.spec());
  // The sandbox phases run again on another node when the baseline fails on the chosen one.
  NodeRetry retry;
  Rerun rerun;
  rerun.again = [&retry](JobContext& j) { return retry.Again(j); };
  rerun.done = [&retry](JobContext& j) { retry.Finish(j); };
  for (size_t i = 0; i < phases.size(); ++i) {
    if (phases[i]->name() == "sandbox") rerun.first = i;
  }
  RunPipeline(job, phases, rerun.first > 0 ? &rerun : nullptr);
  if (BrokenBefore(job) && !phases.empty() && phases.back()->name() == "proposals") {
    log::Info("job %s: the baseline's %s fails (broken before): proving the updates regardless",
              job.spec().job_id(), job.result().failure().phase());
    const absl::Time start = job.Now();
    absl::Status proposals = phases.back()->Run(job);
    phases.back()->Finish(job);
    ovvoc::v1::PhaseTiming* timing = job.result().add_timings();
    timing->set_phase("proposals");
    *timing->mutable_duration() = ToProto(job.Now() - start);
    timing->set_ok(proposals.ok());
  }
  if (job.result().outcome() == ovvoc::v1::JOB_OUTCOME_SUCCEEDED && job.result().has_node()) {
    job.result().mutable_node()->set_baseline_passed(true);
  }
}

JobHost::JobHost(const JobEnv& env, std::string work_root)
    : env_(env), work_root_(std::move(work_root)) {
  ReapLeftovers(env_.sandbox, work_root_);
}

void JobHost::Run(JobContext& job) const {
  absl::StatusOr<std::string> dir;
  // The job id names its work dir and its containers: what the control plane sent may not reach
  // outside them (red team, issue 11).
  if (absl::Status id = sandbox::CheckContainerName(job.spec().job_id()); !id.ok()) {
    dir = absl::InvalidArgumentError(absl::StrCat("the job id is not usable: ", id.message()));
  } else if (absl::Status root = files::EnsureDir(work_root_, 0700); root.ok()) {
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
