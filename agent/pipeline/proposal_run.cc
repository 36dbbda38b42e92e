#include "agent/pipeline/proposal_run.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/git/branch.h"
#include "agent/npm/lockfile_diff.h"
#include "agent/npm/project.h"
#include "agent/npm/resolve_error.h"
#include "agent/pipeline/confusion.h"
#include "agent/pipeline/proposal_apply.h"
#include "agent/pipeline/trial.h"
#include "agent/scoring/confidence.h"
#include "agent/scoring/evidence.h"
#include "agent/workspace/beneath.h"
#include "common/files.h"
#include "common/inert.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "common/time_util.h"

namespace ovvoc::agent {

namespace {

using ovvoc::v1::PlannedDependency;
using ovvoc::v1::ProposalResult;

// npm, resolving only: no dependency code runs, and the gateway passes registry reads.
const std::vector<std::string>& RegenerateLockfile() {
  static const auto* argv = new std::vector<std::string>{
      "npm", "install", "--package-lock-only", "--ignore-scripts", "--no-audit", "--no-fund"};
  return *argv;
}

// npm, installing over the baseline's node_modules: it fetches, unpacks and runs the scripts of
// only what differs from the lockfile (package.json and the lockfile stay as the agent wrote
// them).
const std::vector<std::string>& InstallOverBaseline() {
  static const auto* argv = new std::vector<std::string>{"npm", "install", "--no-save"};
  return *argv;
}

std::string ReasonClass(absl::string_view phase, ovvoc::v1::Termination termination) {
  switch (termination) {
    case ovvoc::v1::TERMINATION_TIMEOUT:
      return "timeout";
    case ovvoc::v1::TERMINATION_OOM:
      return "oom";
    case ovvoc::v1::TERMINATION_PIDS:
      return "pids";
    case ovvoc::v1::TERMINATION_DISK:
      return "disk";
    default:
      return std::string(phase);
  }
}

bool IsEgress(const ovvoc::v1::SecurityFinding& finding) {
  return finding.kind() == "blocked-egress" || finding.kind() == "egress-flood";
}

// As Dependabot words its commits: "Bump lodash from 4.17.20 to 4.17.21", or for a group
// "Bump the dev-tools group with 3 updates" and a line per update; the confidence beneath.
std::string CommitMessage(const ProposalResult& p) {
  std::string message;
  if (p.group().empty() && p.updates_size() == 1) {
    const ovvoc::v1::PackageUpdate& u = p.updates(0);
    message =
        absl::StrCat("Bump ", u.name(), " from ", u.from_version(), " to ", u.to_version(), "\n");
  } else {
    message = absl::StrCat("Bump the ", p.group(), " group with ", p.updates_size(),
                           p.updates_size() == 1 ? " update\n\n" : " updates\n\n");
    for (const ovvoc::v1::PackageUpdate& u : p.updates()) {
      absl::StrAppend(&message, "- ", u.name(), " from ", u.from_version(), " to ", u.to_version(),
                      "\n");
    }
  }
  if (p.has_confidence()) {
    // Not the test counts: those are what the tests printed (npm/test_output.h).
    absl::StrAppend(&message, "\nProven by Ovvoc: confidence ", p.confidence().score(), "/100.\n");
  }
  return message;
}

// One proposal, applied and proven: its result is `out`.
class ProposalRun {
 public:
  // `commit`: a passing proposal is committed on its branch (when the job writes branches);
  // a bisection's trials are not.
  ProposalRun(JobContext& job, const ProposalContext& context, ProposalResult& out, bool commit,
              const google::protobuf::RepeatedPtrField<ovvoc::v1::SecurityFinding>* earlier)
      : job_(job), context_(context), out_(out), commit_(commit), earlier_(earlier) {}

