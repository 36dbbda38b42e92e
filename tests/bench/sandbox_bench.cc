// sandbox_bench: what the sandbox costs.
//
// 1. Container lifecycle (create, exec `true`, destroy), median of N, for each backend that
//    runs here, beside plain `runc run` of a minimal bundle, `docker run --rm IMAGE true` and a
//    bare host `true`.
// 2. A whole job: one fixture project's install + build + test inside the sandbox vs the same
//    commands bare on the host, with the same node and npm (the image's), the same (cold) npm
//    cache state, bare pinned to one CPU with taskset and the sandbox limited to one CPU.
//
//   sandbox_bench [--iterations N] [--job-runs N] [--registry-allow-internal] [--fixture DIR]
// `--job-runs 0` measures the lifecycle only.
// The default fixture is tests/bench/fixtures/ts-app (TypeScript build, mocha tests).
// Needs root, the job image (deploy/image/build.sh) and, for the job part, the npm registry.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/pipeline/pipeline.h"
#include "agent/pipeline/sandbox_session.h"
#include "agent/process/process.h"
#include "agent/sandbox/backend_factory.h"
#include "agent/sandbox/docker/docker_backend.h"
#include "agent/sandbox/docker/docker_client.h"
#include "agent/sandbox/job_disk.h"
#include "common/files.h"
#include "common/tls.h"
#include "tests/support/git_http_server.h"
#include "tests/support/temp_dir.h"

