#include "agent/pipeline/trial.h"

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <optional>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "agent/npm/test_output.h"
#include "agent/pipeline/excerpt.h"
#include "agent/workspace/beneath.h"
#include "agent/workspace/installed.h"
#include "common/files.h"
#include "common/inert.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "common/time_util.h"

namespace ovvoc::agent {
namespace {

// npm's placeholder for a project without tests.
constexpr char kNpmDefaultTest[] = "echo \"Error: no test specified\" && exit 1";

// `.ovvoc.yml`'s `test:` and `build:` commands run as lines of one bash script that stops at the
// first failing one, as a CI step runs its `run:`.
constexpr char kShell[] = "/bin/bash";
constexpr char kShellFlags[] = "-ec";

std::vector<std::string> ShellCommands(const std::vector<std::string>& commands) {
  return {kShell, kShellFlags, absl::StrJoin(commands, "\n")};
}

std::string Mib(uint64_t bytes) { return absl::StrCat(bytes >> 20, " MiB"); }

// One line a human can act on, for a phase that did not succeed.
std::string Reason(const std::string& command, const sandbox::ExecResult& r,
                   const sandbox::Limits& limits) {
  if (r.container_lost) {
    return absl::StrCat("`", command, "` ended with its container: the container's init went away");
  }
  switch (r.termination) {
    case ovvoc::v1::TERMINATION_TIMEOUT:
      return absl::StrCat("`", command, "` did not finish within ",
                          absl::FormatDuration(limits.phase_timeout), " and was stopped");
    case ovvoc::v1::TERMINATION_OOM:
      // The agent's limit, which a job may lower and never raise: the operator's to change.
      return absl::StrCat("`", command, "` was killed by the OOM killer at the ",
                          Mib(limits.memory_bytes),
                          " memory limit (the agent's --memory-mib; a job may only lower it)");
    case ovvoc::v1::TERMINATION_PIDS:
      return absl::StrCat("`", command, "` hit the ", limits.pids, "-process limit");
    case ovvoc::v1::TERMINATION_DISK:
      return absl::StrCat("`", command, "` ran out of disk: the job disk is capped at ",
                          Mib(limits.disk_bytes));
    case ovvoc::v1::TERMINATION_CANCELLED:
      return absl::StrCat("`", command, "` was cancelled");
    case ovvoc::v1::TERMINATION_SIGNALED:
      return absl::StrCat("`", command, "` was killed by signal ", r.exit_code - 128);
    default:
      return absl::StrCat("`", command, "` exited with status ", r.exit_code);
  }
}

// Anything secret that could have reached a log: the forge token, and registry credentials
// (which never enter the container, but a registry may echo them in an error).
std::string Scrub(std::string text, const JobContext& job, const SandboxSession& session) {
  auto redact = [&text](const std::string& secret) {
    if (secret.size() >= 4) absl::StrReplaceAll({{secret, "[redacted]"}}, &text);
  };
  redact(job.spec().forge_token().token());
  for (const ovvoc::v1::Registry& registry : job.spec().registries()) {
    redact(registry.credential().token());
    redact(registry.credential().password());
  }
  for (const std::string& secret : session.Secrets()) redact(secret);
  return text;
}

// One step's run: what the helpers below share.
struct StepContext {
  JobContext& job;
  SandboxSession& session;
  const TrialRecord& record;
  const char* name;
};

// The work tree's `name` is what the job read from the clone, byte for byte (absent when
// `cloned` is): else it is put back, and the change is a finding. An error when it cannot be.
absl::Status KeepClonedFile(const StepContext& c, const char* name,
                            const std::optional<std::string>& cloned) {
  const std::string tree = c.session.tree_dir();
  absl::StatusOr<std::string> now =
      ReadFileBeneath(tree, name, cloned.has_value() ? cloned->size() : 0);
  if (cloned.has_value() ? now.ok() && *now == *cloned : absl::IsNotFound(now.status())) {
    return absl::OkStatus();
  }
  ovvoc::v1::SecurityFinding* finding = c.record.findings->Add();
  finding->set_kind("manifest-tampered");
  finding->set_severity(ovvoc::v1::SEVERITY_HIGH);
  finding->set_detail(
      absl::StrCat(name, " was changed inside the sandbox before ", c.name, " (",
                   now.ok() || absl::IsResourceExhausted(now.status()) ? "other contents"
                                                                       : now.status().message(),
                   "); the agent ",
                   cloned.has_value() ? "put back the copy it read" : "removed it, as it was not",
                   " in the repository before any code ran"));
  absl::Status kept =
      cloned.has_value()
          ? ReplaceFileBeneath(tree, name, *cloned, c.session.job_uid(), c.session.job_uid(), 0644)
          : RemoveFileBeneath(tree, name);
  if (!kept.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        name, " was changed inside the sandbox and cannot be put back: ", kept.message()));
  }
  return absl::OkStatus();
}

