// sandbox_bench: what the sandbox costs.
//
// 1. Container lifecycle (create, exec `true`, destroy), median of N, for each backend that
//    runs here, beside plain `runc run` of a minimal bundle, `docker run --rm IMAGE true` and a
//    bare host `true`.
// 2. A whole job: one fixture project's install + build + test inside the sandbox vs the same
//    commands bare on the host, with the same node and npm (the image's), the same registry (a
//    local Verdaccio mirroring the npm registry, warmed once), the same (cold) npm cache state,
//    bare pinned to CPU 0 with taskset and the sandbox to CPU 0 with its default limits. Each
//    phase's median is printed beside the totals.
//
//   sandbox_bench [--iterations N] [--job-runs N] [--fixture DIR] [--memory-mib N]
// `--job-runs 0` measures the lifecycle only; `--memory-mib` sets the sandbox's memory limit
// for the whole job (default: the agent's default, 512).
// The default fixture is tests/bench/fixtures/ts-app (TypeScript build, mocha tests).
// Needs root, the job image (deploy/image/build.sh) and, for the job part, Verdaccio
// (tests/run.sh installs it) and the npm registry, once, to fill the mirror.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/pipeline/pipeline.h"
#include "agent/pipeline/plan_step.h"
#include "agent/pipeline/sandbox_session.h"
#include "agent/process/process.h"
#include "agent/sandbox/backend_factory.h"
#include "agent/sandbox/docker/docker_backend.h"
#include "agent/sandbox/docker/docker_client.h"
#include "agent/sandbox/job_disk.h"
#include "agent/sandbox/job_uid.h"
#include "common/clock.h"
#include "common/files.h"
#include "common/http.h"
#include "common/tls.h"
#include "tests/bench/npm_bench_util.h"
#include "tests/support/git_http_server.h"
#include "tests/support/temp_dir.h"
#include "tests/support/verdaccio.h"

