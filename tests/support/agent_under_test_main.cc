// ovvoc-agent-under-test: the agent's command line plus what tests need and users must never
// have: `--sandbox fake` (jobs run the whole pipeline without containers) and
// `--hold-commands DURATION` (each sandbox command first holds, so that a test can cancel the
// job or kill its agent mid-flight). See tests/support/fake_sandbox.h. Built for tests only.
#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/cli/commands.h"
#include "common/tls.h"
#include "tests/support/fake_sandbox.h"

int main(int argc, char** argv) {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  ovvoc::tls::RestrictGrpcToTls13();
  auto hold = std::make_shared<absl::Duration>(absl::ZeroDuration());
  ovvoc::agent::cli::SandboxExtensions extensions;
  extensions.backends["fake"] = [] { return ovvoc::testing::NewFakeBackend(); };
  extensions.add_flags = [hold](CLI::App* command) {
    command
        ->add_option_function<std::string>(
            "--hold-commands",
            [hold](const std::string& text) {
              if (!absl::ParseDuration(text, hold.get()) || *hold < absl::ZeroDuration()) {
                throw CLI::ValidationError("--hold-commands", "takes a duration like 60s");
              }
            },
            "Tests: each sandbox command first holds this long (a cancel ends the hold)")
        ->group("Testing");
  };
  extensions.wrap = [hold](std::unique_ptr<ovvoc::agent::sandbox::Backend> backend) {
    if (*hold <= absl::ZeroDuration()) return backend;
    return ovvoc::testing::NewHoldingBackend(std::move(backend), *hold);
  };

  CLI::App app{"ovvoc-agent-under-test: ovvoc-agent with test-only sandbox choices"};
  app.name("ovvoc-agent-under-test");
  app.require_subcommand(1);
  int exit_code = 0;
  ovvoc::agent::cli::AddCommands(app, exit_code, &extensions);
  CLI11_PARSE(app, argc, argv);
  return exit_code;
}
