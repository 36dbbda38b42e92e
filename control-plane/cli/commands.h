// The `ovvoc-control-plane` command line: every subcommand, registered on a CLI11 app.
#ifndef OVVOC_CONTROL_PLANE_CLI_COMMANDS_H_
#define OVVOC_CONTROL_PLANE_CLI_COMMANDS_H_

#include <CLI/CLI.hpp>

namespace ovvoc::cp::cli {

// `init` and `serve`. Callbacks store their process exit code in `exit_code`.
void AddServerCommands(CLI::App& app, int& exit_code);
// `org`, `enroll-token`, `repo`, `job`, `agent`: clients of a running server's admin socket.
void AddAdminCommands(CLI::App& app, int& exit_code);

}  // namespace ovvoc::cp::cli

#endif  // OVVOC_CONTROL_PLANE_CLI_COMMANDS_H_