namespace ovvoc::bench {
namespace {

namespace sandbox = agent::sandbox;

constexpr char kImageDir[] = "/var/lib/ovvoc/images";

// --- 1. lifecycle -------------------------------------------------------------------------

absl::Duration BackendLifecycle(sandbox::Backend& backend, const testing::TempDir& dir, int n,
                                bool with_disk) {
  std::vector<absl::Duration> samples;
  for (int i = 0; i < n; ++i) {
    const std::string job = absl::StrCat(dir.path(), "/lc-", backend.name(), "-", i);
    std::filesystem::create_directories(job + "/tree");
    std::filesystem::create_directories(job + "/home");
    std::filesystem::create_directories(job + "/control");
    bool ok = true;
    samples.push_back(Time(
        [&] {
          std::unique_ptr<sandbox::JobDisk> disk;
          sandbox::SandboxSpec spec;
          spec.name = absl::StrCat("ovvoc-bench-", backend.name(), "-", i, "-", ::getpid());
          spec.job_id = "bench";
          spec.workspace_dir = job + "/tree";
          spec.home_dir = job + "/home";
          spec.control_dir = job + "/control";
          absl::StatusOr<sandbox::JobUid> uid = sandbox::JobUid::Acquire();
          if (!uid.ok()) return false;
          spec.uid = uid->uid();
          if (with_disk) {
            absl::StatusOr<std::unique_ptr<sandbox::JobDisk>> d =
                sandbox::JobDisk::Create(job + "/disk.img", job + "/disk", 2ull << 30, spec.uid);
            if (!d.ok()) return false;
            disk = *std::move(d);
            spec.workspace_dir = disk->tree_dir();
            spec.home_dir = disk->home_dir();
            spec.control_dir = disk->control_dir();
          }
          auto box = backend.Create(spec);
          if (!box.ok()) {
            std::fprintf(stderr, "  create: %s\n", box.status().ToString().c_str());
            return false;
          }
          sandbox::ExecSpec exec;
          exec.argv = {"/bin/true"};
          auto ran = (*box)->Exec(exec, nullptr);
          bool good = ran.ok() && ran->exit_code == 0;
          good = (*box)->Destroy().ok() && good;
          if (disk) good = disk->Release().ok() && good;
          return good;
        },
        ok));
    if (!ok) return absl::InfiniteDuration();
  }
  return Median(samples);
}

absl::Duration RawRuncRun(const std::string& rootfs, const testing::TempDir& dir, int n) {
  const std::string bundle = dir.Sub("raw-bundle");
  std::filesystem::create_directories(bundle);
  bool ok = Run({"/usr/sbin/runc", "spec"}, {}, bundle);
  // The default spec, minus a terminal, running `true` on our read-only rootfs.
  std::ifstream in(bundle + "/config.json");
  nlohmann::json config = nlohmann::json::parse(in);
  config["process"]["terminal"] = false;
  config["process"]["args"] = {"/bin/true"};
  config["root"] = {{"path", rootfs}, {"readonly", true}};
  std::ofstream(bundle + "/config.json") << config.dump();
  std::vector<absl::Duration> samples;
  for (int i = 0; ok && i < n; ++i) {
    const std::string id = absl::StrCat("ovvoc-bench-raw-", ::getpid(), "-", i);
    samples.push_back(Time(
        [&] {
          return Run(
              {"/usr/sbin/runc", "--root", "/run/ovvoc/bench-runc", "run", "--bundle", bundle, id});
        },
        ok));
  }
  return ok ? Median(samples) : absl::InfiniteDuration();
}

absl::Duration DockerRunRm(const std::string& image, int n) {
  const std::string docker =
      ::access("/usr/bin/docker", X_OK) == 0 ? "/usr/bin/docker" : "/usr/local/bin/docker";
  std::vector<absl::Duration> samples;
  bool ok = true;
  for (int i = 0; ok && i < n; ++i) {
    samples.push_back(Time([&] { return Run({docker, "run", "--rm", image, "/bin/true"}); }, ok));
  }
  return ok ? Median(samples) : absl::InfiniteDuration();
}

absl::Duration BareTrue(int n) {
  std::vector<absl::Duration> samples;
  bool ok = true;
  for (int i = 0; i < n; ++i) samples.push_back(Time([&] { return Run({"/bin/true"}); }, ok));
  return Median(samples);
}

// --- 2. whole job -------------------------------------------------------------------------

// Phase durations of one whole job. Bare runs have no set-up or teardown.
struct JobTimes {
  absl::Duration setup, install, build, test;
  absl::Duration total() const { return setup + install + build + test; }
};

// The fixture project with a lockfile made once, bare, against `registry`, and a repository
// of it.
bool MakeFixture(const std::string& fixture, const std::string& node_bin,
                 const std::string& npm_cli, const std::string& registry,
                 const testing::TempDir& dir, std::string& source, std::string& repo) {
  source = LockedFixture(fixture, node_bin, npm_cli, registry, dir);
  if (source.empty()) return false;
  repo = dir.Sub("fixture.git");
  return testing::GitHttpServer::CreateBareRepoFromDir(source, repo).ok();
}

// npm ci, build and test of a fresh copy of `source`, pinned to CPU 0, with a cold npm cache.
std::optional<JobTimes> BareJob(const std::string& node_bin, const std::string& npm_cli,
                                const std::string& registry, const std::string& source,
                                const std::string& work) {
  std::filesystem::copy(source, work, std::filesystem::copy_options::recursive);
  const std::vector<std::string> env = BareEnv(node_bin, work + "-home", registry);
  const std::string taskset = "/usr/bin/taskset";
  auto npm = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {taskset, "-c", "0", node_bin, npm_cli};
    argv.insert(argv.end(), args.begin(), args.end());
    return Run(argv, env, work);
  };
  bool ok = true;
  JobTimes t;
  t.install = Time([&] { return npm({"ci"}); }, ok);
  t.build = Time([&] { return npm({"run", "build", "--if-present"}); }, ok);
  t.test = Time([&] { return npm({"test"}); }, ok);
  if (!ok) return std::nullopt;
  return t;
}

// The pipeline's sandbox, install, build and test phases for the fixture's repo.
std::optional<JobTimes> SandboxJob(agent::SandboxSettings& settings, const std::string& registry,
                                   const std::string& repo, const std::string& work, int run) {
  ovvoc::v1::JobSpec spec;
  spec.set_job_id(absl::StrCat("bench-", run));
  spec.mutable_repo()->set_url("file://" + repo);
  spec.mutable_lease()->set_attempt(1);
  spec.add_registries()->set_url(registry);
  std::filesystem::create_directories(work);
  // A cold agent cache per run, as the npm cache of the bare run is cold.
  static const std::unique_ptr<http::Client> http = http::NewCurlClient();
  absl::StatusOr<std::unique_ptr<agent::registry::RegistryCache>> cache =
      agent::registry::RegistryCache::Open(work + "-registry-cache", 1ull << 30);
  if (!cache.ok()) {
    std::fprintf(stderr, "  %s\n", cache.status().ToString().c_str());
    return std::nullopt;
  }
  agent::registry::RegistryClient client(*http, **cache, Clock::Real());
  settings.registry = &client;
  agent::JobEnv env;
  env.allow_file_remotes = true;
  env.sandbox = &settings;
  const agent::JobHost host(env, work);
  agent::JobContext job(spec, env);
  const absl::Time start = absl::Now();
  host.Run(job);
  const absl::Duration wall = absl::Now() - start;
  if (job.result().outcome() != ovvoc::v1::JOB_OUTCOME_SUCCEEDED) {
    std::fprintf(stderr, "  sandboxed job failed: %s\n", job.result().failure().reason().c_str());
    return std::nullopt;
  }
  // The set-up is everything but the three commands and the clone and manifest phases (which a
  // bare run does not have): the sandbox phase, and the teardown after the last phase.
  JobTimes t;
  t.setup = wall;
  for (const auto& timing : job.result().timings()) {
    const absl::Duration d =
        absl::Seconds(timing.duration().seconds()) + absl::Nanoseconds(timing.duration().nanos());
    if (timing.phase() == "install") t.install = d;
    if (timing.phase() == "build") t.build = d;
    if (timing.phase() == "test") t.test = d;
    if (timing.phase() != "sandbox") t.setup -= d;
  }
  return t;
}

// Each phase's median, and the median of the totals.
struct JobMedians {
  JobTimes phases;
  absl::Duration total;
};

std::optional<JobMedians> Medians(const std::vector<std::optional<JobTimes>>& runs) {
  std::vector<absl::Duration> setup, install, build, test, total;
  for (const std::optional<JobTimes>& r : runs) {
    if (!r) return std::nullopt;
    setup.push_back(r->setup);
    install.push_back(r->install);
    build.push_back(r->build);
    test.push_back(r->test);
    total.push_back(r->total());
  }
  return JobMedians{{Median(setup), Median(install), Median(build), Median(test)}, Median(total)};
}

void PrintJob(const char* label, const JobMedians& m, const JobMedians* bare) {
  std::printf(
      "  %-24s %7.0f ms  (set-up and teardown %4.0f, install %5.0f, build %5.0f, test %4.0f)",
      label, Ms(m.total), Ms(m.phases.setup), Ms(m.phases.install), Ms(m.phases.build),
      Ms(m.phases.test));
  if (bare != nullptr) {
    std::printf("\n  %-24s %7.2fx    (install %.2fx, build %.2fx, test %.2fx)", "",
                Ms(m.total) / Ms(bare->total), Ms(m.phases.install) / Ms(bare->phases.install),
                Ms(m.phases.build) / Ms(bare->phases.build),
                Ms(m.phases.test) / Ms(bare->phases.test));
    // The image chosen for the project's node and the job's one-commit git repository are in
    // the set-up (issue 11: <= 5% of the job).
    std::printf("\n  %-24s %7.1f%%    set-up and teardown of the whole job", "",
                100 * Ms(m.phases.setup) / Ms(m.total));
  }
  std::printf("\n");
}

int Main(int argc, char** argv) {
  int iterations = 15, job_runs = 5;
  uint64_t memory_mib = sandbox::Limits().memory_bytes >> 20;
  std::string fixture = OVVOC_SOURCE_DIR "/tests/bench/fixtures/ts-app";
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--iterations" && i + 1 < argc)
      iterations = std::stoi(argv[++i]);
    else if (flag == "--job-runs" && i + 1 < argc)
      job_runs = std::stoi(argv[++i]);
    else if (flag == "--fixture" && i + 1 < argc)
      fixture = argv[++i];
    else if (flag == "--memory-mib" && i + 1 < argc)
      memory_mib = std::stoull(argv[++i]);
    else {
      std::fprintf(stderr,
                   "usage: sandbox_bench [--iterations N] [--job-runs N] [--fixture DIR] "
                   "[--memory-mib N]\n");
      return 2;
    }
  }
  testing::TempDir dir;
  sandbox::ImageConfig image{kImageDir, ""};
  absl::StatusOr<std::string> digest = sandbox::ResolveDigest(image);
  if (!digest.ok()) {
    std::fprintf(stderr, "%s\n", digest.status().ToString().c_str());
    return 1;
  }
  const std::string state = dir.Sub("state");
  // Its own extracted copy, apart from the backends' state (the oci backend drops the tree it
  // extracted once its filesystem image is made).
  absl::StatusOr<std::string> rootfs = sandbox::PrepareRootfs(image, *digest, dir.Sub("bare"));
  if (!rootfs.ok()) return 1;

