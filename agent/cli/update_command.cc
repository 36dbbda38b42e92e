#include "agent/cli/update_command.h"

#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/cli/json_output.h"
#include "agent/cli/sandbox_flags.h"
#include "agent/cli/shutdown_signals.h"
#include "agent/config/config.h"
#include "agent/pipeline/baseline_memo.h"
#include "agent/pipeline/pipeline.h"
#include "common/files.h"
#include "common/ids.h"
#include "common/job_text.h"
#include "common/logging.h"
#include "common/time_util.h"

namespace ovvoc::agent::cli {
namespace {

struct UpdateFlags {
  std::string repo;
  std::string json_out;
  std::string policy_file;
  std::string state_dir = DefaultConfigDir();
  bool no_branches = false;
  bool rerun_baseline = false;
  bool rerun_proposals = false;
  std::string author = "ovvoc[bot] <bot@ovvoc.invalid>";
  SandboxFlags sandbox;
};

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "error: %s\n", std::string(status.message()).c_str());
  return 2;
}

// A local path becomes a file:// URL; URLs pass through.
std::string RepoUrl(const std::string& repo) {
  if (absl::StrContains(repo, "://")) return repo;
  std::error_code ec;
  return "file://" + std::filesystem::absolute(repo, ec).lexically_normal().string();
}

// The local repository `--repo` names: a path or a file:// URL; nullopt for a remote.
std::optional<std::string> LocalRepo(const std::string& repo) {
  absl::string_view path = repo;
  if (absl::StrContains(repo, "://") && !absl::ConsumePrefix(&path, "file://")) return std::nullopt;
  std::error_code ec;
  return std::filesystem::absolute(std::string(path), ec).lexically_normal().string();
}

// "Name <email>" as git writes an identity.
absl::StatusOr<JobEnv::Branches> ParseAuthor(const std::string& author) {
  const size_t open = author.find('<');
  const size_t close = author.rfind('>');
  if (open == std::string::npos || close != author.size() - 1 || close < open) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--author must read \"Name <email>\", as git writes an identity; got \"", author, "\""));
  }
  JobEnv::Branches out;
  out.author_name = std::string(absl::StripAsciiWhitespace(author.substr(0, open)));
  out.author_email = author.substr(open + 1, close - open - 1);
  if (out.author_name.empty() || out.author_email.empty()) {
    return absl::InvalidArgumentError("--author needs both a name and an email: \"Name <email>\"");
  }
  return out;
}

std::string Lower(const std::string& enum_name, absl::string_view prefix) {
  return absl::AsciiStrToLower(enum_name.substr(prefix.size()));
}

void PrintCommand(const char* phase, const ovvoc::v1::CommandOutcome& c) {
  if (c.command().empty() && !c.skipped()) return;
  if (c.skipped()) {
    std::printf("  %-8s skipped (no script)\n", phase);
    return;
  }
  if (c.termination() == ovvoc::v1::TERMINATION_UNSPECIFIED) {  // an earlier phase failed
    std::printf("  %-8s %-28s not run\n", phase, c.command().c_str());
    return;
  }
  std::printf("  %-8s %-28s exit %-4d %-10s %.1fs\n", phase, c.command().c_str(), c.exit_code(),
              Lower(ovvoc::v1::Termination_Name(c.termination()), "TERMINATION_").c_str(),
              absl::ToDoubleSeconds(FromProto(c.duration())));
}

void PrintSummary(const ovvoc::v1::JobResult& r) {
  std::printf("%s\n", Lower(ovvoc::v1::JobOutcome_Name(r.outcome()), "JOB_OUTCOME_").c_str());
  if (!r.head_commit().empty()) std::printf("  commit   %s\n", r.head_commit().c_str());
  std::printf("  deps     %d declared\n", r.dependencies_size());
  if (r.has_plan()) {
    std::map<ovvoc::v1::PlanDecision, int> count;
    for (const auto& d : r.plan().dependencies()) ++count[d.decision()];
    std::printf("  plan     %d to update, %d held, %d up to date, %d skipped, %d errors (policy: %s)\n",
                count[ovvoc::v1::PLAN_DECISION_UPDATE], count[ovvoc::v1::PLAN_DECISION_HELD],
                count[ovvoc::v1::PLAN_DECISION_UP_TO_DATE], count[ovvoc::v1::PLAN_DECISION_SKIPPED],
                count[ovvoc::v1::PLAN_DECISION_ERROR], r.plan().policy_source().c_str());
    for (const auto& d : r.plan().dependencies()) {
      if (d.decision() != ovvoc::v1::PLAN_DECISION_UPDATE) continue;
      std::printf("           %s %s -> %s (%s -> %s)\n", d.name().c_str(),
                  d.current().empty() ? "?" : d.current().c_str(), d.target().c_str(),
                  d.spec().c_str(), d.new_spec().c_str());
    }
  }
  const ovvoc::v1::Trial& baseline = r.baseline();
  if (const std::string reuse = DescribeBaselineReuse(r); !reuse.empty()) {
    std::printf("  baseline %s\n", reuse.c_str());
  }
  if (baseline.has_lockfile()) PrintCommand("lockfile", baseline.lockfile());
  PrintCommand("install", baseline.install());
  PrintCommand("build", baseline.build());
  PrintCommand("test", baseline.test());
  if (const std::string tests = DescribeTests(baseline.test().tests()); !tests.empty()) {
    std::printf("  tests    %s\n", tests.c_str());
  }
  if (r.resources().peak_memory_bytes() > 0) {
    std::printf("  memory   %s\n", DescribeMemory(r.resources()).c_str());
  }
  if (const std::string node = DescribeNode(r.node()); !node.empty()) {
    std::printf("  node     %s\n", node.c_str());
  }
  if (const std::string npm = DescribeNpm(r.npm()); !npm.empty()) {
    std::printf("  npm      %s\n", npm.c_str());
  }
  for (const auto& a : r.advice()) std::printf("  advice   %s\n", a.message().c_str());
  if (r.resources().disk_bytes() > 0) {
    std::printf("  disk     %s written\n", HumanBytes(r.resources().disk_bytes()).c_str());
  }
  for (const auto& e : r.egress()) std::printf("  network  %s\n", DescribeEgress(e).c_str());
  for (const auto& f : r.findings())
    std::printf("  finding  %s: %s\n", f.kind().c_str(), f.detail().c_str());
  if (r.has_failure() && !r.failure().reason().empty()) {
    std::printf("  failed   %s: %s\n", r.failure().phase().c_str(), r.failure().reason().c_str());
  }
  if (r.proposals_size() > 0) {
    std::printf("proposals (%d, each proven in a container of its own):\n", r.proposals_size());
    for (absl::string_view line : absl::StrSplit(DescribeProposals(r), '\n', absl::SkipEmpty())) {
      std::printf("  %.*s\n", static_cast<int>(line.size()), line.data());
    }
  }
}

