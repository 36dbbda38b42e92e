// The sandbox: every process of an update job runs in a fresh, hardened container.
//
// One SandboxSpec, two backends that translate it identically (DESIGN.md section 5):
//   docker  the Docker Engine API over its Unix socket (docker/)
//   oci     runc with a bundle the agent writes (oci/)
// Both give: read-only root; writable only /workspace, /home/ovvoc (both on the job's
// size-capped disk, nosuid, nodev) and a size-capped /tmp tmpfs; no capabilities;
// no-new-privileges; the seccomp allowlist in seccomp/profile.json; a uid of its own (job_uid.h);
// memory without
// swap, CPU and pids limits; new pid, net, ipc, uts and mount namespaces; a network namespace
// with only `lo` (the registry gateway listens inside it while npm installs only).
//
// Thread-safety: a Sandbox is used by its job's thread; KillStrays() and Destroy() may also be
// called from another thread to stop the job.
#ifndef OVVOC_AGENT_SANDBOX_SANDBOX_H_
#define OVVOC_AGENT_SANDBOX_SANDBOX_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "ovvoc/v1/job.pb.h"

namespace ovvoc::agent::sandbox {

// Every container the agent makes carries these labels: the job id, and the agent's state dir
// (so that an agent reaps only its own leftovers, never another agent's running containers).
inline constexpr char kJobLabel[] = "io.ovvoc.job";
inline constexpr char kOwnerLabel[] = "io.ovvoc.owner";

struct Limits {
  uint64_t memory_bytes = 512ull << 20;  // no swap on top
  uint32_t cpu_millis = 1000;
  std::string cpuset;  // CPUs the job may run on ("0", "2-3"); empty: any (the quota still holds)
  uint32_t pids = 256;
  uint64_t disk_bytes = 2ull << 30;  // /workspace + /home/ovvoc
  uint64_t tmp_bytes = 64ull << 20;  // /tmp tmpfs, counted against memory
  absl::Duration phase_timeout = absl::Minutes(10);
  absl::Duration job_timeout = absl::Minutes(30);
};

// `job` tightens `agent`: each field is the smaller of the two; zero in `job` means "the
// agent's". A job can never loosen a limit.
Limits Tighten(const Limits& agent, const ovvoc::v1::SandboxLimits& job);

// OK when `name` may name a container and the host paths made for it (a bundle, a mount
// point): 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'. Backends refuse any other
// before anything is made: a job id comes from the control plane.
absl::Status CheckContainerName(absl::string_view name);

struct SandboxSpec {
  std::string name;  // unique per container: "ovvoc-<job id>-<attempt>[-<label>]"
  // The job image, "sha256:<hex>", chosen by the agent (never by the job); empty: the
  // backend's default image. Verified by the backend before its first use.
  std::string image;
  std::string job_id;         // the kJobLabel value
  std::string workspace_dir;  // host dir mounted at /workspace (the work tree, never .git)
  std::string home_dir;       // host dir mounted at /home/ovvoc (npm cache, HOME)
  // Host dir mounted read-only at /run, where the init's channel socket is made: root-owned, on
  // the job disk (so that the container's mount table names no host path).
  std::string control_dir;
  // Host dir holding the container's /etc/hosts, /etc/hostname and /etc/resolv.conf, for a
  // runtime that would otherwise bind its own (Docker: from a host path it names); on the job
  // disk. Empty: the image's.
  std::string etc_dir;
  uint32_t uid = 0;  // and gid: the job's own (JobUid), never 0
  Limits limits;
  std::vector<std::string> env;  // every process's base environment
  // True when the job disk is (nearly) full; a failed phase is then classified as DISK.
  std::function<bool()> disk_full;
};

struct ExecSpec {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // on top of SandboxSpec::env
  std::string cwd = "/workspace";
  absl::Duration timeout = absl::Minutes(10);
  size_t output_limit = 32 * 1024;  // bytes kept from the start and from the end
};

struct ExecResult {
  int exit_code = -1;
  ovvoc::v1::Termination termination = ovvoc::v1::TERMINATION_UNSPECIFIED;
  std::string output;  // stdout and stderr, bounded
  // The container's init went away (or stopped speaking its protocol) while the command ran:
  // the container is lost, `exit_code` is -1 and `output` is what was read until then.
  bool container_lost = false;
  absl::Duration duration;
  uint64_t peak_memory_bytes = 0;  // the cgroup's peak: page cache included
  // Sampled while the command ran (ContainerCgroup::MemoryUse): the most its processes held,
  // and the most page cache beside it. A peak shorter than the sampling interval may be missed.
  uint64_t peak_working_set_bytes = 0;
  uint64_t peak_cache_bytes = 0;
  absl::Duration cpu_time;
};

class Sandbox {
 public:
  virtual ~Sandbox() = default;

  // The container's init process, as the host sees it.
  virtual int init_pid() const = 0;
  std::string netns_path() const { return "/proc/" + std::to_string(init_pid()) + "/ns/net"; }

  // Runs one phase's command to completion, the timeout or `cancelled`, and classifies how it
  // ended (exit, timeout, OOM, pids limit, disk cap, signal, cancel).
  virtual absl::StatusOr<ExecResult> Exec(const ExecSpec& spec,
                                          const std::function<bool()>& cancelled) = 0;
  // Kills every process in the container except its init: what a phase left behind (a daemon
  // started by an install script) does not live into the next phase.
  virtual absl::Status KillStrays() = 0;
  // Removes the container. Idempotent.
  virtual absl::Status Destroy() = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual absl::string_view name() const = 0;  // "docker" or "oci"
  virtual absl::StatusOr<std::unique_ptr<Sandbox>> Create(const SandboxSpec& spec) = 0;
  // Removes every container this agent (its state dir) made: what it left behind when it
  // crashed.
  virtual absl::Status ReapLeftovers() = 0;
};

}  // namespace ovvoc::agent::sandbox

#endif  // OVVOC_AGENT_SANDBOX_SANDBOX_H_