  std::printf("container lifecycle: create, exec `true`, destroy (median of %d)\n", iterations);
  std::printf("  bare host `true`                %8.2f ms\n", Ms(BareTrue(iterations)));
  const absl::Duration raw_runc = RawRuncRun(*rootfs, dir, iterations);
  std::printf("  plain `runc run` (default spec) %8.2f ms\n", Ms(raw_runc));
  const bool docker_up = sandbox::DockerClient().Ping().ok();
  if (docker_up) {
    std::printf("  `docker run --rm IMAGE true`    %8.2f ms\n",
                Ms(DockerRunRm(sandbox::DockerImageTag(*digest), iterations)));
  }
  std::vector<std::pair<std::string, std::unique_ptr<sandbox::Backend>>> backends;
  for (const char* kind : {"oci", "docker"}) {
    if (std::string(kind) == "docker" && !docker_up) continue;
    sandbox::BackendConfig config;
    config.kind = kind;
    config.image = image;
    config.state_dir = state;
    absl::StatusOr<std::unique_ptr<sandbox::Backend>> backend = sandbox::MakeBackend(config);
    if (!backend.ok()) continue;
    const absl::Duration bare = BackendLifecycle(**backend, dir, iterations, false);
    const absl::Duration disk = BackendLifecycle(**backend, dir, iterations, true);
    std::printf("  ovvoc %-6s backend            %8.2f ms", kind, Ms(bare));
    if (std::string(kind) == "oci")
      std::printf("  (%.2fx plain runc run)", Ms(bare) / Ms(raw_runc));
    std::printf("\n  ovvoc %-6s + job disk (2 GiB)  %8.2f ms\n", kind, Ms(disk));
    backends.emplace_back(kind, *std::move(backend));
  }

