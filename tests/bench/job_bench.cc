// job_bench: what proving updates costs.
//
// A project of five dependencies (`build`: node build.js, `test`: node --test with a test that
// requires each), locked against 1.0.0 of five packages a local Verdaccio serves, then a newer
// release of each: four patches that keep the tests passing and a major that fails one. Timed,
// each --runs times, interleaved, medians (min - max) printed:
//   bare         npm ci + npm run build + npm test of the project on the host, with the job
//                image's node and npm, pinned to one CPU as a job is limited to one, a fresh empty
//                npm cache and no user npmrc
//   first job    `ovvoc-agent update --sandbox B` with a fresh --state-dir (the passing
//                proposals' branches written into the fixture's bare repository):
//                nothing cached (image, registry cache); the baseline and the five proposals;
//                the phases' timings and each proposal's trial from its --json result
//   baseline remembered   the same command on the same state dir with --rerun-proposals: the
//                baseline taken from the first job's memo, the five proposals proven again
//   repeat job   the same command on the same state dir: nothing new since, the baseline and
//                every proposal taken from the memo
//
//   floor        what four npm runs cost with nothing to do, after the bare run in its tree:
//                `npm install --package-lock-only` and `npm install --no-save` of the installed
//                project, and the bare build and test: the least a proposal's trial can cost
//                (it resolves, installs, builds and tests), over every CPU of the machine
//
//   job_bench [--runs N] [--backend oci|docker|both] [--more-deps N] [--parallel-trials N]
//             [--project tiny|ts-app]
//   (--parallel-trials: passed to the agent; without it, the agent's default. --project ts-app:
//   the five dependencies added to tests/bench/fixtures/ts-app, a TypeScript project built with
//   tsc and tested with mocha, whose other packages come from the npm registry through the
//   Verdaccio, a caching mirror; the job allows updates of the five only)
// Needs root (the sandbox), the job image (deploy/image/build.sh) and Verdaccio (tests/run.sh
// installs it); docker only for --backend docker|both. No network beyond loopback, except the
// npm registry for --project ts-app.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/sandbox/docker/docker_client.h"
#include "nlohmann/json.hpp"
#include "tests/bench/npm_bench_util.h"
#include "tests/support/cluster.h"
#include "tests/support/git_http_server.h"
#include "tests/support/temp_dir.h"
#include "tests/support/verdaccio.h"

namespace ovvoc::bench {
namespace {

namespace fs = std::filesystem;

// --- the fixture --------------------------------------------------------------------------

// The five dependencies; the last one's next release is a major that changes its API.
constexpr const char* kPackages[] = {"ovvoc-jb-alpha", "ovvoc-jb-bravo", "ovvoc-jb-charlie",
                                     "ovvoc-jb-delta", "ovvoc-jb-echo"};
constexpr int kProposals = 5;

constexpr char kManifest[] = R"({
  "name": "ovvoc-job-bench-app",
  "version": "1.0.0",
  "private": true,
  "scripts": {
    "build": "node build.js",
    "test": "node --test"
  },
  "dependencies": {
    "ovvoc-jb-alpha": "^1.0.0",
    "ovvoc-jb-bravo": "^1.0.0",
    "ovvoc-jb-charlie": "^1.0.0",
    "ovvoc-jb-delta": "^1.0.0",
    "ovvoc-jb-echo": "^1.0.0"
  }
}
)";

// Real but quick work: every source file through every dependency, a digest of each, written
// to dist/.
constexpr char kBuildJs[] = R"(const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const deps = ['alpha', 'bravo', 'charlie', 'delta', 'echo'].map((n) => require('ovvoc-jb-' + n));
const out = {};
for (const file of fs.readdirSync('src').sort()) {
  let text = fs.readFileSync(path.join('src', file), 'utf8');
  for (const dep of deps) text = dep.transform(text);
  let digest = text;
  for (let i = 0; i < 2000; ++i) digest = crypto.createHash('sha256').update(digest).digest('hex');
  out[file] = {length: text.length, digest};
}
fs.mkdirSync('dist', {recursive: true});
fs.writeFileSync('dist/build.json', JSON.stringify(out, null, 2) + '\n');
console.log('built ' + Object.keys(out).length + ' files');
)";