// Dependencies' executables that npm puts first on every script's PATH and that take the name
// of a program of the image (node_modules/.bin/node runs instead of node): a finding each. A
// node_modules or .bin that cannot be listed as a plain directory (a symlink elsewhere, too
// many entries) is a finding too: what it holds cannot be vouched for.
void ReportShadowedPrograms(const StepContext& c, absl::string_view when) {
  // The image's programs that npm scripts call by name (red team, issue 12: mkdir, grep, sed
  // and the like, which a package's bin of that name would replace in every script).
  static constexpr const char* kPrograms[] = {
      "node",    "npm",  "npx",   "corepack", "sh",      "bash",     "env",  "git",      "python",
      "python3", "make", "cc",    "gcc",      "g++",     "c++",      "ld",   "tar",      "cat",
      "ls",      "cp",   "mv",    "rm",       "chmod",   "mkdir",    "grep", "sed",      "awk",
      "xargs",   "find", "sleep", "echo",     "touch",   "ln",       "head", "tail",     "sort",
      "printf",  "test", "gzip",  "perl",     "dirname", "basename", "tee",  "diff",     "cmp",
      "wc",      "cut",  "tr",    "timeout",  "expr",    "uniq",     "stat", "readlink", "realpath",
      "mktemp",  "true", "false"};
  constexpr size_t kMaxBinEntries = 100'000;
  // `detail` starts with what it is about; said once per job, not before every phase.
  auto add = [&](std::string detail) {
    const absl::string_view subject = absl::string_view(detail).substr(0, detail.find(' '));
    for (const ovvoc::v1::SecurityFinding& seen : *c.record.findings) {
      if (seen.kind() == "shadowed-program" &&
          absl::StartsWith(seen.detail(), absl::StrCat(subject, " "))) {
        return;
      }
    }
    ovvoc::v1::SecurityFinding* finding = c.record.findings->Add();
    finding->set_kind("shadowed-program");
    finding->set_severity(ovvoc::v1::SEVERITY_HIGH);
    finding->set_detail(std::move(detail));
  };
  for (const char* dir : {"node_modules", "node_modules/.bin"}) {
    absl::Status listable = ListDirBeneath(c.session.tree_dir(), dir, 0).status();
    if (!listable.ok() && !absl::IsNotFound(listable)) {
      add(absl::StrCat(dir, " is not a plain directory ", when, " (", listable.message(),
                       "): npm would look there for the programs of every script"));
      return;
    }
  }
  absl::StatusOr<std::vector<std::string>> names =
      ListDirBeneath(c.session.tree_dir(), "node_modules/.bin", kMaxBinEntries + 1);
  if (!names.ok()) return;  // no dependency has a program
  if (names->size() > kMaxBinEntries) {
    add(absl::StrCat("node_modules/.bin holds more than ", kMaxBinEntries, " entries ", when,
                     ", too many to check"));
  }
  for (const std::string& name : *names) {
    if (std::find(std::begin(kPrograms), std::end(kPrograms), name) == std::end(kPrograms)) {
      continue;
    }
    add(absl::StrCat("node_modules/.bin/", name, " (", when, ") runs instead of the image's ", name,
                     " in every npm script"));
  }
}

// The clone's files as the work tree must have them: every one but package.json and .npmrc
// (KeepClonedFile's) and `also`; node_modules is npm's. What differed is put back; its paths
// are returned. `when` names the step in the error.
absl::StatusOr<std::vector<std::string>> PutBackClonedFiles(const StepContext& c, const char* when,
                                                            const std::vector<std::string>& also) {
  std::vector<std::string> skip = {"package.json", ".npmrc"};
  skip.insert(skip.end(), also.begin(), also.end());
  absl::StatusOr<std::vector<std::string>> restored = RestoreTreeBeneath(
      c.session.source_dir(), c.session.tree_dir(), c.session.job_uid(), c.session.job_uid(), skip);
  if (!restored.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the repository's files were changed during ", when,
                     " and cannot be put back: ", restored.status().message()));
  }
  return restored;
}