  // `label` names its copy of the clone, its disk and its container: "p3", "p3b1".
  void Run(const std::vector<const PlannedDependency*>& deps, const std::string& label) {
    const absl::Time start = job_.Now();
    const ProposalResult described = out_;
    absl::Status status = Attempt(deps, label);
    if (put_install_failed_ && !job_.cancelled() && job_.Now() < job_.deadline()) {
      // The baseline's node_modules could not be put in the proposal's tree (before any of the
      // update's code ran): proven again as a cold `npm ci` in a fresh container. An install
      // that npm ran and that failed is the update's failure, with what its scripts did: not
      // tried again (red team, issue 12: a script that tampered and then failed on purpose was
      // tried again as `npm ci`, where it behaved, and the first attempt's evidence was gone).
      log::Info(
          "job %s: the baseline's node_modules could not be put in the proposal's tree "
          "(%s); installing afresh",
          Who(), status.message());
      put_install_failed_ = false;
      StartAgain(described);
      reuse_allowed_ = false;
      status = Attempt(deps, absl::StrCat(label, "n"));
    }
    if (TestsMayBeFlaky(status)) {
      // Tests that failed where the baseline's passed, and did not fail again when run once more
      // in their container (Test), are proven once more as the install, build and test again in
      // a fresh container, from the lockfile already verified: a pass then passes, and the
      // score's flaky-tests factor says so. A pass in the same container is not one (red team,
      // issue 12: an update failed its first run on purpose, left a marker, and passed the
      // second).
      log::Info("job %s: the tests failed; proving the update once more in a fresh container",
                Who());
      const google::protobuf::RepeatedPtrField<ovvoc::v1::SecurityFinding> first = out_.findings();
      StartAgain(described);
      tests_again_ = TestsAgain::kInFreshContainer;
      status = Attempt(deps, absl::StrCat(label, "r"));
      out_.mutable_trial()->mutable_test()->set_attempts(2);
      // What the first attempt's dependency code did stays evidence, and is judged as the
      // second's is (red team, issue 12: an update that tampered in its first run and failed
      // its tests on purpose passed a second run where it behaved, with no finding).
      KeepFindings(first);
      if (status.ok()) {
        phase_ = "findings";
        status = NoNewFindings();
      }
    }
    if (earlier_ != nullptr && !job_.cancelled()) {
      // What the updates' code did beside others, in trials that cannot tell who did it, is held
      // against them as their own (red team, issue 12: an update that tampered only beside a
      // group's culprit was committed once the culprit was left out).
      KeepFindings(*earlier_);
      if (status.ok()) {
        phase_ = "findings";
        status = NoNewFindings();
      }
    }
    // Passed when run again in its container, and then cancelled or out of time before a fresh
    // trial: the first run's failure stands, and says what else happened.
    std::string unproven;
    if (tests_again_ == TestsAgain::kPassedAgain) {  // (Test counted both runs: attempts 2)
      unproven =
          "; they passed when run again in the proposal's container, which proves nothing, and "
          "the job ended (cancelled or out of time) before the update was proven in a fresh one";
    }
    *out_.mutable_trial()->mutable_duration() = ToProto(job_.Now() - start);
    Judge(deps);
    if (status.ok()) {
      out_.set_outcome(ovvoc::v1::PROPOSAL_OUTCOME_PASSED);
      out_.clear_failure();
      if (commit_) Commit();
      return;
    }
    out_.set_outcome(job_.cancelled() ? ovvoc::v1::PROPOSAL_OUTCOME_NOT_RUN
                                      : ovvoc::v1::PROPOSAL_OUTCOME_FAILED);
    ovvoc::v1::FailureReport* failure = out_.mutable_failure();
    if (failure->phase().empty()) failure->set_phase(phase_);
    if (failure->reason_class().empty()) {
      failure->set_reason_class(ReasonClass(failure->phase(), failure->termination()));
    }
    failure->set_reason(absl::StrCat(status.message(), unproven));
  }

 private:
  // One trial in its own copy of the clone, which goes with it: a job holds one at a time.
  absl::Status Attempt(const std::vector<const PlannedDependency*>& deps,
                       const std::string& label) {
    label_ = label;
    const std::string dir = absl::StrCat(job_.work_dir(), "/proposal-", label);
    absl::Status status = Prove(deps, dir, label);
    if (absl::Status removed = files::RemoveTree(dir); !removed.ok()) {
      log::Warning("job %s: %s", Who(), removed.ToString());
    }
    return status;
  }

  // Forgets what an attempt found after its lockfile was verified, which the next attempt starts
  // from: npm resolved it with no dependency code running, and the agent holds it. Without one,
  // everything: `described` is the result as it stood before the first attempt.
  void StartAgain(const ProposalResult& described) {
    if (resolved_.has_value()) {
      out_ = resolved_->result;
      return;
    }
    out_ = described;
    branch_files_.clear();
    tree_.reset();
    locked_.reset();
    known_names_.clear();
  }

  // Adds to the result each of `earlier` it does not hold yet.
  void KeepFindings(const google::protobuf::RepeatedPtrField<ovvoc::v1::SecurityFinding>& earlier) {
    for (const ovvoc::v1::SecurityFinding& finding : earlier) {
      const bool held = std::any_of(
          out_.findings().begin(), out_.findings().end(), [&](const ovvoc::v1::SecurityFinding& f) {
            return f.kind() == finding.kind() && f.package() == finding.package() &&
                   f.detail() == finding.detail();
          });
      if (!held) *out_.add_findings() = finding;
    }
  }

  // For the log: trials run side by side, so each line names its own ("JOB [p3r]").
  std::string Who() const { return absl::StrCat(job_.spec().job_id(), " [", label_, "]"); }

  bool TestsMayBeFlaky(const absl::Status& status) const {
    return !status.ok() && phase_ == "test" &&
           (tests_again_ == TestsAgain::kNo || tests_again_ == TestsAgain::kPassedAgain) &&
           MayRunTestsAgain();
  }