constexpr char kTestJs[] = R"(const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
for (const name of ['alpha', 'bravo', 'charlie', 'delta', 'echo']) {
  test(name + ' keeps its API', () => {
    const dep = require('ovvoc-jb-' + name);
    assert.strictEqual(dep.api, 1);
    assert.strictEqual(typeof dep.transform('x'), 'string');
  });
}
test('the build wrote every file', () => {
  const built = JSON.parse(fs.readFileSync('dist/build.json', 'utf8'));
  assert.strictEqual(Object.keys(built).length, 8);
});
)";

// --project ts-app's test of the five: mocha, compiled by the project's tsc with its own tests.
constexpr char kTsTest[] = R"(import { strict as assert } from 'assert';

describe('the ovvoc-jb packages', () => {
  for (const name of ['alpha', 'bravo', 'charlie', 'delta', 'echo']) {
    it(`${name} keeps its API`, () => {
      const dep = require(`ovvoc-jb-${name}`);
      assert.equal(dep.api, 1);
      assert.equal(typeof dep.transform('x'), 'string');
    });
  }
});
)";

std::string PackageJs(const std::string& name, const std::string& version, int api) {
  return absl::StrCat(
      "module.exports = {\n  name: '", name, "',\n  version: '", version, "',\n  api: ", api,
      ",\n  transform: (s) => s.split('\\n').map((l) => l.trim()).join('\\n'),\n};\n");
}

absl::Status Publish(testing::Verdaccio& registry, const std::string& name,
                     const std::string& version, int api) {
  testing::Verdaccio::Generated g;
  g.name = name;
  g.version = version;
  g.index_js = PackageJs(name, version, api);
  return registry.PublishVersion(g);
}

// dir/app, locked against 1.0.0 of each package, and dir/app.git of it; then the releases the
// job is to prove.
// `more_deps` more dependencies ("ovvoc-jb-more-N" 1.0.0, which no update touches) make the tree
// larger, as a real project's is: what an install over the baseline's node_modules saves.
// `project`: "tiny" (the project above) or "ts-app" (tests/bench/fixtures/ts-app with the five
// added, its test of them beside its own; updates allowed for the five only).
absl::Status MakeFixture(testing::Verdaccio& registry, const testing::TempDir& dir, int more_deps,
                         const std::string& project) {
  for (const char* name : kPackages) {
    if (absl::Status s = Publish(registry, name, "1.0.0", 1); !s.ok()) return s;
  }
  const std::string app = dir.Sub("app");
  nlohmann::json manifest;
  if (project == "ts-app") {
    fs::copy(OVVOC_SOURCE_DIR "/tests/bench/fixtures/ts-app", app, fs::copy_options::recursive);
    std::ifstream in(app + "/package.json");
    manifest = nlohmann::json::parse(in);
    for (const char* name : kPackages) manifest["dependencies"][name] = "^1.0.0";
    std::ofstream(app + "/test/ovvoc-jb.test.ts") << kTsTest;
  } else {
    manifest = nlohmann::json::parse(kManifest);
    fs::create_directories(app + "/src");
    std::ofstream(app + "/build.js") << kBuildJs;
    fs::create_directories(app + "/test");
    std::ofstream(app + "/test/app.test.js") << kTestJs;
    for (int i = 0; i < 8; ++i) {
      std::ofstream src(absl::StrCat(app, "/src/module", i, ".js"));
      for (int line = 0; line < 200; ++line)
        src << "  export const v" << line << " = " << i << ";\n";
    }
  }
  for (int i = 0; i < more_deps; ++i) {
    const std::string name = absl::StrCat("ovvoc-jb-more-", i);
    if (absl::Status s = Publish(registry, name, "1.0.0", 1); !s.ok()) return s;
    manifest["dependencies"][name] = "^1.0.0";
  }
  std::ofstream(app + "/package.json") << manifest.dump(2) << "\n";
  std::ofstream(app + "/.ovvoc.yml")
      << "cooldown:\n  default-days: 0\nallow:\n  - dependency-name: \"ovvoc-jb-*\"\n";
  absl::StatusOr<testing::ProcessResult> locked =
      registry.Npm({"install", "--package-lock-only"}, app);
  if (!locked.ok()) return locked.status();
  absl::StatusOr<std::string> commit =
      testing::GitHttpServer::CreateBareRepoFromDir(app, dir.Sub("app.git"));
  if (!commit.ok()) return commit.status();
  for (int i = 0; i + 1 < kProposals; ++i) {
    if (absl::Status s = Publish(registry, kPackages[i], "1.0.1", 1); !s.ok()) return s;
  }
  return Publish(registry, kPackages[kProposals - 1], "2.0.0", 2);
}

