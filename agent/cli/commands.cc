#include "agent/cli/commands.h"

#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "agent/cli/doctor_command.h"
#include "agent/cli/plan_command.h"
#include "agent/cli/policy_command.h"
#include "agent/cli/sandbox_flags.h"
#include "agent/cli/shutdown_signals.h"
#include "agent/cli/update_command.h"
#include "agent/config/config.h"
#include "agent/enroll/enroll.h"
#include "agent/poller/connection.h"
#include "agent/poller/runner.h"
#include "common/logging.h"

namespace ovvoc::agent::cli {
namespace {

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "error: %s\n", std::string(status.message()).c_str());
  return 1;
}

int Register(const std::string& config_dir, const RegisterOptions& options) {
  ConfigDir config(config_dir);
  if (config.HasIdentity()) {
    absl::StatusOr<AgentIdentity> existing = config.Load();
    return Fail(absl::AlreadyExistsError(absl::StrCat(
        config_dir, " already holds agent ", existing.ok() ? existing->agent_id : "(unreadable)",
        "; remove it or pass another --config-dir")));
  }
  absl::StatusOr<AgentIdentity> identity = Register(options);
  if (!identity.ok()) return Fail(identity.status());
  if (absl::Status s = config.Save(*identity); !s.ok()) return Fail(s);
  std::printf("registered agent for org %s, pool %s; identity in %s\n%s\n", identity->org.c_str(),
              identity->pool.c_str(), config_dir.c_str(), identity->agent_id.c_str());
  return 0;
}

int Run(const std::string& config_dir, RunnerOptions options, const SandboxFlags& sandbox_flags) {
  if (options.slots < 1 || options.slots > 64) {
    return Fail(absl::InvalidArgumentError("--slots must be between 1 and 64"));
  }
  ShutdownSignals signals;  // before any thread exists

  ConfigDir config(config_dir);
  absl::StatusOr<AgentIdentity> identity = config.Load();
  if (!identity.ok()) return Fail(identity.status());
  absl::StatusOr<LockedStateDir> state = LockStateDir(config_dir);
  if (!state.ok()) return Fail(state.status());
  absl::StatusOr<std::unique_ptr<Connection>> connection =
      Connection::Open(config, *identity, *options.env.clock);
  if (!connection.ok()) return Fail(connection.status());
  SandboxFlags sandbox_setup = sandbox_flags;
  sandbox_setup.slots = options.slots;  // its jobs share the host's CPUs
  absl::StatusOr<std::unique_ptr<SandboxSetup>> sandbox = MakeSandbox(sandbox_setup, state->path);
  if (!sandbox.ok()) return Fail(sandbox.status());
  options.env.sandbox = &(*sandbox)->settings;

  Runner runner(config, *std::move(connection), options);
  signals.Watch(
      [&runner](int signal_number, int count) {
        log::Info(count == 1 ? "signal %d: finishing running jobs, then stopping"
                             : "signal %d again: handing running jobs back now",
                  signal_number);
        runner.Stop();
      },
      /*max=*/2);
  absl::Status result = runner.Run();
  signals.Stop();  // before `runner`, which it may call, goes away
  if (!result.ok()) return Fail(result);
  log::Info("stopped");
  return 0;
}

}  // namespace

void AddCommands(CLI::App& app, int& exit_code, const SandboxExtensions* extensions) {
  auto* reg = app.add_subcommand("register", "Enroll this machine with a control plane");
  auto reg_dir = std::make_shared<std::string>(DefaultConfigDir());
  auto reg_options = std::make_shared<RegisterOptions>();
  reg->add_option("--server", reg_options->server, "Control plane address HOST:PORT")->required();
  reg->add_option("--token", reg_options->token,
                  "One-time token from `ovvoc-control-plane enroll-token create`")
      ->required();
  reg->add_option("--config-dir", *reg_dir, "Where the agent keeps its key and certificate")
      ->capture_default_str();
  reg->add_option("--hostname", reg_options->hostname, "Name to enroll under (default: hostname)");
  reg->callback(
      [&exit_code, reg_dir, reg_options] { exit_code = Register(*reg_dir, *reg_options); });

  auto* run = app.add_subcommand("run", "Poll the control plane and run update jobs");
  auto run_dir = std::make_shared<std::string>(DefaultConfigDir());
  auto run_options = std::make_shared<RunnerOptions>();
  auto drain = std::make_shared<std::string>("30s");
  auto run_sandbox = std::make_shared<SandboxFlags>();
  run->add_option("--config-dir", *run_dir, "Directory written by `register`")
      ->capture_default_str();
  run->add_option("--slots", run_options->slots, "Jobs to run at once")->capture_default_str();
  run->add_option("--drain-timeout", *drain,
                  "On SIGTERM, how long running jobs may finish before they are handed back")
      ->capture_default_str();
  run->add_flag("--allow-file-remotes", run_options->env.allow_file_remotes,
                "Let jobs clone file:// and local-path remotes (single-machine setups, tests)");
  AddSandboxFlags(run, *run_sandbox, extensions);
  run->callback([&exit_code, run_dir, run_options, drain, run_sandbox] {
    if (!absl::ParseDuration(*drain, &run_options->drain_timeout)) {
      exit_code = Fail(absl::InvalidArgumentError("--drain-timeout takes a duration like 30s"));
      return;
    }
    exit_code = Run(*run_dir, *run_options, *run_sandbox);
  });

  AddUpdateCommand(app, exit_code, extensions);
  AddDoctorCommand(app, exit_code);
  AddPlanCommand(app, exit_code);
  AddPolicyCommand(app, exit_code);
}

}  // namespace ovvoc::agent::cli