  // Whether the tests, which ran to their end and failed where the baseline's passed, may run
  // once more. (A bisection's trial is not run again: the group it came from was.)
  bool MayRunTestsAgain() const {
    const ovvoc::v1::CommandOutcome& baseline = job_.result().baseline().test();
    return commit_ && !job_.cancelled() && job_.Now() < job_.deadline() &&
           out_.trial().test().termination() == ovvoc::v1::TERMINATION_EXITED &&
           baseline.termination() == ovvoc::v1::TERMINATION_EXITED && baseline.exit_code() == 0;
  }

  absl::Status Fail(absl::string_view reason_class, absl::Status status) {
    out_.mutable_failure()->set_reason_class(std::string(reason_class));
    return status;
  }

  absl::Status Prove(const std::vector<const PlannedDependency*>& deps, const std::string& dir,
                     const std::string& label) {
    // Apply, in the agent's own copy of the clone.
    phase_ = "apply";
    absl::StatusOr<ProposalManifests> manifests = EditManifests(job_.repo_dir(), deps);
    if (!manifests.ok()) return Fail("lockfile", manifests.status());
    OVVOC_RETURN_IF_ERROR(files::EnsureDir(dir, 0700));
    OVVOC_RETURN_IF_ERROR(CopyWorkTree(job_.repo_dir(), dir));
    if (!job_.project().has_lockfile && job_.project().made_lockfile.has_value()) {
      OVVOC_RETURN_IF_ERROR(WriteFileBeneath(
          dir, "package-lock.json", *job_.project().made_lockfile, ::geteuid(), ::getegid(), 0644));
    }
    const std::string lockfile_name = LockfileName(dir);
    absl::StatusOr<std::string> before_text =
        ReadFileBeneath(dir, lockfile_name, npm::kMaxLockfileBytes);
    if (!before_text.ok()) return Fail("lockfile", before_text.status());
    const bool one_resolve = OneResolveMayDo(deps);
    if (resolved_.has_value()) {
      // An attempt again, from the first one's verified lockfile.
      OVVOC_RETURN_IF_ERROR(WriteManifests(dir, manifests->proposed));
      OVVOC_RETURN_IF_ERROR(WriteFileBeneath(dir, lockfile_name, resolved_->lockfile, ::geteuid(),
                                             ::getegid(), 0644));
    } else {
      OVVOC_RETURN_IF_ERROR(
          WriteManifests(dir, one_resolve ? manifests->proposed : manifests->pinned));
    }

    phase_ = "sandbox";
    SandboxSession session(*context_.settings);
    OVVOC_RETURN_IF_ERROR(session.Prepare(job_, {dir, label}));
    // Everything the session sees is this proposal's, never the job's own findings: other
    // proposals' trials may run beside it.
    session.set_findings(out_.mutable_findings());
    if (resolved_.has_value()) session.add_resolved_packuments(resolved_->packuments);
    out_.mutable_trial()->set_node(job_.result().node().ran());
    for (const auto& [path, text] : manifests->proposed) branch_files_[path] = text;
    const std::string& root_manifest = manifests->proposed.count("package.json") > 0
                                           ? manifests->proposed.at("package.json")
                                           : job_.project().manifest;
    TrialRecord record;
    record.trial = out_.mutable_trial();
    record.failure = out_.mutable_failure();
    record.findings = out_.mutable_findings();
    record.manifest = &root_manifest;
    record.npmrc = &job_.project().npmrc;
    record.proposal = true;
    for (const PlannedDependency* d : deps) record.updated.push_back(d->name());
    std::set<std::string> install_made;
    record.install_made = &install_made;

    if (!resolved_.has_value()) {
      // The lockfile: as proposed, when npm resolving the new ranges can only come to the
      // targets (and it did); else pinned to the targets first, then as proposed.
      phase_ = "lockfile";
      const bool resolved = one_resolve && Resolve(session, record).ok() &&
                            ResolvedTargets(session, deps, lockfile_name, *before_text);
      if (!resolved) {
        if (one_resolve) {
          log::Info("job %s: npm did not resolve the targets alone; pinning them", Who());
          out_.mutable_failure()->Clear();
          OVVOC_RETURN_IF_ERROR(WriteManifests(dir, manifests->pinned));
          OVVOC_RETURN_IF_ERROR(Restore(session, dir, {}));
        }
        OVVOC_RETURN_IF_ERROR(Resolve(session, record));
        OVVOC_RETURN_IF_ERROR(WriteManifests(dir, manifests->proposed));
        OVVOC_RETURN_IF_ERROR(Restore(session, dir, {kLockfileNames[0], kLockfileNames[1]}));
        OVVOC_RETURN_IF_ERROR(Resolve(session, record));
      }
      OVVOC_ASSIGN_OR_RETURN(std::string lockfile,
                             Verify(session, deps, dir, lockfile_name, *before_text));
      // From here the tree is the agent's copy: manifests as proposed, the lockfile as verified.
      OVVOC_RETURN_IF_ERROR(Restore(session, dir, {}));
      resolved_ = Resolved{out_, std::move(lockfile), session.resolved_packuments()};
    }

    phase_ = "install";
    std::vector<std::string> install = ProjectCommand(job_, TrialStep::kInstall);
    if (reuse_allowed_ && MayReuseBaselineInstall(install)) {
      out_.mutable_trial()->set_install_reused(true);
      // What the update changes is not copied: npm installs it from its tarball, whatever a
      // folder the baseline's install left at that place says it holds.
      if (absl::Status put = session.PutInstall(*job_.project().kept_install, LeftOut());
          !put.ok()) {
        put_install_failed_ = true;
        return put;
      }
      install = InstallOverBaseline();
    }
    OVVOC_RETURN_IF_ERROR(RunTrialStep(job_, session, TrialStep::kInstall, install, record));
    HoldInstallToBaseline(session, scoring::InstallStage::kInstall);
    phase_ = "build";
    OVVOC_RETURN_IF_ERROR(RunTrialStep(job_, session, TrialStep::kBuild,
                                       ProjectCommand(job_, TrialStep::kBuild), record));
    if (!out_.trial().build().skipped()) {
      HoldInstallToBaseline(session, scoring::InstallStage::kBuild);
    }
    phase_ = "test";
    OVVOC_RETURN_IF_ERROR(Test(session, record));
    phase_ = "findings";
    return NoNewFindings();
  }