// --- bare -----------------------------------------------------------------------------------

struct BareTimes {
  absl::Duration install, build, test;
  // With nothing to do, after the run: a resolve of the lockfile, an install over node_modules.
  absl::Duration resolve_floor, install_floor;
  absl::Duration total() const { return install + build + test; }
  // What a proposal's four npm runs cost at the least: each with nothing to do.
  absl::Duration floor() const { return resolve_floor + install_floor + build + test; }
};

// npm ci, build and test of a fresh copy of `source`, pinned to CPU 0, with an empty npm cache
// and an empty user npmrc (the host's ~/.npmrc stays out: HOME is a fresh dir too).
std::optional<BareTimes> BareRun(const std::string& registry, const std::string& source,
                                 const std::string& work) {
  fs::copy(source, work, fs::copy_options::recursive);
  const std::string home = work + "-home";
  fs::create_directories(home);
  const std::string userconfig = home + "/empty-npmrc";
  std::ofstream(userconfig).flush();
  const std::vector<std::string> env = BareEnv(kImageNode, home, registry);
  auto npm = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {"/usr/bin/taskset", "-c", "0", kImageNode, kImageNpmCli};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--userconfig", userconfig, "--cache", home + "/npm-cache"});
    return Run(argv, env, work);
  };
  bool ok = true;
  BareTimes t;
  t.install = Time([&] { return npm({"ci"}); }, ok);
  t.build = Time([&] { return ok && npm({"run", "build"}); }, ok);
  t.test = Time([&] { return ok && npm({"test"}); }, ok);
  // The commands a proposal's trial runs (proposal_run.cc), here with nothing to change: npm's
  // own cost of loading, reading the tree and finding it complete. The hidden lockfile npm left
  // in node_modules stays, which spares npm reading every package (a proposal's tree has none).
  t.resolve_floor = Time(
      [&] {
        return ok && npm({"install", "--package-lock-only", "--ignore-scripts", "--no-audit",
                          "--no-fund"});
      },
      ok);
  t.install_floor = Time([&] { return ok && npm({"install", "--no-save"}); }, ok);
  if (!ok) return std::nullopt;
  return t;
}

// --- jobs -----------------------------------------------------------------------------------

struct ProposalTimes {
  std::string label;    // "ovvoc-jb-alpha 1.0.0 -> 1.0.1"
  std::string outcome;  // "passed", "failed"
  bool remembered = false;  // an earlier job's outcome (nothing new): not proven in this job
  bool install_reused = false;  // npm installed over the baseline's node_modules
  absl::Duration trial, lockfile, install, build, test;
};

struct JobRun {
  absl::Duration wall;
  std::vector<std::pair<std::string, absl::Duration>> phases;  // in the job's order
  std::vector<ProposalTimes> proposals;
};

