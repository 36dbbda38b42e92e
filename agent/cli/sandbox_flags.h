// The sandbox part of the agent's configuration, shared by `run` and `update`: backend, image,
// limits and registry access. Limits default to DESIGN.md's: 512 MiB, 1 CPU, 256 pids.
#ifndef OVVOC_AGENT_CLI_SANDBOX_FLAGS_H_
#define OVVOC_AGENT_CLI_SANDBOX_FLAGS_H_

#include <CLI/CLI.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/pipeline/sandbox_session.h"
#include "agent/registry/cache.h"
#include "agent/registry/client.h"
#include "agent/sandbox/sandbox.h"
#include "common/http.h"

namespace ovvoc::agent::cli {

// What a build of the agent may add to its sandbox flags. The shipped binary adds nothing;
// tests/support's agent under test adds a fake backend and a hold before each command.
struct SandboxExtensions {
  using Factory = std::function<absl::StatusOr<std::unique_ptr<sandbox::Backend>>()>;
  std::map<std::string, Factory> backends;  // more --sandbox choices
  // Wraps whichever backend was made; null: none.
  std::function<std::unique_ptr<sandbox::Backend>(std::unique_ptr<sandbox::Backend>)> wrap;
  // Adds the extension's own flags to a command that takes the sandbox flags.
  std::function<void(CLI::App*)> add_flags;
};

struct SandboxFlags {
  const SandboxExtensions* extensions = nullptr;  // not owned
  std::string backend = "auto";
  std::string image_dir = "/var/lib/ovvoc/images";
  std::string image;
  std::string image_cache;  // empty: STATE_DIR/images
  std::string docker_socket = "/var/run/docker.sock";
  std::string registry;
  std::vector<std::string> allow_internal;
  std::string registry_ca;  // PEM bundle trusted for registries instead of the system's
  std::string registry_credentials;  // JSON file of the agent's registry credentials (0600)
  uint64_t registry_cache_mib = 2048;
  uint64_t memory_mib = 512;
  double cpus = 1.0;
  std::string cpuset;
  int parallel_trials = 0;  // 0: DefaultParallelTrials()
  int slots = 1;            // jobs the agent runs at once (`run --slots`), which share the host
  uint32_t pids = 256;
  uint64_t disk_mib = 2048;
  uint64_t tmp_mib = 64;
  std::string phase_timeout = "10m";
  std::string job_timeout = "30m";
};

// How many proposals a job proves at once by default: as many containers as the CPUs jobs may
// use (--cpuset's, else those the agent may run on) hold at --cpus each and the host's memory
// holds at --memory-mib each, shared among the --slots jobs the agent runs at once; 1 to 4.
int DefaultParallelTrials(const SandboxFlags& flags);
// How many CPUs a cpuset names ("0-3,6": 5); what does not parse counts for none.
int CpusetSize(absl::string_view cpuset);

void AddSandboxFlags(CLI::App* command, SandboxFlags& flags,
                     const SandboxExtensions* extensions = nullptr);
// Only the flags for reading registries (--registry, --allow-internal, --registry-ca,
// --registry-credentials, --registry-cache-mib) and the image (--image-dir, --image): what
// commands that read registries but run nothing take. AddSandboxFlags adds these too.
void AddRegistryFlags(CLI::App* command, SandboxFlags& flags, const char* group);

// The agent's registry reads: its HTTP client, its cache (STATE_DIR/registry-cache), the
// client over both, and its own credentials.
struct RegistryAccess {
  std::unique_ptr<http::Client> http;
  std::unique_ptr<registry::RegistryCache> cache;
  std::unique_ptr<registry::RegistryClient> client;
  std::vector<ovvoc::v1::Registry> credentials;
};
absl::StatusOr<RegistryAccess> MakeRegistryAccess(const SandboxFlags& flags,
                                                  const std::string& state_dir);

struct SandboxSetup {
  std::unique_ptr<sandbox::Backend> backend;
  // The agent's registry reads: its HTTP client, its cache (STATE_DIR/registry-cache) and the
  // client over both.
  std::unique_ptr<http::Client> http;
  std::unique_ptr<registry::RegistryCache> registry_cache;
  std::unique_ptr<registry::RegistryClient> registry;
  SandboxSettings settings;  // settings.backend and settings.registry point at the above
};

// The agent's registry credentials: a JSON file {"registries": [{"url": URL, "token": T} or
// {"url": URL, "username": U, "password": P}, ...]} owned by the agent's user and readable by
// it alone. FailedPrecondition saying how to fix a file others may read.
absl::StatusOr<std::vector<ovvoc::v1::Registry>> ReadRegistryCredentials(const std::string& path);

// Validates the flags, verifies the image and builds the backend and the registry client.
// `state_dir` is agent-owned (the oci backend keeps its verified rootfs there, the registry
// client its cache).
absl::StatusOr<std::unique_ptr<SandboxSetup>> MakeSandbox(const SandboxFlags& flags,
                                                          const std::string& state_dir);

}  // namespace ovvoc::agent::cli

#endif  // OVVOC_AGENT_CLI_SANDBOX_FLAGS_H_
