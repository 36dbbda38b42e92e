// `ovvoc-agent update`: one job on this machine, without a control plane.
#ifndef OVVOC_AGENT_CLI_UPDATE_COMMAND_H_
#define OVVOC_AGENT_CLI_UPDATE_COMMAND_H_

#include <CLI/CLI.hpp>

#include "agent/cli/sandbox_flags.h"

namespace ovvoc::agent::cli {

void AddUpdateCommand(CLI::App& app, int& exit_code,
                      const SandboxExtensions* extensions = nullptr);

}  // namespace ovvoc::agent::cli

#endif  // OVVOC_AGENT_CLI_UPDATE_COMMAND_H_