// A protobuf Duration as JSON writes it ("1.234s"); zero when absent.
absl::Duration JsonDuration(const nlohmann::json& j) {
  absl::Duration d;
  if (!j.is_string() || !absl::ParseDuration(j.get<std::string>(), &d)) return absl::ZeroDuration();
  return d;
}

absl::Duration CommandDuration(const nlohmann::json& trial, const char* phase) {
  if (!trial.contains(phase)) return absl::ZeroDuration();
  return JsonDuration(trial.at(phase).value("duration", nlohmann::json()));
}

ProposalTimes ProposalOf(const nlohmann::json& p) {
  ProposalTimes t;
  const nlohmann::json updates = p.value("updates", nlohmann::json::array());
  for (const nlohmann::json& u : updates) {
    if (!t.label.empty()) t.label += ", ";
    t.label += absl::StrCat(u.value("name", "?"), " ", u.value("from_version", "?"), " -> ",
                            u.value("to_version", "?"));
  }
  t.remembered = p.contains("proven_by_job");
  const std::string outcome = p.value("outcome", "");
  t.outcome = outcome == "PROPOSAL_OUTCOME_PASSED"   ? "passed"
              : outcome == "PROPOSAL_OUTCOME_FAILED" ? "failed"
                                                     : outcome;
  const nlohmann::json trial = p.value("trial", nlohmann::json::object());
  t.trial = JsonDuration(trial.value("duration", nlohmann::json()));
  t.lockfile = CommandDuration(trial, "lockfile");
  t.install = CommandDuration(trial, "install");
  t.install_reused = trial.value("install_reused", false);
  t.build = CommandDuration(trial, "build");
  t.test = CommandDuration(trial, "test");
  return t;
}

// The job's figures from its --json result; nullopt, with why on stderr, unless it succeeded
// with the five proposals the fixture makes (four passed, one failed).
std::optional<JobRun> ReadJob(const testing::CliResult& run, const std::string& json_path,
                              absl::Duration wall) {
  std::ifstream in(json_path);
  const nlohmann::json result = nlohmann::json::parse(in, nullptr, false);
  JobRun job{wall, {}, {}};
  int passed = 0;
  if (!result.is_discarded()) {
    for (const nlohmann::json& t : result.value("timings", nlohmann::json::array())) {
      const std::string phase = t.value("phase", "?");
      auto it = std::find_if(job.phases.begin(), job.phases.end(),
                             [&](const auto& p) { return p.first == phase; });
      if (it == job.phases.end()) it = job.phases.insert(job.phases.end(), {phase, {}});
      it->second += JsonDuration(t.value("duration", nlohmann::json()));
    }
    for (const nlohmann::json& p : result.value("proposals", nlohmann::json::array())) {
      job.proposals.push_back(ProposalOf(p));
      passed += job.proposals.back().outcome == "passed";
    }
  }
  if (run.exit_code != 0 || job.proposals.size() != kProposals || passed != kProposals - 1) {
    std::fprintf(stderr,
                 "  the job did not run as the fixture expects (exit %d, %zu proposals, "
                 "%d passed):\n%s\n%s\n",
                 run.exit_code, job.proposals.size(), passed, run.out.c_str(), run.err.c_str());
    return std::nullopt;
  }
  return job;
}

struct JobSetup {
  std::string backend;
  std::string repo;
  std::string registry_url;
  std::string registry_host_port;
  std::string home;
  std::vector<std::string> agent_flags;  // --parallel-trials N, when the bench was given it
};