// A finding: "<lead> N <what>: a, b, ... and K more<tail>", naming the first 20 paths.
void AddPathsFinding(const StepContext& c, const char* kind, ovvoc::v1::Severity severity,
                     absl::string_view lead, const std::vector<std::string>& paths,
                     absl::string_view what, absl::string_view tail) {
  constexpr size_t kNamed = 20;
  std::vector<std::string> named(paths.begin(), paths.begin() + std::min(paths.size(), kNamed));
  ovvoc::v1::SecurityFinding* finding = c.record.findings->Add();
  finding->set_kind(kind);
  finding->set_severity(severity);
  finding->set_detail(absl::StrCat(
      lead, " ", paths.size(), " ", what, ": ", absl::StrJoin(named, ", "),
      paths.size() > kNamed ? absl::StrCat(" and ", paths.size() - kNamed, " more") : "", tail));
}

// After the install, every file of the clone stands in the work tree as cloned; what was
// changed is put back, and a finding names it.
absl::Status RestoreClonedTree(const StepContext& c) {
  OVVOC_ASSIGN_OR_RETURN(std::vector<std::string> restored, PutBackClonedFiles(c, "install", {}));
  if (restored.empty()) return absl::OkStatus();
  AddPathsFinding(c, "repo-tampered", ovvoc::v1::SEVERITY_HIGH,
                  "the install (dependencies' scripts) changed", restored,
                  "of the repository's own files",
                  "; the agent put back what it cloned before build and test");
  return absl::OkStatus();
}

// What the baseline's install or build left in node_modules, for proposals to be held to.
// Unreadable, it is unset (and proposals unchecked), as the log says.
std::optional<InstalledTree> ReadBaselineInstall(const StepContext& c) {
  absl::StatusOr<InstalledTree> installed = ReadInstalledTree(c.session.tree_dir());
  if (!installed.ok()) {
    log::Warning("job %s: cannot read the baseline's node_modules after %s: %s",
                 c.job.spec().job_id(), c.name, installed.status().ToString());
    return std::nullopt;
  }
  return *std::move(installed);
}

void DropKeptInstall(JobContext& job) {
  if (!job.project().kept_install.has_value()) return;
  if (absl::Status removed = files::RemoveTree(job.project().kept_install->dir); !removed.ok()) {
    log::Warning("job %s: %s", job.spec().job_id(), removed.ToString());
  }
  job.project().kept_install.reset();
}

// The baseline's node_modules as its install left them, copied out of the work tree before the
// build runs, for proposals to start from (SandboxSession::KeepInstall). Without it proposals
// run `npm ci` from nothing, as the log says.
void KeepBaselineInstall(const StepContext& c) {
  const std::optional<InstalledTree>& installed = c.job.project().installed;
  if (!installed.has_value()) return;
  absl::StatusOr<ClonedProject::KeptInstall> kept =
      c.session.KeepInstall(*installed, c.job.work_dir() + "/baseline-install");
  if (!kept.ok()) {
    log::Info("job %s: the baseline's node_modules are not kept for the proposals: %s",
              c.job.spec().job_id(), kept.status().ToString());
    return;
  }
  kept->node_major = c.job.project().node_major;
  c.job.project().kept_install = *std::move(kept);
}

// Paths outside node_modules that the step made and the repository lacks (AddedBeneath). The
// baseline's are recorded: a hook directory its install makes, its build's dist/. A proposal's
// install may make the very same paths and no others: any other is a HIGH finding (dependencies'
// scripts planted it: a test/helper.js that node loads before test/helper/index.js, a file in a
// directory the project's prepare script generates). A proposal's build may make new paths in
// the directories where the baseline's build made some (a bundler's content-hashed chunks in
// dist/); any other is removed before the tests, with a finding.
// Whether one of the root project's own install scripts names one of `updated` as a word
// (`"prepare": "husky install"`): then the update's new version of that tool ran as the
// project's own code during the install, and what it makes differently is the tool's doing
// (husky 9 makes its hook stubs where husky 8 made none; a real-project check found it).
bool RootScriptsRun(const ClonedProject& project, const std::vector<std::string>& updated) {
  for (const char* lifecycle :
       {"preinstall", "install", "postinstall", "preprepare", "prepare", "postprepare"}) {
    auto it = project.scripts.find(lifecycle);
    if (it == project.scripts.end()) continue;
    for (absl::string_view word :
         absl::StrSplit(it->second, absl::ByAnyChar(" \t\n;&|()<>'\"="), absl::SkipEmpty())) {
      if (std::find(updated.begin(), updated.end(), word) != updated.end()) return true;
    }
  }
  return false;
}

