#include "agent/sandbox/oci/runc_backend.h"

#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "agent/process/netns.h"
#include "agent/process/process.h"
#include "agent/sandbox/cgroup.h"
#include "agent/sandbox/container_exec.h"
#include "agent/sandbox/hardening.h"
#include "agent/sandbox/init_channel.h"
#include "agent/sandbox/job_disk.h"
#include "agent/sandbox/loop_device.h"
#include "common/files.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"

namespace ovvoc::agent::sandbox {
namespace {

using Json = nlohmann::json;

Json Mount(const std::string& destination, const std::string& type, const std::string& source,
           std::vector<std::string> options) {
  return Json{{"destination", destination},
              {"type", type},
              {"source", source},
              {"options", std::move(options)}};
}

Json ProcessJson(const std::vector<std::string>& args, const std::vector<std::string>& env,
                 const std::string& cwd, uint32_t uid) {
  const Json none = Json::array();
  return Json{
      {"terminal", false},
      {"user", {{"uid", uid}, {"gid", uid}, {"additionalGids", Json::array()}}},
      {"args", args},
      {"env", env},
      {"cwd", cwd},
      {"capabilities",
       {{"bounding", none},
        {"effective", none},
        {"inheritable", none},
        {"permitted", none},
        {"ambient", none}}},
      {"rlimits", Json::array({{{"type", "RLIMIT_NOFILE"}, {"hard", 4096}, {"soft", 4096}},
                               {{"type", "RLIMIT_CORE"}, {"hard", 0}, {"soft", 0}}})},
      {"noNewPrivileges", true},
      {"oomScoreAdj", 1000},  // under host memory pressure, the job goes first
  };
}

// The read-only paths, and /sys (a tmpfs here, writable until runc has mounted into it).
Json RuncReadonlyPaths() {
  Json paths = ReadonlyPaths();
  paths.push_back("/sys");
  return paths;
}

Json CpuResources(const Limits& limits) {
  Json cpu = {{"quota", static_cast<int64_t>(limits.cpu_millis) * 100}, {"period", 100000}};
  if (!limits.cpuset.empty()) cpu["cpus"] = limits.cpuset;
  return cpu;
}

// The parent of process `pid` from /proc, or 0 when it cannot be read.
int ParentPid(int pid) {
  absl::StatusOr<std::string> status = files::ReadFile(absl::StrCat("/proc/", pid, "/status"));
  if (!status.ok()) return 0;
  for (absl::string_view line : absl::StrSplit(*status, '\n')) {
    int ppid = 0;
    if (absl::ConsumePrefix(&line, "PPid:") &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &ppid)) {
      return ppid;
    }
  }
  return 0;
}

class RuncBackend;

class RuncSandbox final : public ContainerSandbox {
 public:
  RuncSandbox(const RuncOptions& options, SandboxSpec spec, std::string bundle,
              std::string rootfs_image)
      : ContainerSandbox(std::move(spec)),
        options_(options),
        bundle_(std::move(bundle)),
        rootfs_image_(std::move(rootfs_image)) {}
  ~RuncSandbox() override { (void)Destroy(); }

  absl::Status Start() {
    OVVOC_RETURN_IF_ERROR(files::EnsureDir(bundle_, 0700));
    created_ = true;  // from here on, Destroy() has something to remove
    std::string rootfs = options_.rootfs;
    if (!rootfs_image_.empty()) {
      rootfs = bundle_ + "/rootfs";
      OVVOC_RETURN_IF_ERROR(files::EnsureDir(rootfs, 0755));
      OVVOC_RETURN_IF_ERROR(MountImageReadOnly(rootfs_image_, rootfs));
    }
    OVVOC_RETURN_IF_ERROR(ListenForInit());
    // A scratch file: no fsync (the bundle dir is often on disk, and it costs milliseconds).
    OVVOC_RETURN_IF_ERROR(
        files::WriteFile(bundle_ + "/config.json", RuncConfig(spec_, rootfs).dump(), 0600));
    // `runc run` in the foreground, for the container's whole life: when the init dies, runc
    // removes the container itself, which saves a second runc process (`runc delete`, ~6 ms)
    // per job. Its output, and the init's, go to a file.
    OVVOC_ASSIGN_OR_RETURN(runc_, ChildProcess::Start(RuncInvocation(
                                      {"run", "--bundle", bundle_, spec_.name}, "/run.log")));
    // The init is the one process runc forks that outlives the start: its only child.
    const int runc_pid = runc_->pid();
    absl::Status attached =
        Attach([runc_pid](int pid) { return ParentPid(pid) == runc_pid; }, runc_->exit_fd());
    if (!attached.ok()) {
      absl::StatusOr<std::string> log = files::ReadFile(bundle_ + "/run.log");
      return absl::Status(
          attached.code(),
          absl::StrCat(attached.message(),
                       log.ok() && !log->empty()
                           ? absl::StrCat(": runc said: ", absl::StripAsciiWhitespace(*log))
                           : ""));
    }
    return BringLoopbackUp(netns_path());
  }

