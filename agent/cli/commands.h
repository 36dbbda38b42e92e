// The `ovvoc-agent` command line.
#ifndef OVVOC_AGENT_CLI_COMMANDS_H_
#define OVVOC_AGENT_CLI_COMMANDS_H_

#include <CLI/CLI.hpp>

namespace ovvoc::agent::cli {

// `register` and `run`. Callbacks store their process exit code in `exit_code`.
void AddCommands(CLI::App& app, int& exit_code);

}  // namespace ovvoc::agent::cli

#endif  // OVVOC_AGENT_CLI_COMMANDS_H_