  if (job_runs <= 0) return 0;  // the lifecycle only

  const std::string node_bin = *rootfs + "/usr/local/bin/node";
  const std::string npm_cli = *rootfs + "/usr/local/lib/node_modules/npm/bin/npm-cli.js";
  // Both sides install from a local caching mirror of the npm registry: the same (warm)
  // registry, the same (cold) npm cache, no internet weather in the figures.
  if (std::string why = testing::Verdaccio::UnavailableReason(); !why.empty()) {
    std::fprintf(stderr, "cannot run the whole job: %s\n", why.c_str());
    return 1;
  }
  absl::StatusOr<std::unique_ptr<testing::Verdaccio>> mirror =
      testing::Verdaccio::Start(dir.Sub("registry"), {.uplink = "https://registry.npmjs.org/"});
  if (!mirror.ok()) {
    std::fprintf(stderr, "%s\n", mirror.status().ToString().c_str());
    return 1;
  }
  const std::string registry = (*mirror)->url();
  std::string source, repo;
  if (!MakeFixture(fixture, node_bin, npm_cli, registry, dir, source, repo) ||
      !BareJob(node_bin, npm_cli, registry, source, dir.Sub("warm-up"))) {
    std::fprintf(stderr, "cannot make the fixture (is the npm registry reachable?)\n");
    return 1;
  }
  std::printf(
      "\nwhole job: npm ci + build + test of %s from a local mirror, cold npm cache, "
      "median of %d\n",
      std::filesystem::path(fixture).filename().c_str(), job_runs);
  // Runs interleave (bare, then each backend, N times), so that a registry or page cache
  // warming up over time favours no side.
  std::vector<agent::SandboxSettings> settings(backends.size());
  for (size_t b = 0; b < backends.size(); ++b) {
    settings[b].backend = backends[b].second.get();
    settings[b].limits.cpuset = "0";  // the same core the bare run is pinned to
    settings[b].limits.memory_bytes = memory_mib << 20;
    settings[b].allow_internal = {(*mirror)->host_port()};
    // As an agent runs jobs: the image of the node the project asks for (ts-app names none:
    // the default's, found the same way).
    settings[b].node_images = sandbox::FindNodeImages(
        sandbox::ImageConfig{kImageDir, ""},
        std::vector<int>(std::begin(agent::kSupportedNodeMajors),
                         std::end(agent::kSupportedNodeMajors)));
  }
  std::vector<std::optional<JobTimes>> bare_runs;
  std::vector<std::vector<std::optional<JobTimes>>> boxed_runs(backends.size());
  for (int i = 0; i < job_runs; ++i) {
    bare_runs.push_back(
        BareJob(node_bin, npm_cli, registry, source, absl::StrCat(dir.path(), "/bare-", i)));
    for (size_t b = 0; b < backends.size(); ++b) {
      boxed_runs[b].push_back(
          SandboxJob(settings[b], registry, repo,
                     absl::StrCat(dir.path(), "/sandboxed-", backends[b].first, "-", i), i));
    }
  }
  const std::optional<JobMedians> bare = Medians(bare_runs);
  if (!bare) return 1;
  PrintJob("bare (taskset -c 0)", *bare, nullptr);
  for (size_t b = 0; b < backends.size(); ++b) {
    const std::optional<JobMedians> boxed = Medians(boxed_runs[b]);
    if (!boxed) return 1;
    PrintJob(absl::StrCat("ovvoc ", backends[b].first, " (1 CPU, ", memory_mib, " MiB)").c_str(),
             *boxed, &*bare);
  }
  return 0;
}

}  // namespace
}  // namespace ovvoc::bench

int main(int argc, char** argv) { return ovvoc::bench::Main(argc, argv); }