std::optional<JobRun> AgentJob(const JobSetup& setup, const std::string& state_dir,
                               const std::string& image_cache, const std::string& json_path,
                               std::vector<std::string> extra = {}) {
  fs::remove(json_path);
  const absl::Time start = absl::Now();
  // Branches written, as `update` does by default: a remembered pass stands only while its
  // branch holds the lockfile it was proven with.
  std::vector<std::string> args = {"update",           setup.repo,
                                   "--state-dir",      state_dir,
                                   "--image-cache",    image_cache,
                                   "--json",           json_path,
                                   "--sandbox",        setup.backend,
                                   "--registry",       setup.registry_url,
                                   "--allow-internal", setup.registry_host_port};
  args.insert(args.begin() + 1, "--repo");
  args.insert(args.end(), setup.agent_flags.begin(), setup.agent_flags.end());
  args.insert(args.end(), extra.begin(), extra.end());
  const testing::CliResult run =
      testing::RunCli(testing::AgentBinary(), args, setup.home, std::chrono::minutes(20));
  const absl::Duration wall = absl::Now() - start;
  // Its log beside its result, for OVVOC_KEEP_TEST_DIRS=1 runs: where the time went.
  std::ofstream(json_path + ".log") << run.err;
  return ReadJob(run, json_path, wall);
}

// --- figures --------------------------------------------------------------------------------

struct Spread {
  absl::Duration median, min, max;
};

Spread SpreadOf(const std::vector<absl::Duration>& v) {
  return {Median(v), *std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end())};
}

std::string Show(const Spread& s) {
  char buf[80];
  std::snprintf(buf, sizeof buf, "%7.0f ms  (%.0f - %.0f)", Ms(s.median), Ms(s.min), Ms(s.max));
  return buf;
}

absl::Duration Mean(const std::vector<absl::Duration>& v) {
  absl::Duration sum;
  for (absl::Duration d : v) sum += d;
  return v.empty() ? sum : sum / static_cast<int64_t>(v.size());
}

// The phases' medians, the baseline's (every phase but the proposals) and what the job spent
// outside its phases: starting, and for a fresh state dir making the image ready in it.
void PrintPhases(const std::vector<JobRun>& runs, absl::Duration bare) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<absl::Duration>> by_phase;
  std::vector<absl::Duration> baseline, outside, inside;
  for (const JobRun& r : runs) {
    absl::Duration phases, proposals;
    for (const auto& [phase, d] : r.phases) {
      if (std::find(order.begin(), order.end(), phase) == order.end()) order.push_back(phase);
      by_phase[phase].push_back(d);
      phases += d;
      if (phase == "proposals") proposals += d;
    }
    baseline.push_back(phases - proposals);
    outside.push_back(r.wall - phases);
    inside.push_back(phases);
  }
  std::vector<std::string> parts;
  for (const std::string& phase : order) {
    parts.push_back(absl::StrCat(phase, " ", static_cast<int64_t>(Ms(Median(by_phase[phase])))));
  }
  std::printf("    phases (ms)       %s\n", absl::StrJoin(parts, ", ").c_str());
  std::printf("    baseline          %7.0f ms  (every phase but the proposals)\n",
              Ms(Median(baseline)));
  std::printf(
      "    outside phases    %7.0f ms  (agent start-up; on a new machine the job image "
      "verified, extracted and made an ext4 image in the image cache)\n",
      Ms(Median(outside)));
  std::printf("    the phases alone  %7.0f ms  %5.2fx bare\n", Ms(Median(inside)),
              Ms(Median(inside)) / Ms(bare));
}

