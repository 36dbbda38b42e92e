// The sandbox's life around jobs: the image's identity is checked before anything runs, and
// what a crashed agent left behind (containers, mounted job disks, job dirs) is removed when it
// starts again.
#include <signal.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/sandbox/backend_factory.h"
#include "agent/sandbox/image.h"
#include "agent/sandbox/job_uid.h"
#include "agent/sandbox/oci/runc_backend.h"
#include "common/files.h"
#include "tests/e2e/attack_harness.h"
#include "tests/e2e/backend_ready.h"
#include "tests/e2e/proposal_support.h"
#include "tests/support/cluster.h"
#include "tests/support/git_http_server.h"
#include "tests/support/verdaccio.h"
#include "tests/support/verdaccio_ready.h"

namespace ovvoc::testing::e2e {
namespace {

namespace fs = std::filesystem;
constexpr char kImageDir[] = "/var/lib/ovvoc/images";

CliResult Update(const TempDir& dir, const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"update", "--repo", dir.Sub("repo"), "--state-dir",
                                   dir.Sub("state")};
  args.insert(args.end(), extra.begin(), extra.end());
  return RunCli(AgentBinary(), args, dir.path());
}

bool Mounted(const std::string& under) {
  absl::StatusOr<std::string> mounts = files::ReadFile("/proc/self/mountinfo");
  return mounts.ok() && absl::StrContains(*mounts, under);
}

TEST_CASE("an image whose identity does not match is refused before any job runs") {
  const std::string backend = GENERATE("oci", "docker");
  if (!BackendReady(backend)) return;
  TempDir dir;
  fs::create_directories(dir.Sub("repo"));
  std::ofstream(dir.Sub("repo/package.json")) << "{}";
  REQUIRE(RunCli("/usr/bin/git", {"-C", dir.Sub("repo"), "init", "-q"}, dir.path()).exit_code == 0);

  // A copy of the real image with one byte of its tar changed, under the real digest.
  auto digest = agent::sandbox::ResolveDigest({kImageDir, ""});
  REQUIRE(digest.ok());
  const std::string hex = agent::sandbox::DigestHex(*digest);
  const std::string tampered = dir.Sub("images/" + hex);
  fs::create_directories(tampered);
  fs::copy_file(absl::StrCat(kImageDir, "/", hex, "/rootfs.tar"), tampered + "/rootfs.tar");
  {
    std::fstream tar(tampered + "/rootfs.tar", std::ios::in | std::ios::out | std::ios::binary);
    tar.seekp(-1, std::ios::end);
    tar.put('\x7f');
  }
  // Docker must not find an already imported copy: ask for the tampered image under a digest
  // no daemon has seen, so the backend has to import (and so verify) it.
  const std::string fake_hex(64, 'a');
  fs::create_directories(dir.Sub("images/" + fake_hex));
  fs::copy_file(tampered + "/rootfs.tar", dir.Sub("images/" + fake_hex + "/rootfs.tar"));

  // Docker keeps its own copy of the real image, checked by its layer digest, so the tampered
  // tar under the real digest matters only to the oci backend.
  // An image is verified when it is prepared: an image cache of its own, where nothing is.
  std::vector<std::string> images = {"sha256:" + fake_hex};
  if (backend == "oci") images.push_back(*digest);
  for (const std::string& image : images) {
    INFO(backend << " " << image);
    CliResult r = Update(dir, {"--sandbox", backend, "--image-dir", dir.Sub("images"), "--image",
                               image, "--image-cache", dir.Sub("image-cache")});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("refusing the job image"));
  }
  CliResult missing = Update(dir, {"--sandbox", backend, "--image-dir", dir.Sub("images"),
                                   "--image", "sha256:" + std::string(64, 'b')});
  CHECK(missing.exit_code == 2);
  CHECK_THAT(missing.err, Catch::Contains("deploy/image/build.sh"));
  CliResult malformed = Update(dir, {"--sandbox", backend, "--image", "sha256:xyz"});
  CHECK(malformed.exit_code == 2);
  CHECK_THAT(malformed.err, Catch::Contains("not sha256:<64 lowercase hex>"));
}

// The pids of `pid`'s children, from /proc.
std::vector<pid_t> ChildrenOf(pid_t pid) {
  std::vector<pid_t> children;
  std::error_code ec;
  for (const fs::directory_entry& task :
       fs::directory_iterator(absl::StrCat("/proc/", pid, "/task"), ec)) {
    std::ifstream in(task.path() / "children");
    for (pid_t child; in >> child;) children.push_back(child);
  }
  return children;
}