absl::Status CheckAddedPaths(const StepContext& c, TrialStep step) {
  const AddedPaths added = AddedBeneath(c.session.source_dir(), c.session.tree_dir());
  ClonedProject& project = c.job.project();
  const bool install = step == TrialStep::kInstall;
  if (!c.record.proposal) {
    (install ? project.install_added : project.build_added) =
        std::set<std::string>(added.paths.begin(), added.paths.end());
    (install ? project.install_added_whole : project.build_added_whole) = added.complete;
    return absl::OkStatus();
  }
  if (!project.install_added_whole || (!install && !project.build_added_whole)) {
    log::Warning("job %s: the baseline made too many paths to hold a proposal's %s to",
                 c.job.spec().job_id(), c.name);
    return absl::OkStatus();
  }
  std::set<std::string> output_dirs;  // where the baseline's build made paths
  if (!install) {
    for (const std::string& path : project.build_added) {
      output_dirs.insert(std::filesystem::path(path).parent_path().string());
    }
  }
  std::vector<std::string> unexpected;
  for (const std::string& path : added.paths) {
    if (project.install_added.count(path) > 0 || project.build_added.count(path) > 0) continue;
    if (!install && c.record.install_made != nullptr && c.record.install_made->count(path) > 0) {
      continue;
    }
    if (!install && output_dirs.count(std::filesystem::path(path).parent_path().string()) > 0) {
      continue;
    }
    unexpected.push_back(path);
  }
  if (install && c.record.install_made != nullptr) {
    c.record.install_made->insert(unexpected.begin(), unexpected.end());
  }
  if (unexpected.empty() && added.complete) return absl::OkStatus();
  std::vector<std::string> named = unexpected;
  if (!added.complete) named.push_back("(and more: the agent stopped looking)");
  if (install) {
    // Shown, not held against the update, when the project's own install script runs the
    // updated tool; planted by a dependency's script otherwise.
    const bool own = RootScriptsRun(project, c.record.updated);
    AddPathsFinding(c, "install-added-files",
                    own ? ovvoc::v1::SEVERITY_MEDIUM : ovvoc::v1::SEVERITY_HIGH,
                    own ? "the install (the project's own install scripts, running the updated "
                          "tool) made"
                        : "the install (dependencies' scripts) made",
                    named, "path(s) outside node_modules that the baseline's install did not", "");
    return absl::OkStatus();
  }
  for (const std::string& path : unexpected) {
    // No job process runs between phases: nothing can swap a directory of this path for a
    // link meanwhile, and remove_all does not follow the last component's.
    OVVOC_RETURN_IF_ERROR(files::RemoveTree(absl::StrCat(c.session.tree_dir(), "/", path)));
  }
  AddPathsFinding(c, "build-changed-files", ovvoc::v1::SEVERITY_MEDIUM,
                  "with the update, the build made", named, "path(s) the baseline's build did not",
                  "; the agent removed them before the tests");
  return absl::OkStatus();
}

// What a proposal's failed install did to the repository's files and beside node_modules, as a
// passing one's is reported: the update's scripts may tamper and then fail on purpose, and what
// they did is evidence all the same (red team, issue 12). The proposal fails either way.
void ReportFailedInstall(const StepContext& c) {
  for (const absl::Status& status :
       {CheckAddedPaths(c, TrialStep::kInstall), RestoreClonedTree(c)}) {
    if (!status.ok()) {
      log::Warning("job %s: after a failed install: %s", c.job.spec().job_id(), status.ToString());
    }
  }
}