// Each proposal's median trial and where it went, and the median over runs of the mean trial.
void PrintProposals(const std::vector<JobRun>& runs, absl::Duration bare) {
  const std::vector<ProposalTimes>& some = runs[0].proposals;
  if (std::all_of(some.begin(), some.end(), [](const ProposalTimes& p) { return p.remembered; })) {
    std::printf("    each proposal     an earlier job's outcome: nothing new, not proven again\n");
    return;
  }
  std::vector<absl::Duration> means, shares;
  for (const JobRun& r : runs) {
    std::vector<absl::Duration> trials;
    for (const ProposalTimes& p : r.proposals) trials.push_back(p.trial);
    means.push_back(Mean(trials));
    for (const auto& [phase, d] : r.phases) {
      if (phase == "proposals") shares.push_back(d / static_cast<int64_t>(r.proposals.size()));
    }
  }
  const Spread share = SpreadOf(shares), mean = SpreadOf(means);
  std::printf(
      "    each extra proposal %s  %5.2fx bare   target <= 0.5x  (the proposals phase / "
      "proposals: what one more adds to the job's wall clock, trials side by side)\n",
      Show(share).c_str(), Ms(share.median) / Ms(bare));
  std::printf("    mean trial          %s  %5.2fx bare   (one proposal's own, start to end)\n",
              Show(mean).c_str(), Ms(mean.median) / Ms(bare));
  for (size_t i = 0; i < runs[0].proposals.size(); ++i) {
    std::vector<absl::Duration> trial, lockfile, install, build, test;
    for (const JobRun& r : runs) {
      trial.push_back(r.proposals[i].trial);
      lockfile.push_back(r.proposals[i].lockfile);
      install.push_back(r.proposals[i].install);
      build.push_back(r.proposals[i].build);
      test.push_back(r.proposals[i].test);
    }
    const absl::Duration rest =
        Median(trial) - Median(lockfile) - Median(install) - Median(build) - Median(test);
    std::printf(
        "      %-32s %-6s %6.0f ms  (lockfile %4.0f, install %4.0f%s, build %4.0f, test %4.0f, "
        "rest %4.0f)\n",
        runs[0].proposals[i].label.c_str(), runs[0].proposals[i].outcome.c_str(), Ms(Median(trial)),
        Ms(Median(lockfile)), Ms(Median(install)),
        runs[0].proposals[i].install_reused ? " over the baseline's" : "", Ms(Median(build)),
        Ms(Median(test)), Ms(rest));
  }
  std::printf(
      "      (lockfile and test are the result's: the last npm run of each; rest holds the "
      "first, pinned lockfile run, a failed test's first run, the container, apply and "
      "verify; install over the baseline's: `npm install --no-save` into a copy of the "
      "node_modules "
      "the baseline's install left)\n");
}

void PrintJob(const char* label, const std::vector<JobRun>& runs, absl::Duration bare,
              const char* target) {
  std::vector<absl::Duration> walls;
  for (const JobRun& r : runs) walls.push_back(r.wall);
  const Spread wall = SpreadOf(walls);
  std::printf("  %-34s %s  %5.2fx bare   %s\n", label, Show(wall).c_str(),
              Ms(wall.median) / Ms(bare), target);
  PrintPhases(runs, bare);
  PrintProposals(runs, bare);
}

// --- main -----------------------------------------------------------------------------------

struct Flags {
  int runs = 3;
  std::vector<std::string> backends = {"oci"};
  int more_deps = 0;
  int parallel_trials = 0;  // 0: the agent's default
  std::string project = "tiny";  // or "ts-app"
};

std::optional<Flags> ParseFlags(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--runs" && i + 1 < argc) {
      flags.runs = std::max(1, std::atoi(argv[++i]));
    } else if (flag == "--backend" && i + 1 < argc) {
      const std::string b = argv[++i];
      if (b != "oci" && b != "docker" && b != "both") return std::nullopt;
      flags.backends =
          b == "both" ? std::vector<std::string>{"oci", "docker"} : std::vector<std::string>{b};
    } else if (flag == "--more-deps" && i + 1 < argc) {
      flags.more_deps = std::max(0, std::atoi(argv[++i]));
    } else if (flag == "--parallel-trials" && i + 1 < argc) {
      flags.parallel_trials = std::max(1, std::atoi(argv[++i]));
    } else if (flag == "--project" && i + 1 < argc) {
      flags.project = argv[++i];
      if (flags.project != "tiny" && flags.project != "ts-app") return std::nullopt;
    } else {
      return std::nullopt;
    }
  }
  return flags;
}