int Update(const UpdateFlags& flags) {
  ShutdownSignals signals;  // before any thread exists

  absl::StatusOr<LockedStateDir> state = LockStateDir(flags.state_dir);
  if (!state.ok()) return Fail(state.status());
  absl::StatusOr<std::unique_ptr<SandboxSetup>> sandbox = MakeSandbox(flags.sandbox, state->path);
  if (!sandbox.ok()) return Fail(sandbox.status());

  ovvoc::v1::JobSpec spec;
  spec.set_job_id(NewId("job"));
  spec.mutable_repo()->set_url(RepoUrl(flags.repo));
  spec.mutable_lease()->set_attempt(1);
  // The baseline this state dir remembers of the repository: used when the project is unchanged.
  const std::string memo_dir = state->path + "/baselines";
  if (!flags.rerun_baseline) {
    *spec.mutable_baseline_memo() = LoadBaselineMemo(memo_dir, spec.repo().url());
  }
  if (flags.rerun_proposals) spec.mutable_baseline_memo()->clear_proposals();
  JobEnv env;
  env.allow_file_remotes = true;  // the user named this repository themselves
  env.sandbox = &(*sandbox)->settings;
  env.policy_file = flags.policy_file;
  if (std::optional<std::string> local = LocalRepo(flags.repo); local && !flags.no_branches) {
    absl::StatusOr<JobEnv::Branches> branches = ParseAuthor(flags.author);
    if (!branches.ok()) return Fail(branches.status());
    branches->repo_dir = *local;
    env.branches = *std::move(branches);
  }
  const JobHost host(env, state->path + "/work");
  JobContext job(spec, env);

  signals.Watch(
      [&job](int signal_number, int) {
        log::Info("signal %d: cancelling the job", signal_number);
        job.Cancel("interrupted");
      },
      /*max=*/1);

  host.Run(job);
  signals.Stop();  // before `job`, which it may cancel, goes away
  if (job.memo().made.has_value()) {
    if (absl::Status saved = SaveBaselineMemo(memo_dir, spec.repo().url(), *job.memo().made);
        !saved.ok()) {
      log::Warning("the baseline is not remembered: %s", saved.message());
    }
  }

  PrintSummary(job.result());
  if (!flags.json_out.empty()) {
    if (absl::Status s = WriteJson(job.result(), flags.json_out); !s.ok()) return Fail(s);
  }
  return job.result().outcome() == ovvoc::v1::JOB_OUTCOME_SUCCEEDED ? 0 : 1;
}

}  // namespace

void AddUpdateCommand(CLI::App& app, int& exit_code, const SandboxExtensions* extensions) {
  auto* update = app.add_subcommand(
      "update", "Run one job on this machine, without a control plane, and print its result");
  auto flags = std::make_shared<UpdateFlags>();
  update->add_option("--repo", flags->repo, "Repository: a URL or a local path")->required();
  update
      ->add_option("--policy", flags->policy_file,
                   "Use FILE instead of the repository's .ovvoc.yml or .github/dependabot.yml")
      ->type_name("FILE");
  update->add_flag("--rerun-baseline", flags->rerun_baseline,
                   "Install, build and test the unmodified project even when this state dir "
                   "remembers it passing at the same commit, lockfile, image and commands");
  update->add_flag("--rerun-proposals", flags->rerun_proposals,
                   "Prove every proposal again, even those this state dir remembers proven "
                   "against the same baseline with nothing new since");
  update->add_flag("--no-branches", flags->no_branches,
                   "Do not write the passing proposals' branches into a local --repo");
  update
      ->add_option("--author", flags->author,
                   "Who the branches' commits are by, as \"Name <email>\"")
      ->capture_default_str();
  update->add_option("--json", flags->json_out,
                     "Also write the result as JSON to FILE (- for stdout)");
  update
      ->add_option("--state-dir", flags->state_dir,
                   "Agent-owned directory for work dirs and the verified image")
      ->capture_default_str();
  AddSandboxFlags(update, flags->sandbox, extensions);
  update->footer(
      "With a local --repo (a path or file:// URL), each proposal that passed is committed on its "
      "branch there (ovvoc/npm/...: its manifests and lockfile only, by --author); the work tree, "
      "index and HEAD are not touched.\n"
      "Exit status: 0 when the job succeeded, 1 when it failed (see the summary), 2 when it "
      "could not run.");
  update->callback([&exit_code, flags] { exit_code = Update(*flags); });
}

}  // namespace ovvoc::agent::cli
