// The hardening both backends are asked for, read back from the requests they generate.
#include <algorithm>
#include <catch2/catch.hpp>

#include "agent/sandbox/cgroup.h"
#include "agent/sandbox/classify.h"
#include "agent/sandbox/docker/docker_backend.h"
#include "agent/sandbox/hardening.h"
#include "agent/sandbox/oci/runc_backend.h"
#include "agent/sandbox/sandbox.h"
#include "common/time_util.h"

namespace ovvoc::agent::sandbox {
namespace {

SandboxSpec Spec() {
  SandboxSpec spec;
  spec.name = "ovvoc-job_x-1";
  spec.job_id = "job_x";
  spec.workspace_dir = "/jobs/x/disk/tree";
  spec.home_dir = "/jobs/x/disk/home";
  spec.control_dir = "/jobs/x/disk/control";
  spec.uid = 10042;
  spec.env = BaseEnvironment(spec.limits);
  return spec;
}

bool HasSyscall(const nlohmann::json& profile, const std::string& name) {
  for (const auto& rule : profile["syscalls"]) {
    if (rule.value("action", "") != "SCMP_ACT_ALLOW") continue;
    for (const auto& n : rule["names"]) {
      if (n == name) return true;
    }
  }
  return false;
}

TEST_CASE("the seccomp profile denies by default and never allows what jobs must not do") {
  const nlohmann::json& profile = SeccompProfile();
  CHECK(profile["defaultAction"] == "SCMP_ACT_ERRNO");
  for (const char* denied :
       {"ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "unshare", "setns",
        "init_module", "finit_module", "delete_module", "reboot", "kexec_load", "bpf", "keyctl",
        "perf_event_open", "io_uring_setup", "pivot_root"}) {
    INFO(denied);
    CHECK(!HasSyscall(profile, denied));
  }
  for (const char* needed : {"read", "write", "openat", "execve", "futex", "epoll_wait"}) {
    INFO(needed);
    CHECK(HasSyscall(profile, needed));
  }
}

TEST_CASE("the runc bundle asks for every hardening measure") {
  SandboxSpec spec = Spec();
  spec.limits.memory_bytes = 256ull << 20;
  spec.limits.pids = 128;
  spec.limits.cpu_millis = 500;
  nlohmann::json config = RuncConfig(spec, "/images/abc/rootfs");
  CHECK(config["root"]["readonly"] == true);
  const nlohmann::json& process = config["process"];
  CHECK(process["user"]["uid"] == 10042);
  CHECK(process["user"]["gid"] == 10042);
  CHECK(process["noNewPrivileges"] == true);
  for (const char* set : {"bounding", "effective", "inheritable", "permitted", "ambient"}) {
    CHECK(process["capabilities"][set].empty());
  }
  const nlohmann::json& linux = config["linux"];
  CHECK(linux["resources"]["memory"]["limit"] == 256ll << 20);
  CHECK(linux["resources"]["memory"]["swap"] == 256ll << 20);  // memory + swap: none
  CHECK(linux["resources"]["pids"]["limit"] == 128);
  CHECK(linux["resources"]["cpu"]["quota"] == 50000);
  // The init installs the compiled filter itself (seccomp_filter_test.cc), not runc.
  CHECK(!linux.contains("seccomp"));
  std::set<std::string> namespaces;
  for (const auto& ns : linux["namespaces"]) namespaces.insert(ns["type"]);
  CHECK(namespaces == std::set<std::string>{"pid", "network", "ipc", "uts", "mount", "cgroup"});
  bool workspace = false, tmp = false;
  for (const auto& m : config["mounts"]) {
    const auto& o = m["options"];
    auto has = [&](const char* opt) { return std::find(o.begin(), o.end(), opt) != o.end(); };
    if (m["destination"] == "/workspace") {
      workspace = m["source"] == spec.workspace_dir && has("nosuid") && has("nodev");
    }
    if (m["destination"] == "/tmp") {
      tmp = m["type"] == "tmpfs" && has("nosuid") && has("nodev") &&
            has(("size=" + std::to_string(spec.limits.tmp_bytes)).c_str());
    }
  }
  CHECK(workspace);
  CHECK(tmp);
  bool control = false;
  for (const auto& m : config["mounts"]) {
    if (m["destination"] != "/run") continue;
    const auto& o = m["options"];
    control =
        m["source"] == "/jobs/x/disk/control" && std::find(o.begin(), o.end(), "ro") != o.end();
  }
  CHECK(control);  // the init's channel: read-only, so no job process can replace the socket
  CHECK(config["annotations"][kJobLabel] == "job_x");
  CHECK(linux["maskedPaths"] == MaskedPaths());
  // No sysfs: a tmpfs with only the cgroups in it, read-only.
  nlohmann::json readonly = ReadonlyPaths();
  readonly.push_back("/sys");
  CHECK(linux["readonlyPaths"] == readonly);
  bool sys_tmpfs = false;
  for (const auto& m : config["mounts"]) {
    if (m["destination"] == "/sys") sys_tmpfs = m["type"] == "tmpfs";
  }
  CHECK(sys_tmpfs);
}

TEST_CASE("the docker create request asks for the same") {
  SandboxSpec spec = Spec();
  nlohmann::json request = DockerCreateRequest(
      spec, "sha256:abc", "/var/lib/ovvoc-agent/docker-mounts/job_x-1/usr", "/var/lib/ovvoc-agent");
  const nlohmann::json& host = request["HostConfig"];
  CHECK(request["Image"] == "sha256:abc");
  // The frame image's /usr is empty: the runtime is the agent's tree, read-only.
  REQUIRE(host["Mounts"].size() == 1);
  CHECK(host["Mounts"][0]["Type"] == "bind");
  CHECK(host["Mounts"][0]["Source"] == "/var/lib/ovvoc-agent/docker-mounts/job_x-1/usr");
  CHECK(host["Mounts"][0]["Target"] == "/usr");
  CHECK(host["Mounts"][0]["ReadOnly"] == true);
  CHECK(request["User"] == "10042:10042");
  // Docker's own lists are replaced by ours, the same as the oci backend's.
  CHECK(host["MaskedPaths"] == MaskedPaths());
  CHECK(host["ReadonlyPaths"] == ReadonlyPaths());
  CHECK(host["LogConfig"]["Type"] == "none");  // nothing a job writes reaches dockerd's disk
  const std::vector<std::string> binds = host["Binds"];
  CHECK(std::count(binds.begin(), binds.end(), "/jobs/x/disk/control:/run:ro") == 1);
  CHECK(request["Labels"][kJobLabel] == "job_x");
  CHECK(request["Labels"][kOwnerLabel] == "/var/lib/ovvoc-agent");
  CHECK(host["NetworkMode"] == "none");
  CHECK(host["Dns"] == nlohmann::json{"127.0.0.1"});  // nothing of the host's resolver
  CHECK(host["ReadonlyRootfs"] == true);
  CHECK(host["CapDrop"] == nlohmann::json::array({"ALL"}));
  CHECK(host["Memory"] == host["MemorySwap"]);
  CHECK(host["Memory"] == 512ll << 20);
  CHECK(host["PidsLimit"] == 256);
  CHECK(host["NanoCpus"] == 1'000'000'000ll);
  bool no_new_privileges = false, seccomp = false;
  for (const auto& opt : host["SecurityOpt"]) {
    const std::string o = opt;
    no_new_privileges |= o == "no-new-privileges:true";
    seccomp |= o == "seccomp=unconfined";  // the init installs ours (seccomp_filter_test.cc)
  }
  CHECK(no_new_privileges);
  CHECK(seccomp);
}

TEST_CASE("node's heap is sized to the container, not to a small device") {
  CHECK(NodeHeapOptions(512ull << 20) == "--max-old-space-size=384 --max-semi-space-size=16");
  CHECK(NodeHeapOptions(2048ull << 20) == "--max-old-space-size=1536 --max-semi-space-size=16");
  CHECK(NodeHeapOptions(128ull << 20) == "--max-old-space-size=96 --max-semi-space-size=4");
  CHECK(NodeHeapOptions(16ull << 20) == "--max-old-space-size=16 --max-semi-space-size=1");
  Limits limits;
  limits.memory_bytes = 256ull << 20;
  const std::vector<std::string> env = BaseEnvironment(limits);
  CHECK(std::count(env.begin(), env.end(),
                   "NODE_OPTIONS=--max-old-space-size=192 --max-semi-space-size=8") == 1);
  // What a CI runner gives a project's scripts (issue 11).
  for (const char* var : {"CI=true", "TZ=UTC", "LANG=C.UTF-8", "HOME=/home/ovvoc"}) {
    INFO(var);
    CHECK(std::count(env.begin(), env.end(), var) == 1);
  }
}

TEST_CASE("a job can tighten the agent's limits, never loosen them") {
  Limits agent;
  ovvoc::v1::SandboxLimits job;
  job.set_memory_bytes(1ull << 30);  // more than the agent allows
  job.set_pids(64);
  *job.mutable_phase_timeout() = ToProto(absl::Hours(5));
  *job.mutable_job_timeout() = ToProto(absl::Minutes(5));
  Limits out = Tighten(agent, job);
  CHECK(out.memory_bytes == agent.memory_bytes);
  CHECK(out.pids == 64);
  CHECK(out.cpu_millis == agent.cpu_millis);  // 0 in the job: the agent's
  CHECK(out.phase_timeout == agent.phase_timeout);
  CHECK(out.job_timeout == absl::Minutes(5));
}

TEST_CASE("how a phase ended: the most telling cause wins") {
  PhaseEnd end;
  end.exit_code = 0;
  CHECK(Classify(end) == ovvoc::v1::TERMINATION_EXITED);
  end.exit_code = 1;
  CHECK(Classify(end) == ovvoc::v1::TERMINATION_EXITED);
  end.disk_full = true;
  CHECK(Classify(end) == ovvoc::v1::TERMINATION_DISK);
  end.after.pids_max_hits = 3;
  CHECK(Classify(end) == ovvoc::v1::TERMINATION_PIDS);
  end.after.oom_kills = 1;
  CHECK(Classify(end) == ovvoc::v1::TERMINATION_OOM);
  end.timed_out = true;
  CHECK(Classify(end) == ovvoc::v1::TERMINATION_TIMEOUT);
  end.cancelled = true;
  CHECK(Classify(end) == ovvoc::v1::TERMINATION_CANCELLED);

  PhaseEnd signaled;
  signaled.exit_code = 137;
  CHECK(Classify(signaled) == ovvoc::v1::TERMINATION_SIGNALED);
  // Regression (npm exits 254 on errors): a code no signal can produce is an exit.
  PhaseEnd npm_error;
  npm_error.exit_code = 254;
  CHECK(Classify(npm_error) == ovvoc::v1::TERMINATION_EXITED);
  // Hitting the pids limit along the way is not a failure if the phase succeeded.
  PhaseEnd fine;
  fine.exit_code = 0;
  fine.after.pids_max_hits = 1;
  CHECK(Classify(fine) == ovvoc::v1::TERMINATION_EXITED);
}

TEST_CASE("memory in use is the processes' apart from the page cache, on v1 and v2") {
  // cgroup v1: the hierarchy's totals; cache includes the tmpfs pages (shmem).
  const ContainerCgroup::MemoryUse v1 = ParseMemoryStat(
      "cache 1\nrss 2\nshmem 3\ntotal_cache 400000000\ntotal_rss 150000000\n"
      "total_rss_huge 2097152\ntotal_shmem 20000000\ntotal_inactive_file 90000000\n",
      /*v2=*/false);
  CHECK(v1.working_set == 170000000);
  CHECK(v1.cache == 380000000);
  // cgroup v2: anon, shmem, file (file includes shmem).
  const ContainerCgroup::MemoryUse v2 =
      ParseMemoryStat("anon 100\nfile 500\nkernel_stack 9\nshmem 50\nfile_mapped 7\n", true);
  CHECK(v2.working_set == 150);
  CHECK(v2.cache == 450);
  // What cannot be read counts as nothing, never as garbage.
  const ContainerCgroup::MemoryUse junk = ParseMemoryStat("total_rss x\nnonsense\n\n", false);
  CHECK(junk.working_set == 0);
  CHECK(junk.cache == 0);
}

}  // namespace
}  // namespace ovvoc::agent::sandbox
