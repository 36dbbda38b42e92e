#include "agent/cli/doctor_command.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/cli/sandbox_flags.h"
#include "agent/config/config.h"
#include "agent/sandbox/backend_factory.h"
#include "agent/sandbox/docker/docker_client.h"
#include "agent/sandbox/job_disk.h"
#include "agent/sandbox/job_uid.h"
#include "common/files.h"
#include "common/unique_fd.h"

namespace ovvoc::agent::cli {
namespace {

struct DoctorFlags {
  std::string state_dir = DefaultConfigDir();
  SandboxFlags sandbox;
};

class Report {
 public:
  void Check(const std::string& what, const absl::Status& status, const std::string& fix = "") {
    if (status.ok()) {
      std::printf("  ok    %s\n", what.c_str());
      return;
    }
    ++failures_;
    std::printf("  FAIL  %s: %s\n", what.c_str(), std::string(status.message()).c_str());
    if (!fix.empty()) std::printf("        fix: %s\n", fix.c_str());
  }
  int failures() const { return failures_; }

 private:
  int failures_ = 0;
};

absl::Status Require(bool ok, absl::string_view message) {
  return ok ? absl::OkStatus() : absl::FailedPreconditionError(message);
}

absl::Status CgroupControllers() {
  if (files::Exists("/sys/fs/cgroup/cgroup.controllers")) {
    absl::StatusOr<std::string> controllers = files::ReadFile("/sys/fs/cgroup/cgroup.controllers");
    if (!controllers.ok()) return controllers.status();
    return Require(
        absl::StrContains(*controllers, "memory") && absl::StrContains(*controllers, "pids"),
        "cgroup v2 without the memory and pids controllers");
  }
  return Require(files::Exists("/sys/fs/cgroup/memory/memory.limit_in_bytes") &&
                     files::Exists("/sys/fs/cgroup/pids"),
                 "no memory or pids cgroup (v1) mounted under /sys/fs/cgroup");
}

// Makes a container with the backend and runs `true` in it: the proof that counts.
absl::Status SmokeTest(sandbox::Backend& backend, const std::string& state_dir) {
  const std::string dir = absl::StrCat(state_dir, "/work/job-doctor-", ::getpid());
  (void)files::EnsureDir(dir, 0700);
  absl::Status result = [&]() -> absl::Status {
    absl::StatusOr<sandbox::JobUid> uid = sandbox::JobUid::Acquire();
    if (!uid.ok()) return uid.status();
    absl::StatusOr<std::unique_ptr<sandbox::JobDisk>> disk =
        sandbox::JobDisk::Create(dir + "/disk.img", dir + "/disk", 64ull << 20, uid->uid());
    if (!disk.ok()) return disk.status();
    sandbox::SandboxSpec spec;
    spec.name = absl::StrCat("ovvoc-doctor-", ::getpid());
    spec.job_id = "doctor";
    spec.workspace_dir = (*disk)->tree_dir();
    spec.home_dir = (*disk)->home_dir();
    spec.control_dir = (*disk)->control_dir();
    spec.uid = uid->uid();
    absl::StatusOr<std::unique_ptr<sandbox::Sandbox>> box = backend.Create(spec);
    if (!box.ok()) return box.status();
    sandbox::ExecSpec exec;
    exec.argv = {"/bin/true"};
    exec.timeout = absl::Seconds(30);
    absl::StatusOr<sandbox::ExecResult> ran = (*box)->Exec(exec, nullptr);
    if (!ran.ok()) return ran.status();
    return Require(ran->exit_code == 0,
                   absl::StrCat("`true` exited ", ran->exit_code, ": ", ran->output));
  }();
  sandbox::JobDisk::UnmountAllUnder(dir);
  (void)files::RemoveTree(dir);
  return result;
}

int Doctor(const DoctorFlags& flags) {
  Report report;
  std::printf("host\n");
  report.Check("running as root", Require(::geteuid() == 0, "the sandbox needs root"),
               "run the agent as root (systemd unit in deploy/systemd)");
  report.Check("cgroups: memory and pids controllers", CgroupControllers(),
               "boot with the memory and pids cgroup controllers enabled");
  report.Check("loop devices",
               Require(UniqueFd(::open("/dev/loop-control", O_RDWR)).valid(),
                       "cannot open /dev/loop-control"),
               "modprobe loop");
  report.Check("mkfs.ext4", Require(::access("/sbin/mkfs.ext4", X_OK) == 0, "missing"),
               "apt-get install e2fsprogs");
  report.Check(
      "seccomp",
      Require(absl::StrContains(files::ReadFile("/proc/self/status").value_or(""), "Seccomp:"),
              "the kernel has no seccomp"));

  std::printf("image\n");
  sandbox::ImageConfig image{flags.sandbox.image_dir, flags.sandbox.image};
  absl::StatusOr<std::string> digest = sandbox::ResolveDigest(image);
  report.Check("job image configured", digest.status(), "deploy/image/build.sh");
  if (digest.ok()) {
    report.Check(absl::StrCat("job image ", *digest, " matches its identity"),
                 sandbox::VerifiedImageTar(image, *digest).status(), "deploy/image/build.sh");
  }

  // The backends are checked in the state dir they prepare images in: under its lock, so that a
  // running agent's images are never prepared twice at once.
  absl::StatusOr<LockedStateDir> state = LockStateDir(flags.state_dir);
  report.Check("state dir " + flags.state_dir, state.status(),
               "stop the agent using it, or give doctor another --state-dir");
  int working = 0;
  for (const char* kind : {"oci", "docker"}) {
    if (!state.ok()) break;
    std::printf("backend %s\n", kind);
    if (std::string(kind) == "oci") {
      report.Check("runc", Require(::access("/usr/sbin/runc", X_OK) == 0, "/usr/sbin/runc missing"),
                   "apt-get install runc");
    } else {
      report.Check("docker daemon", sandbox::DockerClient(flags.sandbox.docker_socket).Ping(),
                   "apt-get install docker.io && systemctl start docker");
    }
    if (!digest.ok()) continue;
    SandboxFlags one = flags.sandbox;
    one.backend = kind;
    absl::StatusOr<std::unique_ptr<SandboxSetup>> setup = MakeSandbox(one, state->path);
    report.Check("backend ready (image verified)", setup.status());
    if (!setup.ok()) continue;
    absl::Status smoke = SmokeTest(*(*setup)->backend, state->path);
    report.Check("hardened container runs `true`", smoke);
    working += smoke.ok() ? 1 : 0;
  }
  std::printf("\n%s\n", working > 0 ? "the agent can run jobs on this machine"
                                    : "the agent cannot run jobs on this machine yet");
  return working > 0 ? 0 : 1;
}

}  // namespace

void AddDoctorCommand(CLI::App& app, int& exit_code) {
  auto* doctor = app.add_subcommand("doctor", "Check this machine's sandbox prerequisites");
  auto flags = std::make_shared<DoctorFlags>();
  doctor->add_option("--state-dir", flags->state_dir, "Agent-owned directory (as for run)")
      ->capture_default_str();
  doctor->add_option("--image-dir", flags->sandbox.image_dir, "Where job images are")
      ->capture_default_str();
  doctor->add_option("--image", flags->sandbox.image, "Expected job image sha256:<hex>");
  doctor->add_option("--docker-socket", flags->sandbox.docker_socket, "Docker Engine API socket")
      ->capture_default_str();
  doctor->footer("Exit status: 0 when at least one backend runs a hardened container.");
  doctor->callback([&exit_code, flags] { exit_code = Doctor(*flags); });
}

}  // namespace ovvoc::agent::cli