// What a passing build changed of the repository's own files. The baseline's build may change
// any: a generated source, a committed dist/ rebuilt; those are recorded. A proposal's build may
// change the same files, built by the updated dependencies, and no others: a test, a fixture or
// a source the baseline's build left alone is put back before the tests run, and a finding
// names it.
absl::Status CheckBuildChanges(const StepContext& c) {
  OVVOC_RETURN_IF_ERROR(CheckAddedPaths(c, TrialStep::kBuild));
  if (!c.record.proposal) {
    OVVOC_ASSIGN_OR_RETURN(
        c.job.project().build_changes,
        ChangedBeneath(c.session.source_dir(), c.session.tree_dir(), {"package.json", ".npmrc"}));
    c.job.project().installed_after_build = ReadBaselineInstall(c);
    return absl::OkStatus();
  }
  OVVOC_ASSIGN_OR_RETURN(std::vector<std::string> restored,
                         PutBackClonedFiles(c, "build", c.job.project().build_changes));
  if (restored.empty()) return absl::OkStatus();
  AddPathsFinding(c, "build-changed-files", ovvoc::v1::SEVERITY_MEDIUM,
                  "with the update, the build changed", restored,
                  "of the repository's own files that the baseline's build left alone",
                  "; the agent put back what it cloned before the tests");
  return absl::OkStatus();
}

ovvoc::v1::CommandOutcome* Outcome(ovvoc::v1::Trial& trial, TrialStep step) {
  switch (step) {
    case TrialStep::kLockfile:
      return trial.mutable_lockfile();
    case TrialStep::kInstall:
      return trial.mutable_install();
    case TrialStep::kBuild:
      return trial.mutable_build();
    case TrialStep::kTest:
      return trial.mutable_test();
  }
  return trial.mutable_test();
}

SandboxSession::Network StepNetwork(TrialStep step) {
  switch (step) {
    case TrialStep::kLockfile:
      return SandboxSession::Network::kResolve;
    case TrialStep::kInstall:
      return SandboxSession::Network::kScript;
    default:
      return SandboxSession::Network::kNone;
  }
}

}  // namespace

const char* StepName(TrialStep step) {
  switch (step) {
    case TrialStep::kLockfile:
      return "lockfile";
    case TrialStep::kInstall:
      return "install";
    case TrialStep::kBuild:
      return "build";
    case TrialStep::kTest:
      return "test";
  }
  return "test";
}

std::string DisplayCommand(const std::vector<std::string>& argv) {
  if (argv.size() == 3 && argv[0] == kShell && argv[1] == kShellFlags) return argv[2];
  return absl::StrJoin(argv, " ");
}

std::vector<std::string> ProjectCommand(const JobContext& job, TrialStep step) {
  const ClonedProject& project = job.project();
  switch (step) {
    case TrialStep::kLockfile:
      // A repository without a lockfile gets one first, resolved through the gateway with no
      // dependency code running, so that the install is always `npm ci` of a lockfile the
      // agent has read.
      if (project.has_lockfile) return {};
      return {"npm",        "install",  "--package-lock-only", "--ignore-scripts",
              "--no-audit", "--no-fund"};
    case TrialStep::kInstall:
      return {"npm", "ci"};
    case TrialStep::kBuild:
      if (!project.build_commands.empty()) return ShellCommands(project.build_commands);
      if (project.build_script.empty()) return {};
      return {"npm", "run", "build", "--if-present"};
    case TrialStep::kTest:
      if (!project.test_commands.empty()) return ShellCommands(project.test_commands);
      if (project.test_script.empty() || project.test_script == kNpmDefaultTest) return {};
      return {"npm", "test"};
  }
  return {};
}