  // Whether the proposal's install may start from the baseline's node_modules (kept by the
  // baseline's install, trial.cc) instead of `npm ci` from nothing: the install is npm ci, no
  // workspaces or linked packages, both lockfiles are npm 7's or later (npm install would rewrite a
  // v1 one, asking the registry for every package, which script mode refuses), and no package npm
  // would keep runs an install script that depends on one the update changes
  // (npm::ScriptedDependentsOfChanges). Kept for the node the proposal runs on (red team, issue 12:
  // a baseline that failed on every node left the last one's, where proposals run on the first).
  bool MayReuseBaselineInstall(const std::vector<std::string>& install) const {
    if (!job_.project().kept_install.has_value() || !locked_.has_value() ||
        job_.project().kept_install->node_major != job_.project().node_major ||
        install != std::vector<std::string>{"npm", "ci"} || locked_->first.lockfile_version < 2 ||
        locked_->second.lockfile_version < 2) {
      return false;
    }
    // Workspace members and linked local packages run their own scripts, `prepare` too, only
    // under `npm ci` (npm install runs those of what it changes): a member's `prepare: tsc`
    // would not build what the tests load. Their projects install from nothing.
    for (const npm::LockedEntry& e : locked_->second.packages) {
      if (e.in_bundle) {
        log::Info("job %s: %s comes in a bundle: npm ci from nothing", Who(),
                  InertLine(e.key, 256));
        return false;
      }
      if (e.link || !absl::StrContains(e.key, "node_modules/")) {
        log::Info("job %s: %s is a workspace member or a linked package: npm ci from nothing",
                  Who(), InertLine(e.key, 256));
        return false;
      }
    }
    const std::vector<std::string> dependents =
        npm::ScriptedDependentsOfChanges(locked_->first, locked_->second);
    if (!dependents.empty()) {
      log::Info(
          "job %s: %s runs an install script and depends on what the update changes: npm ci "
          "from nothing",
          Who(), InertLine(dependents.front(), 256));
      return false;
    }
    return true;
  }

  // What of the baseline's node_modules a proposal's tree does not get: the package folders the
  // update changes (npm installs them from their tarballs, whatever a folder at that place
  // says it holds) and the .bin links into them, which npm makes again with their targets made
  // executable (a kept link to the old target left the new one as the tarball had it).
  std::set<std::string> LeftOut() const {
    std::set<std::string> out = npm::DifferingKeys(locked_->first, locked_->second);
    if (!job_.project().installed.has_value()) return out;
    std::vector<std::string> bins;
    for (const auto& [bin, target] : job_.project().installed->bins) {
      if (target.empty() || target.front() == '/') continue;
      const std::string into =
          (std::filesystem::path(bin).parent_path() / target).lexically_normal().string();
      for (size_t slash = into.find('/'); slash != std::string::npos;
           slash = into.find('/', slash + 1)) {
        if (out.count(into.substr(0, slash)) > 0) {
          bins.push_back(bin);
          break;
        }
      }
    }
    out.insert(bins.begin(), bins.end());
    return out;
  }

