// The `ovvoc-agent` command line.
#ifndef OVVOC_AGENT_CLI_COMMANDS_H_
#define OVVOC_AGENT_CLI_COMMANDS_H_

#include <CLI/CLI.hpp>

#include "agent/cli/sandbox_flags.h"

namespace ovvoc::agent::cli {

// `register`, `run`, `update`, `doctor` and `policy`. Callbacks store their process exit code in
// `exit_code`. `extensions` (not owned; must outlive the parse) add to the sandbox flags of
// `run` and `update`: only tests' agent under test passes any.
void AddCommands(CLI::App& app, int& exit_code, const SandboxExtensions* extensions = nullptr);

}  // namespace ovvoc::agent::cli

#endif  // OVVOC_AGENT_CLI_COMMANDS_H_
