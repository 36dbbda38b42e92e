// `ovvoc-agent doctor`: checks what the sandbox needs on this machine and says how to fix what
// is missing.
#ifndef OVVOC_AGENT_CLI_DOCTOR_COMMAND_H_
#define OVVOC_AGENT_CLI_DOCTOR_COMMAND_H_

#include <CLI/CLI.hpp>

namespace ovvoc::agent::cli {

void AddDoctorCommand(CLI::App& app, int& exit_code);

}  // namespace ovvoc::agent::cli

#endif  // OVVOC_AGENT_CLI_DOCTOR_COMMAND_H_
