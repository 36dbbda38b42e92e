#include "agent/cli/policy_command.h"

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "agent/npm/policy.h"

namespace ovvoc::agent::cli {
namespace {

struct CheckFlags {
  std::string path = ".";
  std::string policy_file;
  bool json = false;
};

int Check(const CheckFlags& flags) {
  std::error_code ec;
  if (!std::filesystem::is_directory(flags.path, ec)) {
    std::fprintf(stderr, "error: %s is not a directory\n", flags.path.c_str());
    return 2;
  }
  npm::PolicyOptions options;
  options.policy_file = flags.policy_file;
  absl::StatusOr<npm::Policy> policy = npm::LoadPolicy(flags.path, options);
  if (!policy.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(policy.status().message()).c_str());
    return 2;
  }
  const std::string text =
      flags.json ? npm::PolicyJson(*policy) + "\n" : npm::DescribePolicy(*policy);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return policy->HasErrors() ? 1 : 0;
}

}  // namespace

void AddPolicyCommand(CLI::App& app, int& exit_code) {
  auto* policy = app.add_subcommand("policy", "Inspect the update policy of a repository");
  policy->require_subcommand(1);
  auto* check = policy->add_subcommand(
      "check",
      "Print the effective update policy of a checkout and what is wrong with its policy file");
  auto flags = std::make_shared<CheckFlags>();
  check->add_option("PATH", flags->path, "The repository's checkout")
      ->type_name("PATH")
      ->capture_default_str();
  check
      ->add_option("--policy", flags->policy_file,
                   "Use FILE instead of the repository's .ovvoc.yml or .github/dependabot.yml "
                   "(Dependabot's format when it is named dependabot.yml, else Ovvoc's)")
      ->type_name("FILE");
  check->add_flag("--json", flags->json, "Print the policy and its diagnostics as JSON");
  check->footer(
      "Reads .ovvoc.yml (or .ovvoc.yaml) in PATH, else the npm entries of "
      ".github/dependabot.yml (or .yaml), over Ovvoc's defaults; files are read without "
      "following symlinks. Unknown keys are warnings, wrong types or values errors, each with "
      "its line. Exit status: 0 without errors, 1 with errors (the policy printed is what a job "
      "would use: bad keys at their defaults), 2 when nothing could be checked.");
  check->callback([&exit_code, flags] { exit_code = Check(*flags); });
}

}  // namespace ovvoc::agent::cli
