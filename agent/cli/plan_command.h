// `ovvoc-agent plan`: what a job would update in a repository, and why, without running any of
// its code.
#ifndef OVVOC_AGENT_CLI_PLAN_COMMAND_H_
#define OVVOC_AGENT_CLI_PLAN_COMMAND_H_

#include <CLI/CLI.hpp>

namespace ovvoc::agent::cli {

void AddPlanCommand(CLI::App& app, int& exit_code);

}  // namespace ovvoc::agent::cli

#endif  // OVVOC_AGENT_CLI_PLAN_COMMAND_H_
