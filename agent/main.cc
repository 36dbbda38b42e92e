// ovvoc-agent: runs dependency-update jobs for a control plane, each in a fresh sandbox.
#include <CLI/CLI.hpp>

#include "absl/synchronization/mutex.h"
#include "agent/cli/commands.h"
#include "common/tls.h"

int main(int argc, char** argv) {
  // Debian builds Abseil without NDEBUG, which leaves Mutex deadlock detection on (a global lock
  // and graph on every nested lock of gRPC's); the control plane's main says more.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  ovvoc::tls::RestrictGrpcToTls13();
  CLI::App app{
      "ovvoc-agent: registers with an Ovvoc control plane and runs its npm dependency-update "
      "jobs on this machine."};
  app.name("ovvoc-agent");
  app.set_version_flag("--version", "ovvoc-agent " OVVOC_VERSION);
  app.require_subcommand(1);
  int exit_code = 0;
  ovvoc::agent::cli::AddCommands(app, exit_code);
  CLI11_PARSE(app, argc, argv);
  return exit_code;
}
