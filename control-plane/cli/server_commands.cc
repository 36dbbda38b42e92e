#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/logging.h"
#include "control-plane/cli/commands.h"
#include "control-plane/server/control_plane.h"
#include "control-plane/server/listener.h"

namespace ovvoc::cp::cli {
namespace {

struct DurationFlag {
  std::string text;
  absl::Duration* target;
  const char* name;
};

// Parses "90s", "10m", "24h" into each target; false (after printing why) on a bad one.
bool ParseDurations(const std::vector<DurationFlag>& flags) {
  for (const DurationFlag& flag : flags) {
    if (flag.text.empty()) continue;
    absl::Duration d;
    if (!absl::ParseDuration(flag.text, &d) || d <= absl::ZeroDuration()) {
      std::fprintf(stderr, "error: %s: \"%s\" is not a positive duration like 30s, 10m or 24h\n",
                   flag.name, flag.text.c_str());
      return false;
    }
    *flag.target = d;
  }
  return true;
}

// "HOST:PORT" with the port replaced by the one actually bound.
std::string BoundAddress(const std::string& listen, int port) {
  auto colon = listen.rfind(':');
  return absl::StrCat(colon == std::string::npos ? listen : listen.substr(0, colon), ":", port);
}

int Serve(const ServerOptions& options) {
  // Signals are taken by sigwait below, never by a gRPC thread: block them before any start.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Every agent connection is a descriptor: the default soft limit (1,024) is far too low.
  const long open_files = RaiseOpenFileLimit();
  absl::StatusOr<std::unique_ptr<ControlPlane>> server =
      ControlPlane::Start(options, Clock::Real());
  if (!server.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  std::printf("listening on %s\n", BoundAddress(options.listen, (*server)->port()).c_str());
  std::printf("admin socket %s\n", options.data_dir.admin_socket().c_str());
  std::fflush(stdout);
  log::Info("serving %s (up to %ld open files)", options.data_dir.root, open_files);
  for (;;) {
    const timespec one_second = {1, 0};
    const int signal_number = sigtimedwait(&signals, nullptr, &one_second);
    if (signal_number > 0) {
      log::Info("received signal %d, shutting down", signal_number);
      (*server)->Shutdown();
      return 0;
    }
    if (absl::Status health = (*server)->Health(); !health.ok()) {
      std::fprintf(stderr, "error: %s; exiting so that a supervisor restarts the control plane\n",
                   std::string(health.message()).c_str());
      (*server)->Shutdown();
      return 1;
    }
  }
}

}  // namespace

void AddServerCommands(CLI::App& app, int& exit_code) {
  auto* init = app.add_subcommand(
      "init", "Create a data directory: CA, server certificate, master key, empty store");
  auto init_dir = std::make_shared<std::string>();
  auto sans = std::make_shared<std::vector<std::string>>();
  init->add_option("--data-dir", *init_dir, "Directory to create (mode 0700)")->required();
  init->add_option("--san", *sans,
                   "Extra DNS name or IP address for the server certificate (repeatable); "
                   "localhost, 127.0.0.1 and ::1 are always included");
  init->callback([&exit_code, init_dir, sans] {
    absl::Status s = InitDataDir(DataDir{*init_dir}, *sans);
    if (!s.ok()) {
      std::fprintf(stderr, "error: %s\n", std::string(s.message()).c_str());
      exit_code = 1;
      return;
    }
    std::printf("initialised %s\n", init_dir->c_str());
  });

  auto* serve = app.add_subcommand(
      "serve", "Serve agents over mutual TLS and admins over DATA_DIR/admin.sock");
  auto options = std::make_shared<ServerOptions>();
  auto durations = std::make_shared<std::vector<DurationFlag>>(
      std::vector<DurationFlag>{{"", &options->lease_ttl, "--lease-ttl"},
                                {"", &options->heartbeat_interval, "--heartbeat-interval"},
                                {"", &options->poll_hold, "--poll-hold"},
                                {"", &options->certificate_lifetime, "--cert-lifetime"},
                                {"", &options->reap_interval, "--reap-interval"},
                                {"", &options->handshake_timeout, "--handshake-timeout"},
                                {"", &options->idle_timeout, "--idle-timeout"},
                                {"", &options->connection_max_age, "--connection-max-age"},
                                {"", &options->write_stall_timeout, "--write-stall-timeout"}});
  serve->add_option("--data-dir", options->data_dir.root, "Directory made by `init`")->required();
  serve->add_option("--listen", options->listen, "HOST:PORT for agents (port 0 picks one)")
      ->capture_default_str();
  serve->add_option("--store", options->store_url,
                    "Metadata store URL (default: sqlite in the data dir)");
  serve->add_option("--lease-ttl", (*durations)[0].text, "Job lease without a heartbeat [60s]");
  serve->add_option("--heartbeat-interval", (*durations)[1].text,
                    "How often agents heartbeat [15s]");
  serve->add_option("--poll-hold", (*durations)[2].text, "How long an idle poll is held [50s]");
  serve->add_option("--cert-lifetime", (*durations)[3].text,
                    "Lifetime of agent certificates [24h]");
  serve->add_option("--reap-interval", (*durations)[4].text,
                    "How often expired leases are looked for [1s]");
  serve->add_option("--max-attempts", options->max_attempts, "Lost leases before a job fails")
      ->capture_default_str();
  serve->add_option("--handshake-timeout", (*durations)[5].text,
                    "Close an agent connection that has not finished TLS and begun HTTP/2 in this time [10s]");
  serve->add_option("--idle-timeout", (*durations)[6].text,
                    "Close an agent connection with no call for this long [2m]");
  serve->add_option("--connection-max-age", (*durations)[7].text,
                    "Replace every agent connection after this long (agents reconnect) [10m]");
  serve->add_option("--write-stall-timeout", (*durations)[8].text,
                    "Close an agent connection whose client reads none of our bytes this long [30s]");
  serve->add_option("--connection-memory-mib", options->connection_memory_mib,
                    "Memory all agent connections may buffer; past it connections are shed")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  serve->add_option("--max-connections", options->max_connections,
                    "Agent connections open at once; each holds 3 descriptors, and 64 are kept spare")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  serve->add_option("--max-connections-per-host", options->max_connections_per_host,
                    "Agent connections one address may have open (agents behind one NAT share it)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  serve->add_option("--max-polls-per-agent", options->max_polls_per_agent,
                    "PollJob calls one agent may have waiting at once")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  serve->add_option("--git-credentials", options->git_credentials_file,
                    "File of \"ORG URL-PREFIX TOKEN\" lines: static tokens for plain git "
                    "remotes; a repo gets its own org's longest matching prefix (mode 0600)");
  serve->callback([&exit_code, options, durations] {
    // The flags' targets point into *options: parse before anything copies it.
    exit_code = ParseDurations(*durations) ? Serve(*options) : 2;
  });
}

}  // namespace ovvoc::cp::cli