TEST_CASE("an agent that died mid-job leaves nothing behind once it starts again") {
  const std::string backend = GENERATE("oci", "docker");
  // Alone (its `runc run` lives on), or with every process it started, as a service manager
  // kills a service (the container is not among them: it has cgroups of its own).
  const bool with_children = GENERATE(false, true);
  if (!BackendReady(backend)) return;
  INFO(backend << (with_children ? ", agent killed with its children" : ", agent killed alone"));
  TempDir dir;
  auto cp = ControlPlaneUnderTest::Start(dir.Sub("cp"), {"--lease-ttl", "30s"});
  REQUIRE(cp.ok());
  auto token = (*cp)->Token("acme");
  REQUIRE(token.ok());
  REQUIRE(AgentUnderTest::Register(dir.Sub("agent"), (*cp)->address(), *token).ok());
  fs::create_directories(dir.Sub("src"));
  std::ofstream(dir.Sub("src/package.json")) << R"({"name": "x", "version": "1.0.0"})";
  REQUIRE(GitHttpServer::CreateBareRepoFromDir(dir.Sub("src"), dir.Sub("x.git")).ok());
  auto repo =
      (*cp)->Create({"repo", "add", "--org", "acme", "--url", "file://" + dir.Sub("x.git")});
  REQUIRE(repo.ok());
  auto job = (*cp)->Create({"job", "create", "--repo", *repo});
  REQUIRE(job.ok());

  const std::vector<std::string> flags = {"--sandbox", backend, "--hold-commands", "120s"};
  {
    auto agent = AgentUnderTest::Run(dir.Sub("agent"), flags);
    REQUIRE(agent.ok());
    // The install command holds: the container and the job disk exist now.
    REQUIRE((*agent)->daemon().WaitForLog("holding ", std::chrono::milliseconds(60'000)));
    const std::vector<pid_t> children = ChildrenOf((*agent)->daemon().pid());
    (*agent)->daemon().Signal(SIGKILL);
    if (with_children) {
      for (pid_t child : children) ::kill(child, SIGKILL);
    }
    REQUIRE((*agent)->daemon().Wait(std::chrono::milliseconds(10'000)).ok());
  }
  // Nothing of the job keeps running without its agent: the container's init ends when it
  // loses the agent's channel.
  auto job_running = [&]() -> bool {
    auto running = ListJobContainers(backend, dir.Sub("agent"), /*running_only=*/true);
    return !running.ok() || std::any_of(running->begin(), running->end(),
                                        [&](const auto& c) { return absl::StrContains(c, *job); });
  };
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (job_running() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(100));
  CHECK_FALSE(job_running());

  const std::string work = dir.Sub("agent/work");
  auto before = ListJobContainers(backend, dir.Sub("agent"));
  REQUIRE(before.ok());
  bool container_left = false;
  for (const std::string& c : *before) container_left |= absl::StrContains(c, *job);
  // Stopped but still there, for the next start to remove; except on oci with its `runc run`
  // alive, which removes the container itself once the init has ended.
  CHECK(container_left == (backend == "docker" || with_children));
  CHECK(Mounted(work));
  CHECK(!fs::is_empty(work));

  // Started again, it removes all of that before it asks for work.
  auto again = AgentUnderTest::Run(dir.Sub("agent"), flags);
  REQUIRE(again.ok());
  auto after = ListJobContainers(backend, dir.Sub("agent"));
  REQUIRE(after.ok());
  for (const std::string& c : *after) CHECK_FALSE(absl::StrContains(c, *job + "-1"));
  CHECK(!Mounted(work + "/job-" + *job));
  CHECK_THAT((*again)->daemon().Log(), Catch::Contains("removing leftover"));
  (void)(*cp)->Cli({"job", "cancel", *job});
}

TEST_CASE("a container that cannot start fails at once with runc's reason and leaves nothing") {
  if (!BackendReady("oci")) return;
  TempDir dir;
  fs::create_directories(dir.Sub("rootfs"));  // no init, no anything: runc cannot exec
  fs::create_directories(dir.Sub("tree"));
  fs::create_directories(dir.Sub("home"));
  agent::sandbox::RuncOptions options;
  options.state_root = dir.Sub("runc");
  options.bundles_dir = dir.Sub("bundles");
  options.rootfs = dir.Sub("rootfs");
  std::unique_ptr<agent::sandbox::Backend> backend = agent::sandbox::MakeRuncBackend(options);
  agent::sandbox::SandboxSpec spec;
  spec.name = "ovvoc-cannot-start";
  spec.job_id = "cannot-start";
  spec.workspace_dir = dir.Sub("tree");
  spec.home_dir = dir.Sub("home");
  spec.control_dir = dir.Sub("control");
  auto uid = agent::sandbox::JobUid::Acquire();
  REQUIRE(uid.ok());
  spec.uid = uid->uid();
  const absl::Time start = absl::Now();
  auto box = backend->Create(spec);
  REQUIRE_FALSE(box.ok());
  CHECK(absl::Now() - start < absl::Seconds(5));  // not the 10 s wait for the init
  CHECK_THAT(std::string(box.status().message()), Catch::Contains("runc said"));
  CHECK_THAT(std::string(box.status().message()), Catch::Contains("ovvoc-init"));
  auto left = ListJobContainers("oci", dir.path());
  REQUIRE(left.ok());
  CHECK(left->empty());
  CHECK(fs::is_empty(dir.Sub("bundles")));
}

TEST_CASE("a container whose runc died is still removed when the job ends") {
  if (!BackendReady("oci")) return;
  TempDir dir;
  fs::create_directories(dir.Sub("tree"));
  fs::create_directories(dir.Sub("home"));
  agent::sandbox::BackendConfig config;
  config.kind = "oci";
  config.image = {kImageDir, ""};
  config.state_dir = dir.Sub("state");
  auto backend = agent::sandbox::MakeBackend(config);
  REQUIRE(backend.ok());
  agent::sandbox::SandboxSpec spec;
  spec.name = "ovvoc-runc-died";
  spec.job_id = "runc-died";
  spec.workspace_dir = dir.Sub("tree");
  spec.home_dir = dir.Sub("home");
  spec.control_dir = dir.Sub("control");
  auto uid = agent::sandbox::JobUid::Acquire();
  REQUIRE(uid.ok());
  spec.uid = uid->uid();
  auto box = (*backend)->Create(spec);
  REQUIRE(box.ok());
  const int init = (*box)->init_pid();
  // runc (our only child) dies; the container's init lives on without it.
  const std::vector<pid_t> children = ChildrenOf(::getpid());
  REQUIRE(children.size() == 1);
  ::kill(children[0], SIGKILL);
  CHECK(::kill(init, 0) == 0);

  CHECK((*box)->Destroy().ok());  // `runc delete` does what runc could not
  const absl::Time deadline = absl::Now() + absl::Seconds(5);  // reaped by whoever adopted it
  while (::kill(init, 0) == 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
  CHECK(::kill(init, 0) != 0);
  auto left = ListJobContainers("oci", config.state_dir);
  REQUIRE(left.ok());
  CHECK(left->empty());
}

// Interrupts `update` (an `ovvoc-agent update --json json`), which must stop within seconds,
// exiting 1: its result.
nlohmann::json Interrupt(Daemon& update, const std::string& json) {
  const absl::Time interrupted = absl::Now();
  update.Signal(SIGINT);
  auto code = update.Wait(std::chrono::milliseconds(30'000));
  REQUIRE(code.ok());
  CHECK(*code == 1);
  CHECK(absl::Now() - interrupted < absl::Seconds(10));
  std::ifstream in(json);
  return nlohmann::json::parse(in, nullptr, false);
}

TEST_CASE("an interrupted update cancels the running phase and leaves nothing behind") {
  const std::string backend = GENERATE("oci", "docker");
  if (!BackendReady(backend)) return;
  TempDir dir;
  fs::create_directories(dir.Sub("src"));
  std::ofstream(dir.Sub("src/package.json"))
      << R"({"name": "slow", "version": "1.0.0", "scripts": {"preinstall": "sleep 600"}})";
  REQUIRE(GitHttpServer::CreateBareRepoFromDir(dir.Sub("src"), dir.Sub("slow.git")).ok());
  auto update =
      Daemon::Start({AgentBinary(), "update", "--repo", dir.Sub("slow.git"), "--sandbox", backend,
                     "--state-dir", dir.Sub("state"), "--json", dir.Sub("result.json")},
                    ChildEnv(dir.path()), dir.Sub("update.log"));
  REQUIRE(update.ok());
  REQUIRE((*update)->WaitForLog(": install", std::chrono::milliseconds(60'000)));
  absl::SleepFor(absl::Seconds(1));  // npm is inside its preinstall now
  const nlohmann::json result = Interrupt(**update, dir.Sub("result.json"));
  CHECK(result["baseline"]["install"]["termination"] == "TERMINATION_CANCELLED");
  CHECK(result["outcome"] == "JOB_OUTCOME_CANCELLED");
  CHECK(!Mounted(dir.Sub("state/work")));
  CHECK(fs::is_empty(dir.Sub("state/work")));
  auto left = ListJobContainers(backend, dir.Sub("state"));
  REQUIRE(left.ok());
  for (const std::string& c : *left) CHECK_FALSE(absl::StrContains(c, "ovvoc-job_"));
}

// How many `sleep 600` processes run on the host (in containers too).
int SleepingInstalls() {
  int count = 0;
  for (const fs::directory_entry& entry : fs::directory_iterator("/proc")) {
    std::ifstream in(entry.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmdline == std::string("sleep\0"
                               "600\0",
                               10))
      ++count;
  }
  return count;
}

// Proposals proven side by side (--parallel-trials): an interrupt stops every running trial's
// command at once, and nothing of any of them is left.
TEST_CASE(
    "an interrupted update cancels every proposal's running trial and leaves nothing behind") {
  if (!BackendReady("oci") || !VerdaccioReady()) return;
  TempDir dir;
  auto started = Verdaccio::Start(dir.Sub("verdaccio"));
  REQUIRE(started.ok());
  Verdaccio& registry = **started;
  const char* names[] = {"ovvoc-lc-one", "ovvoc-lc-two"};
  for (const char* name : names) {
    REQUIRE(Publish(registry, name, "1.0.0", "module.exports = 1;\n").ok());
  }
  const nlohmann::json manifest = {
      {"name", "ovvoc-lc-app"},
      {"private", true},
      {"version", "1.0.0"},
      {"scripts", {{"test", "node -e 1"}}},
      {"dependencies", {{"ovvoc-lc-one", "^1.0.0"}, {"ovvoc-lc-two", "^1.0.0"}}}};
  MakeSmallApp(registry, dir, manifest.dump(2) + "\n");
  for (const char* name : names) {  // each update's install takes ten minutes
    REQUIRE(Publish(registry, name, "1.0.1", "module.exports = 1;\n",
                    {{"scripts", {{"postinstall", "sleep 600"}}}})
                .ok());
  }
  auto update = Daemon::Start(
      {AgentBinary(), "update", "--repo", dir.Sub("app.git"), "--sandbox", "oci", "--state-dir",
       dir.Sub("state"), "--json", dir.Sub("result.json"), "--no-branches", "--registry",
       registry.url(), "--allow-internal", registry.host_port(), "--parallel-trials", "2"},
      ChildEnv(dir.path()), dir.Sub("update.log"));
  REQUIRE(update.ok());
  REQUIRE((*update)->WaitForLog("proving 2 proposals, 2 at a time",
                                std::chrono::milliseconds(120'000)));
  // Both trials' installs are in their postinstall's sleep.
  const absl::Time give_up = absl::Now() + absl::Seconds(120);
  while (SleepingInstalls() < 2 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(200));
  REQUIRE(SleepingInstalls() == 2);
  const nlohmann::json result = Interrupt(**update, dir.Sub("result.json"));
  INFO(result.dump(2));
  CHECK(result["outcome"] == "JOB_OUTCOME_CANCELLED");
  REQUIRE(result.value("proposals", nlohmann::json::array()).size() == 2);
  for (const nlohmann::json& p : result["proposals"]) {
    CHECK(p["outcome"] == "PROPOSAL_OUTCOME_NOT_RUN");
    CHECK(p["trial"]["install"]["termination"] == "TERMINATION_CANCELLED");
  }
  CHECK(!Mounted(dir.Sub("state/work")));
  CHECK(fs::is_empty(dir.Sub("state/work")));
  auto left = ListJobContainers("oci", dir.Sub("state"));
  REQUIRE(left.ok());
  for (const std::string& c : *left) CHECK_FALSE(absl::StrContains(c, "ovvoc-job_"));
}

}  // namespace
}  // namespace ovvoc::testing::e2e