  // The tests. Where the baseline's failed too (broken before), they fail the proposal only when
  // fewer ran or more failed than did; where they passed, only when fewer ran.
  absl::Status Test(SandboxSession& session, const TrialRecord& record) {
    absl::Status status = RunTrialStep(job_, session, TrialStep::kTest,
                                       ProjectCommand(job_, TrialStep::kTest), record);
    if (status.ok()) return AsManyTests(status);
    if (!BaselinePassed(job_.result().baseline().test())) return BrokenBeforeTests(status);
    if (tests_again_ != TestsAgain::kNo || !MayRunTestsAgain()) return status;
    // Failed where the baseline's passed: once more here first, as the baseline's are (with the
    // home, /tmp, .git and manifest put back). Failing again, they fail the update, with no
    // fresh container spent on it; passing, they prove nothing yet (Run proves the update
    // again in a fresh container). Either way the first run's outcome is the one reported: the
    // first run's code could shape how a second one ends (red team, issue 12: a second run cut
    // short by its own timeout read as the sandbox's doing, and bisection named no culprit).
    log::Info("job %s: the tests failed; running them once more", Who());
    const ovvoc::v1::CommandOutcome first_test = out_.trial().test();
    const ovvoc::v1::FailureReport first_failure = out_.failure();
    out_.mutable_trial()->clear_test();
    out_.mutable_failure()->Clear();  // `record` points at it: cleared, never deleted
    const absl::Status again = RunTrialStep(job_, session, TrialStep::kTest,
                                            ProjectCommand(job_, TrialStep::kTest), record);
    const bool ran = out_.trial().test().termination() != ovvoc::v1::TERMINATION_UNSPECIFIED;
    *out_.mutable_trial()->mutable_test() = first_test;
    *out_.mutable_failure() = first_failure;
    if (!ran) {
      // Out of time, or the tree could not be made ready for it: not a second run (a fresh
      // trial may still be).
      log::Info("job %s: the tests could not run again here: %s", Who(), again.message());
      return status;
    }
    out_.mutable_trial()->mutable_test()->set_attempts(2);
    tests_again_ = again.ok() ? TestsAgain::kPassedAgain : TestsAgain::kFailedAgain;
    return status;
  }

  static uint32_t Ran(const ovvoc::v1::TestCounts& t) { return scoring::TestsRan(t); }

  static bool BaselinePassed(const ovvoc::v1::CommandOutcome& c) {
    return c.skipped() || (c.termination() == ovvoc::v1::TERMINATION_EXITED && c.exit_code() == 0);
  }

  // A passing run that ran fewer tests than the baseline's (both counted by a runner) proves less
  // than it seems (red team, issue 12: an update that made test discovery find nothing passed).
  absl::Status AsManyTests(absl::Status status) {
    const ovvoc::v1::CommandOutcome& before = job_.result().baseline().test();
    const ovvoc::v1::CommandOutcome& after = out_.trial().test();
    if (!before.has_tests() || !after.has_tests() || Ran(after.tests()) >= Ran(before.tests())) {
      return status;
    }
    return absl::AbortedError(absl::StrCat(Ran(after.tests()), " tests ran where ",
                                           Ran(before.tests()), " did before the update"));
  }

  absl::Status BrokenBeforeTests(absl::Status status) {
    const ovvoc::v1::CommandOutcome& before = job_.result().baseline().test();
    const ovvoc::v1::CommandOutcome& after = out_.trial().test();
    if (after.termination() != ovvoc::v1::TERMINATION_EXITED) return status;  // a limit, a timeout
    // Held to the baseline's counts: as many tests ran, no more failed. Without counts to compare
    // (red team, issue 12: an update that crashed the suite printed none), it is not proven.
    if (!after.has_tests()) {
      return absl::AbortedError(absl::StrCat(
          "the tests failed before the update too, and this run's output gives no counts to "
          "compare with the baseline's: ",
          status.message()));
    }
    if (after.tests().failed() > before.tests().failed() ||
        Ran(after.tests()) < Ran(before.tests())) {
      return absl::AbortedError(
          absl::StrCat(Ran(after.tests()), " tests ran and ", after.tests().failed(),
                       " failed, where ", Ran(before.tests()), " ran and ", before.tests().failed(),
                       " failed before the update: ", status.message()));
    }
    out_.mutable_failure()->Clear();
    return absl::OkStatus();
  }