namespace ovvoc::bench {
namespace {

using agent::RunOptions;
using agent::RunProcess;
namespace sandbox = agent::sandbox;

constexpr char kImageDir[] = "/var/lib/ovvoc/images";

absl::Duration Median(std::vector<absl::Duration> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

absl::Duration Time(const std::function<bool()>& body, bool& ok) {
  const absl::Time start = absl::Now();
  ok = body() && ok;
  return absl::Now() - start;
}

bool Run(std::vector<std::string> argv, std::vector<std::string> env = {},
         const std::string& cwd = "", std::string* output = nullptr) {
  RunOptions run;
  run.argv = std::move(argv);
  run.env = env.empty() ? std::vector<std::string>{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"} : env;
  run.cwd = cwd;
  run.timeout = absl::Minutes(5);
  absl::StatusOr<agent::RunResult> r = RunProcess(run);
  if (output != nullptr && r.ok()) *output = r->output;
  if (!r.ok() || r->exit_code != 0) {
    std::fprintf(stderr, "  `%s` failed: %s\n", run.argv[0].c_str(),
                 r.ok() ? r->output.c_str() : r.status().ToString().c_str());
    return false;
  }
  return true;
}

// --- 1. lifecycle -------------------------------------------------------------------------

absl::Duration BackendLifecycle(sandbox::Backend& backend, const testing::TempDir& dir, int n,
                                bool with_disk) {
  std::vector<absl::Duration> samples;
  for (int i = 0; i < n; ++i) {
    const std::string job = absl::StrCat(dir.path(), "/lc-", backend.name(), "-", i);
    std::filesystem::create_directories(job + "/tree");
    std::filesystem::create_directories(job + "/home");
    bool ok = true;
    samples.push_back(Time(
        [&] {
          std::unique_ptr<sandbox::JobDisk> disk;
          sandbox::SandboxSpec spec;
          spec.name = absl::StrCat("ovvoc-bench-", backend.name(), "-", i, "-", ::getpid());
          spec.job_id = "bench";
          spec.workspace_dir = job + "/tree";
          spec.home_dir = job + "/home";
          if (with_disk) {
            absl::StatusOr<std::unique_ptr<sandbox::JobDisk>> d =
                sandbox::JobDisk::Create(job + "/disk.img", job + "/disk", 2ull << 30);
            if (!d.ok()) return false;
            disk = *std::move(d);
            spec.workspace_dir = disk->tree_dir();
            spec.home_dir = disk->home_dir();
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
          return Run({"/usr/sbin/runc", "--root", "/run/ovvoc/bench-runc", "run", "--bundle", bundle,
                      id});
        },
        ok));
  }
  return ok ? Median(samples) : absl::InfiniteDuration();
}

absl::Duration DockerRunRm(const std::string& image, int n) {
  const std::string docker = ::access("/usr/bin/docker", X_OK) == 0 ? "/usr/bin/docker"
                                                                    : "/usr/local/bin/docker";
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

// The fixture project with a lockfile made once, bare.
bool MakeFixture(const std::string& fixture, const std::string& node_bin,
                 const std::string& npm_cli, const testing::TempDir& dir, std::string& source,
                 std::string& repo) {
  source = dir.Sub("fixture");
  std::filesystem::copy(fixture, source, std::filesystem::copy_options::recursive);
  std::vector<std::string> env = {"PATH=" + std::filesystem::path(node_bin).parent_path().string() +
                                      ":/usr/bin:/bin",
                                  "HOME=" + dir.Sub("lock-home"),
                                  "NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt",
                                  "npm_config_userconfig=/dev/null", "npm_config_audit=false",
                                  "npm_config_fund=false", "npm_config_update_notifier=false"};
  if (!Run({node_bin, npm_cli, "install", "--package-lock-only"}, env, source)) return false;
  repo = dir.Sub("fixture.git");
  return testing::GitHttpServer::CreateBareRepoFromDir(source, repo).ok();
}

absl::Duration BareJob(const std::string& node_bin, const std::string& npm_cli,
                       const std::string& source, const testing::TempDir& dir, int run) {
  const std::string work = absl::StrCat(dir.path(), "/bare-", run);
  std::filesystem::copy(source, work, std::filesystem::copy_options::recursive);
  std::vector<std::string> env = {
      "PATH=" + std::filesystem::path(node_bin).parent_path().string() + ":/usr/bin:/bin",
      "HOME=" + work + "-home", "npm_config_userconfig=/dev/null",
      "NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt",
      "npm_config_cache=" + work + "-home/.npm", "npm_config_audit=false",
      "npm_config_fund=false", "npm_config_update_notifier=false", "CI=true"};
  bool ok = true;
  const std::string taskset = "/usr/bin/taskset";
  absl::Duration d = Time(
      [&] {
        return Run({taskset, "-c", "0", node_bin, npm_cli, "ci"}, env, work) &&
               Run({taskset, "-c", "0", node_bin, npm_cli, "run", "build", "--if-present"}, env,
                   work) &&
               Run({taskset, "-c", "0", node_bin, npm_cli, "test"}, env, work);
      },
      ok);
  return ok ? d : absl::InfiniteDuration();
}

// install + build + test phases (and the sandbox set-up they need) inside the sandbox.
absl::Duration SandboxJob(agent::SandboxSettings& settings, const std::string& repo,
                          const testing::TempDir& dir, const std::string& kind, int run) {
  ovvoc::v1::JobSpec spec;
  spec.set_job_id(absl::StrCat("bench-", run));
  spec.mutable_repo()->set_url("file://" + repo);
  spec.mutable_lease()->set_attempt(1);
  spec.add_registries()->set_url("https://registry.npmjs.org/");
  const std::string work = absl::StrCat(dir.path(), "/sandboxed-", kind, "-", run);
  std::filesystem::create_directories(work);
  agent::JobContext job(spec, work);
  agent::PipelineOptions options;
  options.allow_file_remotes = true;
  options.sandbox = &settings;
  agent::RunPipeline(job, agent::UpdatePhases(options));
  if (job.result().outcome() != ovvoc::v1::JOB_OUTCOME_SUCCEEDED) {
    std::fprintf(stderr, "  sandboxed job failed: %s\n", job.result().failure().reason().c_str());
    return absl::InfiniteDuration();
  }
  absl::Duration total;
  for (const auto& t : job.result().timings()) {
    if (t.phase() != "clone" && t.phase() != "manifest") {
      total += absl::Seconds(t.duration().seconds()) + absl::Nanoseconds(t.duration().nanos());
    }
  }
  return total;
}

int Main(int argc, char** argv) {
  int iterations = 15, job_runs = 5;
  bool allow_internal = false;
  std::string fixture = OVVOC_SOURCE_DIR "/tests/bench/fixtures/ts-app";
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--iterations" && i + 1 < argc) iterations = std::stoi(argv[++i]);
    else if (flag == "--job-runs" && i + 1 < argc) job_runs = std::stoi(argv[++i]);
    else if (flag == "--registry-allow-internal") allow_internal = true;
    else if (flag == "--fixture" && i + 1 < argc) fixture = argv[++i];
    else {
      std::fprintf(stderr, "usage: sandbox_bench [--iterations N] [--job-runs N] "
                           "[--registry-allow-internal] [--fixture DIR]\n");
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
  absl::StatusOr<std::string> rootfs = sandbox::PrepareRootfs(image, *digest, state);
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
    if (std::string(kind) == "oci") std::printf("  (%.2fx plain runc run)", Ms(bare) / Ms(raw_runc));
    std::printf("\n  ovvoc %-6s + job disk (2 GiB)  %8.2f ms\n", kind, Ms(disk));
    backends.emplace_back(kind, *std::move(backend));
  }

  if (job_runs <= 0) return 0;  // the lifecycle only

  const std::string node_bin = *rootfs + "/usr/local/bin/node";
  const std::string npm_cli = *rootfs + "/usr/local/lib/node_modules/npm/bin/npm-cli.js";
  std::string source, repo;
  if (!MakeFixture(fixture, node_bin, npm_cli, dir, source, repo)) {
    std::fprintf(stderr, "cannot make the fixture (is the npm registry reachable?)\n");
    return 1;
  }
  std::printf("\nwhole job: install (npm ci) + build + test of %s, cold npm cache, median of %d\n",
              std::filesystem::path(fixture).filename().c_str(), job_runs);
  std::vector<absl::Duration> bare_runs;
  for (int i = 0; i < job_runs; ++i) bare_runs.push_back(BareJob(node_bin, npm_cli, source, dir, i));
  const absl::Duration bare = Median(bare_runs);
  std::printf("  bare on the host (taskset -c 0) %8.0f ms\n", Ms(bare));
  for (auto& [kind, backend] : backends) {
    agent::SandboxSettings settings;
    settings.backend = backend.get();
    settings.limits.cpuset = "0";  // the same core the bare run is pinned to
    if (allow_internal) settings.allow_internal = {"registry.npmjs.org:443"};
    std::vector<absl::Duration> runs;
    for (int i = 0; i < job_runs; ++i) runs.push_back(SandboxJob(settings, repo, dir, kind, i));
    const absl::Duration boxed = Median(runs);
    std::printf("  ovvoc %-6s sandbox (1 CPU)     %8.0f ms  (%.2fx bare)\n", kind.c_str(),
                Ms(boxed), Ms(boxed) / Ms(bare));
  }
  return 0;
}

}  // namespace
}  // namespace ovvoc::bench

int main(int argc, char** argv) { return ovvoc::bench::Main(argc, argv); }
