// ovvoc-control-plane: schedules dependency-update jobs and stores their metadata.
#include <CLI/CLI.hpp>

#include "control-plane/cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "ovvoc-control-plane: schedules npm dependency-update jobs for agents and keeps their "
      "metadata (never code)."};
  app.name("ovvoc-control-plane");
  app.set_version_flag("--version", "ovvoc-control-plane " OVVOC_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  int exit_code = 0;
  ovvoc::cp::cli::AddServerCommands(app, exit_code);
  ovvoc::cp::cli::AddAdminCommands(app, exit_code);
  CLI11_PARSE(app, argc, argv);
  return exit_code;
}
