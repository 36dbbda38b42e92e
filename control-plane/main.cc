// ovvoc-control-plane: schedules dependency-update jobs and stores their metadata.
#include <CLI/CLI.hpp>

#include "absl/synchronization/mutex.h"
#include "control-plane/cli/commands.h"

// The control plane allocates with jemalloc (linked in), which reads this. A server that must
// give memory back after a flood of connections: glibc's per-thread arenas kept 44 MiB mapped
// and 12 MiB resident for 1.4 MiB in use (flood_bench: RSS x1.50 of before the flood), jemalloc
// with thread caches off x1.07. Thread caches are what kept the rest (x1.28 with them), and
// dirty pages go back to the system a second after they are freed, by jemalloc's own thread.
extern "C" {
const char* malloc_conf = "tcache:false,background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0";
}

int main(int argc, char** argv) {
  // Debian builds Abseil without NDEBUG, which leaves Mutex deadlock detection on: a global
  // lock and graph on every nested lock of gRPC's, and 64 KiB blocks that are never returned.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
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