// Why the bench cannot run here; empty when it can.
std::string Unavailable(Flags& flags) {
  if (::geteuid() != 0) return "job_bench needs root: the agent's sandbox makes containers";
  if (std::string why = testing::Verdaccio::UnavailableReason(); !why.empty()) {
    return "job_bench needs Verdaccio (tests/run.sh installs it): " + why;
  }
  if (std::find(flags.backends.begin(), flags.backends.end(), "docker") != flags.backends.end() &&
      !agent::sandbox::DockerClient().Ping().ok()) {
    if (flags.backends.size() == 1) return "--backend docker: docker does not answer";
    std::printf("docker does not answer: oci only\n");
    flags.backends = {"oci"};
  }
  return "";
}

// A state dir the agent has finished with, removed unless something is still mounted in it.
void RemoveStateDir(const std::string& dir) {
  std::ifstream mounts("/proc/self/mounts");
  for (std::string line; std::getline(mounts, line);) {
    if (line.find(" " + dir + "/") != std::string::npos) return;  // TempDir's teardown unmounts
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

int Main(int argc, char** argv) {
  std::optional<Flags> flags = ParseFlags(argc, argv);
  if (!flags) {
    std::fprintf(stderr,
                 "usage: job_bench [--runs N] [--backend oci|docker|both] [--more-deps N] "
                 "[--parallel-trials N] [--project tiny|ts-app]\n");
    return 2;
  }
  if (std::string why = Unavailable(*flags); !why.empty()) {
    std::fprintf(stderr, "%s\n", why.c_str());
    return 2;
  }
  testing::TempDir dir;
  // ts-app's own packages come from the npm registry, through Verdaccio as a caching mirror.
  testing::Verdaccio::Options options;
  if (flags->project == "ts-app") options.uplink = "https://registry.npmjs.org/";
  absl::StatusOr<std::unique_ptr<testing::Verdaccio>> registry =
      testing::Verdaccio::Start(dir.Sub("registry"), options);
  if (!registry.ok()) {
    std::fprintf(stderr, "%s\n", registry.status().ToString().c_str());
    return 1;
  }
  if (absl::Status made = MakeFixture(**registry, dir, flags->more_deps, flags->project);
      !made.ok()) {
    std::fprintf(stderr, "cannot make the fixture: %s\n", made.ToString().c_str());
    return 1;
  }
  JobSetup setup{"", dir.Sub("app.git"), (*registry)->url(), (*registry)->host_port(),
                 dir.Sub("agent-home")};
  if (flags->parallel_trials > 0) {
    setup.agent_flags = {"--parallel-trials", std::to_string(flags->parallel_trials)};
  }
  fs::create_directories(setup.home);

  std::vector<BareTimes> bare;
  std::map<std::string, std::vector<JobRun>> cold, first, reprove, repeat;
  for (int i = 0; i < flags->runs; ++i) {
    std::optional<BareTimes> b =
        BareRun((*registry)->url(), dir.Sub("app"), absl::StrCat(dir.path(), "/bare-", i));
    if (!b) return 1;
    bare.push_back(*b);
    for (const std::string& backend : flags->backends) {
      setup.backend = backend;
      // A new machine (no image prepared), a new agent on a machine that has one, that agent
      // again.
      const std::string images = absl::StrCat(dir.path(), "/images-", backend, "-", i);
      const std::string machine = absl::StrCat(dir.path(), "/state-new-", backend, "-", i);
      const std::string state = absl::StrCat(dir.path(), "/state-", backend, "-", i);
      const std::string json = absl::StrCat(dir.path(), "/result-", backend, ".json");
      std::optional<JobRun> new_machine = AgentJob(setup, machine, images, json);
      if (!new_machine) return 1;
      cold[backend].push_back(*new_machine);
      std::optional<JobRun> new_agent = AgentJob(setup, state, images, json);
      if (!new_agent) return 1;
      first[backend].push_back(*new_agent);
      std::optional<JobRun> proposals = AgentJob(setup, state, images, json, {"--rerun-proposals"});
      if (!proposals) return 1;
      reprove[backend].push_back(*proposals);
      std::optional<JobRun> again = AgentJob(setup, state, images, json);
      if (!again) return 1;
      repeat[backend].push_back(*again);
      RemoveStateDir(machine);
      RemoveStateDir(state);
      RemoveStateDir(images);
    }
  }

  const std::string what =
      flags->project == "ts-app"
          ? absl::StrCat(
                "tests/bench/fixtures/ts-app with 5 dependencies added",
                flags->more_deps > 0 ? absl::StrCat(" and ", flags->more_deps, " more") : "",
                " (build: tsc; test: mocha)")
          : absl::StrCat("a project of ", kProposals + flags->more_deps,
                         " dependencies (build: node build.js; test: node --test, 6 tests)");
  std::printf(
      "proving updates: %s, %d updates to prove (4 patches that pass, a major that fails a test), "
      "from a local Verdaccio; median of %d (min - max), runs interleaved\n",
      what.c_str(), kProposals, flags->runs);
  std::vector<absl::Duration> bare_total, bare_install, bare_build, bare_test, floor, resolve_floor,
      install_floor;
  for (const BareTimes& b : bare) {
    bare_total.push_back(b.total());
    bare_install.push_back(b.install);
    bare_build.push_back(b.build);
    bare_test.push_back(b.test);
    floor.push_back(b.floor());
    resolve_floor.push_back(b.resolve_floor);
    install_floor.push_back(b.install_floor);
  }
  const Spread bare_spread = SpreadOf(bare_total);
  std::printf("  %-34s %s  (ci %.0f, build %.0f, test %.0f)\n", "bare: npm ci + build + test",
              Show(bare_spread).c_str(), Ms(Median(bare_install)), Ms(Median(bare_build)),
              Ms(Median(bare_test)));
  std::printf("    (on the host: the image's node and npm, taskset -c 0, empty npm cache)\n");
  // Trials side by side share the machine's CPUs: at best every one of them busy.
  const long cpus = std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN));
  const Spread floor_spread = SpreadOf(floor);
  std::printf(
      "  %-34s %s  %5.2fx bare   (resolve %.0f + install %.0f with nothing to do, + the bare "
      "build and test)\n",
      "floor: a proposal's four npm runs", Show(floor_spread).c_str(),
      Ms(floor_spread.median) / Ms(bare_spread.median), Ms(Median(resolve_floor)),
      Ms(Median(install_floor)));
  std::printf(
      "    over the machine's %ld CPUs    %7.0f ms  %5.2fx bare   (the least each extra proposal "
      "can add, every CPU busy with trials and nothing else: compare the target 0.5x)\n",
      cpus, Ms(floor_spread.median) / cpus,
      Ms(floor_spread.median) / cpus / Ms(bare_spread.median));
  // A first job's baseline is itself an npm ci, build and test: no less than a bare run.
  const double first_floor = Ms(bare_spread.median) + kProposals * Ms(floor_spread.median) / cpus;
  std::printf(
      "    a first job at least            %7.0f ms  %5.2fx bare   (a bare run for the baseline + "
      "%d proposals at the above: compare the target 3x)\n",
      first_floor, first_floor / Ms(bare_spread.median), kProposals);
  for (const std::string& backend : flags->backends) {
    std::printf("ovvoc-agent update --sandbox %s (branches written):\n", backend.c_str());
    PrintJob("first job on a new machine", cold[backend], bare_spread.median,
             "(the job image prepared first: once per machine)");
    PrintJob("first job (fresh --state-dir)", first[backend], bare_spread.median, "target <= 3x");
    PrintJob("baseline remembered, 5 proposals", reprove[backend], bare_spread.median,
             "(--rerun-proposals: the proposals proven again against the remembered baseline)");
    PrintJob("repeat job, nothing new", repeat[backend], bare_spread.median,
             "target <= 0.2x (the baseline and every proposal remembered)");
  }
  return 0;
}

}  // namespace
}  // namespace ovvoc::bench

int main(int argc, char** argv) { return ovvoc::bench::Main(argc, argv); }