absl::Status RunTrialStep(JobContext& job, SandboxSession& session, TrialStep step,
                          std::vector<std::string> argv, const TrialRecord& record) {
  const StepContext c{job, session, record, StepName(step)};
  const SandboxSession::Network network = StepNetwork(step);
  ovvoc::v1::CommandOutcome* outcome = Outcome(*record.trial, step);
  outcome->set_command(DisplayCommand(argv));
  if (argv.empty()) {
    outcome->set_skipped(true);
    return absl::OkStatus();
  }
  // `npm ci` with scripts: dependency code runs, so the gateway serves only what the agent
  // fetched and checked beforehand, and nothing goes upstream.
  if (step == TrialStep::kInstall) OVVOC_RETURN_IF_ERROR(session.PrefetchLockfile(job));
  // A baseline run again (on another node) keeps only its last install's node_modules.
  if (step == TrialStep::kInstall && !record.proposal) DropKeptInstall(job);
  // After the install, dependency code has run and may have rewritten what npm reads to decide
  // what and how to run (the scripts, the script shell, node's options): put back what the job
  // read or wrote before any of it ran.
  if (network == SandboxSession::Network::kNone) {
    OVVOC_RETURN_IF_ERROR(session.ClearHome());
    OVVOC_RETURN_IF_ERROR(session.ClearTmp(job));
    OVVOC_RETURN_IF_ERROR(session.PutBackGit());
    OVVOC_RETURN_IF_ERROR(KeepClonedFile(c, "package.json", *record.manifest));
    OVVOC_RETURN_IF_ERROR(KeepClonedFile(c, ".npmrc", *record.npmrc));
    ReportShadowedPrograms(c, absl::StrCat("before ", c.name));
  }
  session.set_findings(record.findings);
  OVVOC_ASSIGN_OR_RETURN(sandbox::ExecResult r, session.Run(job, c.name, argv, network));
  outcome->set_exit_code(r.exit_code);
  outcome->set_termination(r.termination);
  if (step == TrialStep::kTest) {
    // Counted from what the tests printed: the container's words, bounded by the parser.
    if (std::optional<npm::TestSummary> counted = npm::ParseTestOutput(r.output)) {
      ovvoc::v1::TestCounts* tests = outcome->mutable_tests();
      tests->set_passed(counted->passed);
      tests->set_failed(counted->failed);
      tests->set_skipped(counted->skipped);
      tests->set_total(counted->total);
      tests->set_runner(counted->runner);
    }
  }
  // A failure's excerpt is cut to show its error (excerpt.h); scrubbed whole first, since a cut
  // could split a secret, and made inert before it is cut, since escaping a control byte takes
  // four (red team, issue 11: a 10 KiB excerpt of control bytes stored 40 KiB). A passing
  // command keeps its output as bounded.
  const bool passed = r.termination == ovvoc::v1::TERMINATION_EXITED && r.exit_code == 0;
  std::string scrubbed = InertText(Scrub(r.output, job, session), r.output.size() * 4 + 64);
  const std::string excerpt = passed ? std::move(scrubbed) : CommandExcerpt(scrubbed);
  outcome->set_log_excerpt(excerpt);
  *outcome->mutable_duration() = ToProto(r.duration);
  job.UpdateResult([&r](ovvoc::v1::JobResult& result) {
    ovvoc::v1::ResourceUsage* usage = result.mutable_resources();
    usage->set_peak_memory_bytes(std::max(usage->peak_memory_bytes(), r.peak_memory_bytes));
    usage->set_peak_working_set_bytes(
        std::max(usage->peak_working_set_bytes(), r.peak_working_set_bytes));
    usage->set_peak_cache_bytes(std::max(usage->peak_cache_bytes(), r.peak_cache_bytes));
    *usage->mutable_cpu_time() = ToProto(FromProto(usage->cpu_time()) + r.cpu_time);
  });
  if (passed) {
    // The install ran every dependency's scripts, used or not by the project: whatever they
    // changed of the repository's own files is put back before the project's code runs.
    if (step == TrialStep::kInstall) {
      if (!record.proposal) {
        c.job.project().installed = ReadBaselineInstall(c);
        KeepBaselineInstall(c);
      }
      OVVOC_RETURN_IF_ERROR(CheckAddedPaths(c, step));
      return RestoreClonedTree(c);
    }
    if (step == TrialStep::kBuild) return CheckBuildChanges(c);
    return absl::OkStatus();
  }
  ovvoc::v1::FailureReport* failure = record.failure;
  failure->set_termination(r.termination);
  failure->set_exit_code(r.exit_code);
  failure->set_log_excerpt(excerpt);
  std::string reason = Reason(outcome->command(), r, session.limits());
  if (const std::vector<std::string>& problems = session.gateway_problems(); !problems.empty()) {
    constexpr size_t kShown = 3;
    absl::StrAppend(&reason, "; the registry gateway could not serve ", problems.size(),
                    " read(s): ",
                    absl::StrJoin(problems.begin(),
                                  problems.begin() + std::min(problems.size(), kShown), "; "));
  }
  if (step == TrialStep::kInstall && record.proposal) ReportFailedInstall(c);
  return absl::AbortedError(Scrub(std::move(reason), job, session));
}

}  // namespace ovvoc::agent