  absl::Status Destroy() override {
    if (!created_) return absl::OkStatus();
    created_ = false;
    KillInit();
    absl::Status removed = absl::OkStatus();
    // runc removes the container once it has reaped the init; if it cannot (it died, or it is
    // stuck), or the init never connected (nothing to wait for), `runc delete` does.
    const bool runc_cleaned_up = runc_.has_value() && init_pid_ > 0 &&
                                 runc_->Wait(absl::Seconds(10)).ok() &&
                                 !files::Exists(options_.state_root + "/" + spec_.name);
    runc_.reset();  // kills it if it is still there
    if (!runc_cleaned_up) removed = Runc({"delete", "--force", spec_.name});
    const std::string rootfs = bundle_ + "/rootfs";
    if (::umount2(rootfs.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
      log::Warning("cannot unmount %s: %s", rootfs, std::strerror(errno));
    }
    JobDisk::UnmountAllUnder(bundle_);  // anything else mounted there
    (void)files::RemoveTree(bundle_);
    return removed;
  }

 private:
  // SIGKILLs the init (and so the container) and waits until it is gone.
  void KillInit() {
    if (init_pid_ <= 0) return;
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, init_pid_, 0)));
    if (!pidfd.valid()) return;  // already gone
    ::syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0);
    pollfd exited{pidfd.get(), POLLIN, 0};
    ::poll(&exited, 1, 2000);
  }

  RunOptions RuncInvocation(const std::vector<std::string>& args, const char* log_name = "") const {
    RunOptions run;
    run.argv = {options_.runc, "--root", options_.state_root};
    run.argv.insert(run.argv.end(), args.begin(), args.end());
    run.env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
    run.timeout = absl::Seconds(30);
    if (*log_name != '\0') run.output_file = bundle_ + log_name;
    return run;
  }

  absl::Status Runc(const std::vector<std::string>& args) {
    OVVOC_ASSIGN_OR_RETURN(RunResult ran, RunProcess(RuncInvocation(args)));
    if (ran.exit_code != 0) {
      return absl::InternalError(absl::StrCat("runc ", args[0], " ", spec_.name,
                                              " failed: ", absl::StripAsciiWhitespace(ran.output)));
    }
    return absl::OkStatus();
  }

  const RuncOptions options_;
  const std::string bundle_;
  const std::string rootfs_image_;  // empty: options_.rootfs, a directory
  bool created_ = false;
  std::optional<ChildProcess> runc_;  // `runc run`, while the container lives
};

class RuncBackend final : public Backend {
 public:
  explicit RuncBackend(RuncOptions options) : options_(std::move(options)) {}

  absl::string_view name() const override { return "oci"; }

  absl::StatusOr<std::unique_ptr<Sandbox>> Create(const SandboxSpec& spec) override {
    OVVOC_RETURN_IF_ERROR(CheckContainerName(spec.name));
    OVVOC_RETURN_IF_ERROR(files::EnsureDir(options_.state_root, 0700));
    OVVOC_RETURN_IF_ERROR(files::EnsureDir(options_.bundles_dir, 0700));
    OVVOC_ASSIGN_OR_RETURN(std::string rootfs_image, RootfsImageFor(spec.image));
    auto sandbox =
        std::make_unique<RuncSandbox>(options_, spec, absl::StrCat(options_.bundles_dir, "/", spec.name),
                                      std::move(rootfs_image));
    OVVOC_RETURN_IF_ERROR(sandbox->Start());
    return sandbox;
  }