  // The proposal's findings (what it adds to the tree) and confidence score, from whatever
  // evidence it got as far as gathering.
  void Judge(const std::vector<const PlannedDependency*>& deps) {
    scoring::FindingInputs findings;
    findings.updates = deps;
    if (tree_.has_value()) {
      findings.tree = *tree_;
      findings.known_names = known_names_;
    }
    std::vector<std::string> suspects, deprecated, confused;
    for (ovvoc::v1::SecurityFinding& f : scoring::ProposalFindings(findings)) {
      if (f.kind() == "typosquat" && !f.package().empty()) suspects.push_back(f.package());
      if (f.kind() == "deprecated" && !f.package().empty()) deprecated.push_back(f.package());
      *out_.add_findings() = std::move(f);
    }
    if (!context_.private_registries.empty() && tree_.has_value()) {
      ConfusionInputs confusion;
      for (const PlannedDependency* d : deps) confusion.names.push_back(d->package());
      confusion.names.insert(confusion.names.end(), tree_->new_names.begin(),
                             tree_->new_names.end());
      confusion.public_registry = context_.public_registry;
      confusion.private_registries = context_.private_registries;
      confusion.view =
          ClientView(*context_.settings->registry, [this] { return job_.cancelled(); });
      for (ovvoc::v1::SecurityFinding& f : ConfusionFindings(confusion)) {
        confused.push_back(f.package());
        *out_.add_findings() = std::move(f);
      }
    }
    const scoring::UseScan& uses = context_.uses;
    scoring::ScoreInputs inputs;
    inputs.proposal = &out_;
    bool any_used = false;
    for (const PlannedDependency* d : deps) {
      auto used = uses.used_by.find(d->name());
      any_used = any_used || used != uses.used_by.end();
      inputs.updates.push_back({d, used == uses.used_by.end() ? "" : used->second});
    }
    inputs.uses_known = uses.complete || any_used;
    if (tree_.has_value()) inputs.new_install_scripts = tree_->new_install_scripts;
    inputs.typosquat_suspects = std::move(suspects);
    inputs.confusion_suspects = std::move(confused);
    inputs.new_deprecated = std::move(deprecated);
    inputs.baseline_flaky = job_.result().baseline().test().attempts() >= 2;
    inputs.baseline_test = &job_.result().baseline().test();
    inputs.baseline_tests_failed = !BaselinePassed(job_.result().baseline().test());
    inputs.now = job_.Now();
    *out_.mutable_confidence() = scoring::ScoreProposal(inputs);
  }

  // npm resolving the tree, with no scripts. A peer conflict is a "resolve" failure that names
  // the edges (npm/resolve_error.h) and blames the package whose edge could not be met.
  absl::Status Resolve(SandboxSession& session, const TrialRecord& record) {
    absl::Status status = Classified(
        "resolve", RunTrialStep(job_, session, TrialStep::kLockfile, RegenerateLockfile(), record));
    if (status.ok() || out_.failure().termination() != ovvoc::v1::TERMINATION_EXITED) {
      return status;
    }
    std::optional<npm::ResolveConflict> conflict =
        npm::ParseResolveConflict(out_.failure().log_excerpt());
    if (!conflict.has_value()) return status;
    if (!conflict->culprit.empty()) out_.mutable_failure()->add_culprits(conflict->culprit);
    return absl::FailedPreconditionError(npm::DescribeResolveConflict(*conflict));
  }

  absl::Status Classified(absl::string_view reason_class, absl::Status status) {
    if (!status.ok() && out_.failure().reason_class().empty() &&
        out_.failure().termination() == ovvoc::v1::TERMINATION_EXITED) {
      out_.mutable_failure()->set_reason_class(std::string(reason_class));
    }
    return status;
  }

  // Whether npm, resolving the proposed ranges with nothing pinned, can only come to the plan's
  // targets: each changes its manifest's range, the target is what the registry tags latest
  // (npm's first choice when it satisfies the range) and the plan passed over no newer version
  // (a cooldown's, a prerelease). Then one resolve does what pinning and unpinning would; if npm
  // comes to anything else all the same, the targets are pinned after all.
  static bool OneResolveMayDo(const std::vector<const PlannedDependency*>& deps) {
    for (const PlannedDependency* d : deps) {
      if (d->new_spec().empty() || d->new_spec() == d->spec() || d->latest() != d->target() ||
          d->passed_over_size() > 0) {
        return false;
      }
    }
    return !deps.empty();
  }

  // Whether the lockfile npm left resolves every update to its target.
  bool ResolvedTargets(SandboxSession& session, const std::vector<const PlannedDependency*>& deps,
                       const std::string& name, const std::string& before_text) {
    absl::StatusOr<std::string> after_text =
        ReadFileBeneath(session.tree_dir(), name, npm::kMaxLockfileBytes);
    if (!after_text.ok()) return false;
    std::vector<npm::ProjectDiagnostic> diagnostics;
    std::optional<npm::Lockfile> before = npm::ParseLockfile(before_text, name, diagnostics);
    std::optional<npm::Lockfile> after = npm::ParseLockfile(*after_text, name, diagnostics);
    return before.has_value() && after.has_value() &&
           npm::CheckIntendedVersions(*before, *after, Intended(deps)).ok();
  }

