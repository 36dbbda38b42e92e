// `ovvoc-agent policy check [PATH]`: the effective update policy of a checkout, and what is
// wrong with its policy file, without running anything.
#ifndef OVVOC_AGENT_CLI_POLICY_COMMAND_H_
#define OVVOC_AGENT_CLI_POLICY_COMMAND_H_

#include <CLI/CLI.hpp>

namespace ovvoc::agent::cli {

void AddPolicyCommand(CLI::App& app, int& exit_code);

}  // namespace ovvoc::agent::cli

#endif  // OVVOC_AGENT_CLI_POLICY_COMMAND_H_