  absl::Status ReapLeftovers() override {
    RunOptions list;
    list.argv = {options_.runc, "--root", options_.state_root, "list", "--quiet"};
    list.env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
    list.timeout = absl::Seconds(30);
    if (files::Exists(options_.state_root)) {
      OVVOC_ASSIGN_OR_RETURN(RunResult listed, RunProcess(list));
      for (absl::string_view name : absl::StrSplit(listed.output, '\n', absl::SkipWhitespace())) {
        log::Info("removing leftover container %s", name);
        RunOptions remove = list;
        remove.argv = {options_.runc, "--root",  options_.state_root,
                       "delete",      "--force", std::string(name)};
        (void)RunProcess(remove);
      }
    }
    // Every bundle left is a leftover (this agent holds its state dir), with its rootfs mount.
    JobDisk::UnmountAllUnder(options_.bundles_dir);
    std::error_code ec;
    for (const auto& bundle : std::filesystem::directory_iterator(options_.bundles_dir, ec)) {
      (void)files::RemoveTree(bundle.path().string());
    }
    return absl::OkStatus();
  }

 private:
  // The ext4 image of the job image `digest` (empty: the default), made on its first use.
  absl::StatusOr<std::string> RootfsImageFor(const std::string& digest) ABSL_LOCKS_EXCLUDED(mu_) {
    if (digest.empty() || digest == options_.default_digest) return options_.rootfs_image;
    absl::MutexLock lock(&mu_);
    auto it = images_.find(digest);
    if (it != images_.end()) return it->second;
    if (options_.image_cache.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("this oci backend runs one image only, not ", digest));
    }
    OVVOC_ASSIGN_OR_RETURN(std::string path,
                           PrepareRootfsImage(options_.image, digest, options_.image_cache));
    return images_[digest] = std::move(path);
  }

  const RuncOptions options_;
  absl::Mutex mu_;
  std::map<std::string, std::string> images_ ABSL_GUARDED_BY(mu_);  // digest -> ext4 image
};

}  // namespace

nlohmann::json RuncConfig(const SandboxSpec& spec, const std::string& rootfs) {
  const Limits& limits = spec.limits;
  Json mounts = Json::array({
      Mount("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}),
      Mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
      Mount("/dev/pts", "devpts", "devpts",
            {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}),
      Mount("/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}),
      Mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
      // No sysfs at all, only the container's cgroups in it (node reads its limits there): an
      // empty tmpfs, read-only once runc has made the cgroup mount point. Everything the
      // masked paths would hide under /sys is then simply absent, at no mount's cost.
      Mount("/sys", "tmpfs", "tmpfs", {"nosuid", "noexec", "nodev", "size=64k", "mode=755"}),
      // The container's own cgroups, read-only: where node, npm and test runners look for their
      // memory and pids limits (Docker mounts them too).
      Mount("/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "noexec", "nodev", "relatime", "ro"}),
      Mount("/tmp", "tmpfs", "tmpfs",
            {"nosuid", "nodev", "mode=1777", absl::StrCat("size=", limits.tmp_bytes)}),
      Mount("/workspace", "bind", spec.workspace_dir, {"rbind", "rw", "nosuid", "nodev"}),
      Mount("/home/ovvoc", "bind", spec.home_dir, {"rbind", "rw", "nosuid", "nodev"}),
      Mount("/run", "bind", spec.control_dir, {"rbind", "ro", "nosuid", "nodev", "noexec"}),
  });
  const int64_t memory = static_cast<int64_t>(limits.memory_bytes);
  Json namespaces = Json::array();
  for (const char* type : {"pid", "network", "ipc", "uts", "mount", "cgroup"}) {
    namespaces.push_back({{"type", type}});
  }
  return Json{
      {"ociVersion", "1.0.2"},
      {"process", ProcessJson({kInitPath, kInitSocketInContainer}, spec.env, "/", spec.uid)},
      {"root", {{"path", rootfs}, {"readonly", true}}},
      {"hostname", "ovvoc-job"},
      {"mounts", mounts},
      {"annotations", {{kJobLabel, spec.job_id}}},
      {"linux",
       {{"namespaces", namespaces},
        {"cgroupsPath", absl::StrCat("/ovvoc/", spec.name)},
        {"resources",
         {{"memory", {{"limit", memory}, {"swap", memory}}},  // swap = memory+swap: none
          {"cpu", CpuResources(limits)},
          {"pids", {{"limit", limits.pids}}},
          {"devices", Json::array({{{"allow", false}, {"access", "rwm"}}})}}},
        {"maskedPaths", MaskedPaths()},
        {"readonlyPaths", RuncReadonlyPaths()}}},
      // No "seccomp" here: the init installs the same compiled filter on itself before it runs
      // any command (seccomp_filter.h), instead of runc compiling it for every container.
  };
}

std::unique_ptr<Backend> MakeRuncBackend(RuncOptions options) {
  return std::make_unique<RuncBackend>(std::move(options));
}

}  // namespace ovvoc::agent::sandbox