  static std::vector<npm::IntendedUpdate> Intended(
      const std::vector<const PlannedDependency*>& deps) {
    std::vector<npm::IntendedUpdate> intended;
    for (const PlannedDependency* d : deps) {
      intended.push_back({d->name(), ManifestDir(d->manifest_path()), d->target()});
    }
    return intended;
  }

  // The session's work tree as `dir` has it, but for the names in `skip`; what npm itself
  // changed is not the project's doing, so nothing is reported.
  absl::Status Restore(SandboxSession& session, const std::string& dir,
                       const std::vector<std::string>& skip) {
    absl::StatusOr<std::vector<std::string>> restored =
        RestoreTreeBeneath(dir, session.tree_dir(), session.job_uid(), session.job_uid(), skip);
    return restored.status();
  }

  // The regenerated lockfile: parsed, checked against the plan, kept in `dir`, and returned.
  absl::StatusOr<std::string> Verify(SandboxSession& session,
                                     const std::vector<const PlannedDependency*>& deps,
                                     const std::string& dir, const std::string& name,
                                     const std::string& before_text) {
    phase_ = "lockfile";
    absl::StatusOr<std::string> after_text =
        ReadFileBeneath(session.tree_dir(), name, npm::kMaxLockfileBytes);
    if (!after_text.ok()) {
      return Fail("lockfile",
                  absl::FailedPreconditionError(absl::StrCat("npm left no readable ", name, ": ",
                                                             after_text.status().message())));
    }
    std::vector<npm::ProjectDiagnostic> diagnostics;
    std::optional<npm::Lockfile> before = npm::ParseLockfile(before_text, name, diagnostics);
    std::optional<npm::Lockfile> after = npm::ParseLockfile(*after_text, name, diagnostics);
    if (!before.has_value() || !after.has_value()) {
      std::string why = diagnostics.empty() ? "" : diagnostics.front().message;
      return Fail("lockfile", absl::FailedPreconditionError(absl::StrCat(
                                  "the regenerated ", name, " cannot be read: ", why)));
    }
    tree_ = scoring::CompareTrees(*before, *after);
    known_names_ = scoring::KnownNames(*before, job_.result().plan().dependencies());
    absl::StatusOr<npm::LockfileDiff> diff = npm::VerifyLockfile(*before, *after, Intended(deps));
    if (!diff.ok()) return Fail("lockfile", diff.status());
    locked_ = std::make_pair(*std::move(before), *std::move(after));
    ovvoc::v1::LockfileChange* change = out_.mutable_lockfile_change();
    change->set_changed(diff->changed);
    change->set_added(diff->added);
    change->set_removed(diff->removed);
    for (const std::string& package : diff->added_with_install_scripts) {
      change->add_install_scripts(package);
    }
    if (diff->outside_total > 0) {
      ovvoc::v1::SecurityFinding* finding = out_.add_findings();
      finding->set_kind("lockfile-outside-update");
      finding->set_severity(ovvoc::v1::SEVERITY_LOW);
      finding->set_detail(absl::StrCat(
          "the regenerated lockfile changed ", diff->outside_total,
          " package(s) the update does not reach: ",
          absl::StrJoin(diff->outside.begin(),
                        diff->outside.begin() + std::min<size_t>(diff->outside.size(), 5), ", ")));
    }
    // A repository without a lockfile gets none on its branch: npm made one only to prove it.
    if (job_.project().has_lockfile) branch_files_[name] = *after_text;
    OVVOC_RETURN_IF_ERROR(WriteFileBeneath(dir, name, *after_text, ::geteuid(), ::getegid(), 0644));
    return *std::move(after_text);
  }

  // The proposal's manifests and lockfile, as the agent wrote and verified them before any
  // dependency code ran, as one commit on its branch, when the job writes branches. A commit
  // that cannot be written leaves the proposal passed, and says why in the job's advice.
  void Commit() {
    const std::optional<JobEnv::Branches>& branches = job_.env().branches;
    if (!branches.has_value()) return;
    git::CommitFilesOptions options;
    options.repo_dir = branches->repo_dir;
    options.parent = job_.result().head_commit();
    options.branch = out_.branch();
    options.files = branch_files_;
    options.name = branches->author_name;
    options.email = branches->author_email;
    options.message = CommitMessage(out_);
    options.time = job_.Now();
    absl::StatusOr<std::string> commit;
    {
      absl::MutexLock lock(&context_.commit_mu);
      commit = git::CommitFiles(options);
    }
    if (commit.ok()) {
      out_.set_commit(*commit);
      return;
    }
    job_.UpdateResult([&](ovvoc::v1::JobResult& result) {
      ovvoc::v1::Advice* advice = result.add_advice();
      advice->set_subject("branch");
      advice->set_message(absl::StrCat("the branch ", out_.branch(),
                                       " was not written: ", commit.status().message()));
    });
  }

