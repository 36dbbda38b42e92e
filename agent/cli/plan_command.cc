#include "agent/cli/plan_command.h"

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/cli/json_output.h"
#include "agent/cli/sandbox_flags.h"
#include "agent/config/config.h"
#include "agent/git/git.h"
#include "agent/npm/plan.h"
#include "agent/pipeline/plan_step.h"
#include "agent/pipeline/sandbox_session.h"
#include "agent/sandbox/image.h"
#include "common/files.h"
#include "common/inert.h"
#include "common/job_text.h"
#include "common/plan_text.h"
#include "common/time_util.h"

namespace ovvoc::agent::cli {
namespace {

struct PlanFlags {
  std::string repo;
  std::string policy_file;
  std::string json_out;
  std::string state_dir = DefaultConfigDir();
  std::string node_version;
  std::string npm_version;
  SandboxFlags registry;
};

// A clone of a URL gives up after this (a stalled server must not hold the command forever).
constexpr absl::Duration kCloneTimeout = absl::Minutes(10);

int Fail(const absl::Status& status) {
  // The message may carry a git server's or a registry's words: printed inert.
  std::fprintf(stderr, "error: %s\n", InertLine(status.message(), 2000).c_str());
  return 2;
}

int Plan(const PlanFlags& flags) {
  absl::StatusOr<LockedStateDir> state = LockStateDir(flags.state_dir);
  if (!state.ok()) return Fail(state.status());
  absl::StatusOr<RegistryAccess> access = MakeRegistryAccess(flags.registry, state->path);
  if (!access.ok()) return Fail(access.status());

  // A URL is cloned into a directory of the state dir, removed afterwards; a path is read where
  // it is (nothing is written to it).
  std::string root = flags.repo;
  std::string clone_dir;
  if (absl::StrContains(flags.repo, "://")) {
    absl::StatusOr<std::string> dir = files::MakeTempDir(state->path, "plan-");
    if (!dir.ok()) return Fail(dir.status());
    clone_dir = *dir;
    git::CloneOptions options;
    options.url = flags.repo;
    options.destination = clone_dir + "/repo";
    options.deadline = absl::Now() + kCloneTimeout;
    std::fprintf(stderr, "cloning %s\n", flags.repo.c_str());
    absl::StatusOr<git::CloneResult> clone = git::Libgit2().Clone(options);
    if (!clone.ok()) {
      (void)files::RemoveTree(clone_dir);
      return Fail(clone.status());
    }
    root = options.destination;
  } else if (std::error_code ec; !std::filesystem::is_directory(root, ec)) {
    return Fail(absl::NotFoundError(absl::StrCat(root, " is not a directory")));
  }

  SandboxSettings settings;
  settings.registry_override = flags.registry.registry;
  settings.allow_internal = flags.registry.allow_internal;
  settings.credentials = access->credentials;
  ovvoc::v1::JobSpec spec;
  absl::StatusOr<std::vector<registry::RegistryEndpoint>> endpoints = JobEndpoints(spec, settings);
  if (!endpoints.ok()) return Fail(endpoints.status());

  PlanInputs inputs;
  inputs.policy_file = flags.policy_file;
  inputs.now = absl::Now();
  inputs.node_version = flags.node_version;
  inputs.npm_version = flags.npm_version;
  if (inputs.node_version.empty() || inputs.npm_version.empty()) {
    // What the flags leave open, from the job image: engines are checked against what a job
    // would run.
    sandbox::ImageConfig image{flags.registry.image_dir, flags.registry.image};
    absl::StatusOr<std::string> digest = sandbox::ResolveDigest(image);
    absl::StatusOr<sandbox::ImageRuntime> runtime =
        digest.ok() ? sandbox::ReadImageRuntime(image, *digest)
                    : absl::StatusOr<sandbox::ImageRuntime>(digest.status());
    if (runtime.ok()) {
      if (inputs.node_version.empty()) inputs.node_version = runtime->node;
      if (inputs.npm_version.empty()) inputs.npm_version = runtime->npm;
    } else {
      const char* unchecked = inputs.node_version.empty() && inputs.npm_version.empty()
                                  ? "engines are"
                              : inputs.node_version.empty() ? "engines.node is"
                                                            : "engines.npm is";
      std::fprintf(stderr,
                   "warning: %s: %s not checked (pass --node-version and --npm-version, or "
                   "build the image with deploy/image/build.sh)\n",
                   InertLine(runtime.status().message(), 500).c_str(), unchecked);
    }
  }
  if (!inputs.node_version.empty() && !absl::StartsWith(inputs.node_version, "v")) {
    inputs.node_version = "v" + inputs.node_version;
  }
  if (flags.node_version.empty() && flags.npm_version.empty() && flags.registry.image.empty()) {
    // As a job would: engines against the image of the node the project asks for.
    sandbox::ImageConfig images{flags.registry.image_dir, ""};
    for (const sandbox::NodeImage& image : sandbox::FindNodeImages(
             images, std::vector<int>(std::begin(kSupportedNodeMajors),
                                      std::end(kSupportedNodeMajors)))) {
      inputs.runtimes.push_back({image.major, image.runtime.node, image.runtime.npm});
      if (absl::StartsWith(inputs.node_version, absl::StrCat("v", image.major, "."))) {
        inputs.default_major = image.major;
      }
    }
  }

  std::fprintf(stderr, "reading registry metadata\n");
  const absl::Time give_up = absl::Now() + kPlanFetchBudget;
  RegistryPackuments source(*access->client, *std::move(endpoints), [give_up]() -> std::string {
    if (absl::Now() < give_up) return "";
    return absl::StrCat("not fetched: registry metadata took longer than ",
                        absl::FormatDuration(kPlanFetchBudget));
  });
  absl::StatusOr<CheckoutPlan> checkout = PlanCheckout(root, source, inputs);
  if (!clone_dir.empty()) (void)files::RemoveTree(clone_dir);
  if (!checkout.ok()) return Fail(checkout.status());
  ovvoc::v1::Plan* plan = &checkout->plan;
  MakeInert(*plan);
  if (checkout->node.has_value()) {
    ovvoc::v1::NodeChoice node = checkout->node->record;
    MakeInert(node);
    std::fprintf(stderr, "node: %s\n", DescribeNode(node).c_str());
  }

  if (flags.json_out != "-") {
    const std::string text = DescribePlan(*plan);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fprintf(stderr, "planned %d dependencies in %.2fs\n", plan->dependencies_size(),
                 absl::ToDoubleSeconds(FromProto(plan->duration())));
  }
  if (!flags.json_out.empty()) {
    if (absl::Status s = WriteJson(*plan, flags.json_out); !s.ok()) return Fail(s);
  }
  return 0;
}

}  // namespace

void AddPlanCommand(CLI::App& app, int& exit_code) {
  auto* plan = app.add_subcommand(
      "plan",
      "Show what a job would update in a repository and why, like `npm outdated` plus the "
      "decision, without running any of its code");
  auto flags = std::make_shared<PlanFlags>();
  plan->add_option("--repo", flags->repo, "Repository: a local checkout or a git URL")
      ->required();
  plan->add_option("--policy", flags->policy_file,
                   "Use FILE instead of the repository's .ovvoc.yml or .github/dependabot.yml")
      ->type_name("FILE");
  plan->add_option("--json", flags->json_out, "Also write the plan as JSON to FILE (- for stdout)")
      ->type_name("FILE");
  plan->add_option("--node-version", flags->node_version,
                   "Check engines.node against this node version (default: the job image's)");
  plan->add_option("--npm-version", flags->npm_version,
                   "Check engines.npm against this npm version (default: the job image's)");
  plan->add_option("--state-dir", flags->state_dir,
                   "Agent-owned directory: the registry cache, clones of URLs")
      ->capture_default_str();
  AddRegistryFlags(plan, flags->registry, "Registries");
  plan->footer(
      "Columns as npm outdated's: Current is the lockfile's version, Wanted what npm would "
      "install for the manifest's range, Latest what it would install for \"*\". The decision "
      "follows the update policy (see `ovvoc-agent policy check`). Exit status: 0 when the plan "
      "was made (problems are lines in it), 2 when it could not be.");
  plan->callback([&exit_code, flags] { exit_code = Plan(*flags); });
}

}  // namespace ovvoc::agent::cli