  // What the install or the build left of the packages the update does not change, held to what
  // the baseline's left at the same point (scoring::CompareInstalls): findings, each of which
  // fails the proposal in NoNewFindings.
  void HoldInstallToBaseline(SandboxSession& session, scoring::InstallStage stage) {
    const std::optional<InstalledTree>& baseline = stage == scoring::InstallStage::kInstall
                                                       ? job_.project().installed
                                                       : job_.project().installed_after_build;
    if (!baseline.has_value() || !locked_.has_value()) return;
    absl::StatusOr<InstalledTree> now = ReadInstalledTree(session.tree_dir());
    if (!now.ok()) {
      log::Warning("job %s: cannot read a proposal's node_modules: %s", Who(),
                   now.status().ToString());
      return;
    }
    for (ovvoc::v1::SecurityFinding& finding : scoring::InstallFindings(
             scoring::CompareInstalls(*baseline, *now, locked_->first, locked_->second, stage))) {
      // What the install left is said once, not again after the build.
      const bool said =
          !finding.package().empty() && std::any_of(out_.findings().begin(), out_.findings().end(),
                                                    [&](const ovvoc::v1::SecurityFinding& f) {
                                                      return f.kind() == finding.kind() &&
                                                             f.package() == finding.package();
                                                    });
      if (!said) *out_.add_findings() = std::move(finding);
    }
  }

  // No egress the baseline did not also attempt, and no tampering it did not also do (a
  // repository file rewritten, node_modules/.bin shadowing node: red team, issue 12, where an
  // update that broke the tests passed through its own planted `node`). Each is a finding
  // already; a new one fails the proposal.
  absl::Status NoNewFindings() {
    for (const ovvoc::v1::SecurityFinding& finding : out_.findings()) {
      if (!IsEgress(finding) && finding.severity() < ovvoc::v1::SEVERITY_HIGH) continue;
      const bool in_baseline =
          std::any_of(job_.result().findings().begin(), job_.result().findings().end(),
                      [&](const ovvoc::v1::SecurityFinding& seen) {
                        return seen.kind() == finding.kind() && seen.detail() == finding.detail();
                      });
      if (in_baseline) continue;
      if (IsEgress(finding)) {
        return Fail("egress", absl::PermissionDeniedError(absl::StrCat(
                                  "the updated dependencies attempted egress the baseline did "
                                  "not: ",
                                  finding.detail())));
      }
      return Fail("tampering", absl::PermissionDeniedError(absl::StrCat(
                                   "the updated dependencies did what the baseline's did not (",
                                   finding.kind(), "): ", finding.detail())));
    }
    return absl::OkStatus();
  }

  JobContext& job_;
  const ProposalContext& context_;
  ProposalResult& out_;
  const bool commit_;
  const google::protobuf::RepeatedPtrField<ovvoc::v1::SecurityFinding>* const earlier_;
  bool reuse_allowed_ = true;        // the install may start from the baseline's node_modules
  bool put_install_failed_ = false;  // and it could not be put in the tree
  // Whether failing tests ran once more, and how that went.
  enum class TestsAgain { kNo, kFailedAgain, kPassedAgain, kInFreshContainer };
  TestsAgain tests_again_ = TestsAgain::kNo;
  std::string label_;                // the attempt's ("p3", "p3r"): its copy, disk and container
  std::string phase_;
  std::map<std::string, std::string> branch_files_;  // path -> what the branch's commit holds
  std::optional<scoring::TreeChange> tree_;          // once the new lockfile was read
  std::optional<std::pair<npm::Lockfile, npm::Lockfile>> locked_;  // before, after: the same
  std::vector<std::string> known_names_;             // the names the repository used before
  // Once the lockfile verified: it and the result as it stood then, which a second attempt
  // (StartAgain) starts from instead of resolving again.
  struct Resolved {
    ProposalResult result;
    std::string lockfile;
    // What npm read resolving it, which its `npm ci` may ask for again (npm ci asks for a
    // packument when a bundle does not satisfy itself): SandboxSession::resolved_packuments().
    std::set<std::string> packuments;
  };
  std::optional<Resolved> resolved_;
};

}  // namespace

void RunProposal(JobContext& job, const ProposalContext& context,
                 const std::vector<const ovvoc::v1::PlannedDependency*>& deps,
                 const std::string& label, bool commit, ovvoc::v1::ProposalResult& out,
                 const google::protobuf::RepeatedPtrField<ovvoc::v1::SecurityFinding>* earlier) {
  ProposalRun(job, context, out, commit, earlier).Run(deps, label);
}

bool IsJudgedBehaviour(const ovvoc::v1::SecurityFinding& finding) {
  return (IsEgress(finding) || finding.severity() >= ovvoc::v1::SEVERITY_HIGH) &&
         finding.kind() != "typosquat" && finding.kind() != "dependency-confusion";
}

}  // namespace ovvoc::agent
