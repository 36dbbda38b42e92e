// resolve_bench: what the update planner costs beside `npm outdated`. For each manifest (express's
// own 44 direct dependencies, and 150 popular packages), installed once with the image's npm from
// a local Verdaccio that a warm-up filled from the npm registry and that then serves from its
// storage alone:
//   planner cold   PlanCheckout over RegistryPackuments (as `ovvoc-agent plan` runs it), with a
//                  new HTTP client and an empty registry cache
//   planner warm   the same with the cache of the cold run just before (within its 5-minute
//                  packument TTL: nothing is asked of the registry)
//   npm cold       `npm outdated --json` on the installed tree, empty npm cache
//   npm warm       the same with an npm cache it filled before (npm still revalidates every
//                  packument: outdated reads with preferOnline)
// Runs interleave; medians are printed with the ratios and the targets (issue 10: express-sized
// cold <= 1.0 s, warm <= 0.3 s; warm >= 5x faster than npm outdated), and where the planner's time
// goes: reading the project, the packuments (fetch and parse on RegistryPackuments' threads), the
// decision; then fetching alone and parsing alone.
//
//   resolve_bench [--runs N] [--fixture DIR]...
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "agent/npm/packument.h"
#include "agent/npm/plan.h"
#include "agent/npm/policy.h"
#include "agent/npm/project.h"
#include "agent/pipeline/plan_step.h"
#include "agent/process/process.h"
#include "agent/registry/cache.h"
#include "agent/registry/client.h"
#include "agent/registry/endpoint.h"
#include "common/clock.h"
#include "common/http.h"
#include "common/logging.h"
#include "tests/bench/npm_bench_util.h"
#include "tests/support/temp_dir.h"
#include "tests/support/verdaccio.h"

namespace ovvoc::bench {
namespace {

namespace registry = agent::registry;
namespace npm = agent::npm;

constexpr uint64_t kCacheBytes = 2048ull << 20;  // the agent's default --registry-cache-mib

// A PackumentSource that times the planner's calls to the one it wraps.
class TimedSource final : public npm::PackumentSource {
 public:
  explicit TimedSource(npm::PackumentSource& inner) : inner_(inner) {}
  std::vector<Fetched> Fetch(const std::vector<std::string>& names) override {
    const absl::Time start = absl::Now();
    std::vector<Fetched> fetched = inner_.Fetch(names);
    spent_ += absl::Now() - start;
    return fetched;
  }
  absl::Duration spent() const { return spent_; }

 private:
  npm::PackumentSource& inner_;
  absl::Duration spent_;
};

// What the agent needs to read one registry: its HTTP client, cache and client, made anew for
// each run as a fresh `ovvoc-agent plan` process makes them.
struct Agent {
  std::unique_ptr<http::Client> http;
  std::unique_ptr<registry::RegistryCache> cache;
  std::unique_ptr<registry::RegistryClient> client;
  registry::RegistryEndpoint endpoint;
};

std::optional<Agent> MakeAgent(const std::string& cache_dir, const std::string& url) {
  Agent agent;
  agent.http = http::NewCurlClient({.max_parallel = 16});
  auto cache = registry::RegistryCache::Open(cache_dir, kCacheBytes);
  if (!cache.ok()) return std::nullopt;
  agent.cache = *std::move(cache);
  agent.client =
      std::make_unique<registry::RegistryClient>(*agent.http, *agent.cache, Clock::Real());
  ovvoc::v1::Registry proto;
  proto.set_url(url);
  auto endpoint = registry::RegistryEndpoint::FromProto(proto, /*allow_internal=*/true);
  if (!endpoint.ok()) return std::nullopt;
  agent.endpoint = *endpoint;
  return agent;
}

struct Versions {
  std::string node;  // "v24.22.3"
  std::string npm;   // "11.21.2"
};

struct PlanSample {
  absl::Duration total;
  absl::Duration setup;       // the HTTP client, the cache opened
  absl::Duration packuments;  // inside PackumentSource::Fetch
  int dependencies = 0;
  int not_current = 0;  // rows npm outdated would list: current, wanted and latest not all equal
  int failed = 0;       // error decisions and plan problems
};

// The planner end to end, as `ovvoc-agent plan` runs it after parsing its flags.
std::optional<PlanSample> RunPlanner(const std::string& root, const std::string& cache_dir,
                                     const std::string& url, const Versions& versions) {
  const absl::Time start = absl::Now();
  std::optional<Agent> agent = MakeAgent(cache_dir, url);
  if (!agent) return std::nullopt;
  const absl::Duration setup = absl::Now() - start;
  agent::RegistryPackuments packuments(*agent->client, {agent->endpoint});
  TimedSource source(packuments);
  agent::PlanInputs inputs;
  inputs.now = absl::Now();
  inputs.node_version = versions.node;
  inputs.npm_version = versions.npm;
  absl::StatusOr<agent::CheckoutPlan> checkout = agent::PlanCheckout(root, source, inputs);
  absl::StatusOr<ovvoc::v1::Plan> plan =
      checkout.ok() ? absl::StatusOr<ovvoc::v1::Plan>(std::move(checkout->plan)) : checkout.status();
  PlanSample sample{absl::Now() - start, setup, source.spent()};
  if (!plan.ok()) {
    std::fprintf(stderr, "  plan: %s\n", plan.status().ToString().c_str());
    return std::nullopt;
  }
  sample.dependencies = plan->dependencies_size();
  sample.failed = plan->problems_size();
  for (const ovvoc::v1::PlannedDependency& d : plan->dependencies()) {
    if (d.decision() == ovvoc::v1::PLAN_DECISION_ERROR) {
      ++sample.failed;
      std::fprintf(stderr, "  %s: %s\n", d.name().c_str(), d.reason().c_str());
    }
    if (!(d.current() == d.wanted() && d.wanted() == d.latest())) ++sample.not_current;
  }
  return sample;
}

// `npm outdated --json` on the installed tree at `root`, with its cache in `home`/.npm; how many
// rows it listed, or nullopt when it failed (it exits 1 when it lists any).
std::optional<int> NpmOutdated(const std::string& root, const std::string& home,
                               const std::string& url) {
  agent::RunOptions run;
  run.argv = {kImageNode, kImageNpmCli, "outdated", "--json"};
  run.env = BareEnv(kImageNode, home, url);
  run.env.push_back("npm_config_loglevel=error");
  run.cwd = root;
  run.timeout = absl::Minutes(5);
  run.output_limit = 4 << 20;
  absl::StatusOr<agent::RunResult> r = agent::RunProcess(run);
  if (!r.ok() || (r->exit_code != 0 && r->exit_code != 1)) {
    std::fprintf(stderr, "  npm outdated failed: %s\n",
                 r.ok() ? r->output.c_str() : r.status().ToString().c_str());
    return std::nullopt;
  }
  int rows = 0;
  for (size_t at = r->output.find("\"wanted\":"); at != std::string::npos;
       at = r->output.find("\"wanted\":", at + 1)) {
    ++rows;
  }
  return rows;
}

// The registry packages `project` declares, each once, in the order MakePlan asks for them.
std::vector<std::string> RegistryNames(const npm::Project& project) {
  std::vector<std::string> names;
  std::vector<const npm::PackageJson*> manifests = {&project.root};
  for (const npm::PackageJson& member : project.workspaces) manifests.push_back(&member);
  for (const npm::PackageJson* manifest : manifests) {
    for (const npm::DeclaredDependency& d : manifest->dependencies) {
      if (!d.classified.registry() || d.classified.name.empty()) continue;
      if (std::find(names.begin(), names.end(), d.classified.name) == names.end()) {
        names.push_back(d.classified.name);
      }
    }
  }
  return names;
}

std::string PackumentPath(const registry::RegistryEndpoint& endpoint, const std::string& name) {
  return endpoint.path + absl::StrReplaceAll(name, {{"/", "%2f"}});
}

// The packuments alone, no parsing, on `parallel` threads (setup not counted).
std::optional<absl::Duration> FetchOnly(const std::vector<std::string>& names,
                                        const std::string& cache_dir, const std::string& url,
                                        size_t parallel) {
  std::optional<Agent> agent = MakeAgent(cache_dir, url);
  if (!agent) return std::nullopt;
  const absl::Time start = absl::Now();
  std::atomic<size_t> next{0};
  std::atomic<int> failed{0};
  auto work = [&] {
    for (size_t i = next++; i < names.size(); i = next++) {
      if (!agent->client
               ->Packument(agent->endpoint, PackumentPath(agent->endpoint, names[i]),
                           registry::kAcceptFull)
               .ok()) {
        ++failed;
      }
    }
  };
  std::vector<std::thread> threads;
  const size_t n = std::min(parallel, names.size());
  for (size_t i = 1; i < n; ++i) threads.emplace_back(work);
  work();
  for (std::thread& t : threads) t.join();
  if (failed > 0) return std::nullopt;
  return absl::Now() - start;
}

struct ParseSample {
  absl::Duration time;  // one thread, every packument in turn
  uint64_t bytes = 0;
  absl::Duration largest_time;
  uint64_t largest_bytes = 0;
  std::string largest;
};

// ParsePackument over what `cache_dir` holds for `names`.
std::optional<ParseSample> ParseOnly(const std::vector<std::string>& names,
                                     const std::string& cache_dir, const std::string& url) {
  std::optional<Agent> agent = MakeAgent(cache_dir, url);
  if (!agent) return std::nullopt;
  ParseSample sample;
  for (const std::string& name : names) {
    auto body = agent->client->CachedOnly(agent->endpoint, PackumentPath(agent->endpoint, name),
                                          registry::kAcceptFull);
    if (!body.ok()) return std::nullopt;
    const absl::Time start = absl::Now();
    if (!npm::ParsePackument(body->body).ok()) return std::nullopt;
    const absl::Duration took = absl::Now() - start;
    sample.time += took;
    sample.bytes += body->body.size();
    if (body->body.size() > sample.largest_bytes) {
      sample.largest_bytes = body->body.size();
      sample.largest_time = took;
      sample.largest = name;
    }
  }
  return sample;
}

// Packuments already parsed, served from memory.
class MemorySource final : public npm::PackumentSource {
 public:
  explicit MemorySource(absl::flat_hash_map<std::string, Fetched> packuments)
      : packuments_(std::move(packuments)) {}
  std::vector<Fetched> Fetch(const std::vector<std::string>& names) override {
    std::vector<Fetched> out;
    out.reserve(names.size());
    for (const std::string& name : names) out.push_back(std::move(packuments_[name]));
    return out;
  }

 private:
  absl::flat_hash_map<std::string, Fetched> packuments_;
};

// MakePlan alone: the decision over packuments already fetched and parsed (from the warm cache
// in `cache_dir`) and a project already read.
std::optional<absl::Duration> DecideOnly(const std::string& root,
                                         const std::vector<std::string>& names,
                                         const std::string& cache_dir, const std::string& url,
                                         const Versions& versions) {
  std::optional<Agent> agent = MakeAgent(cache_dir, url);
  if (!agent) return std::nullopt;
  agent::RegistryPackuments packuments(*agent->client, {agent->endpoint});
  std::vector<npm::PackumentSource::Fetched> fetched = packuments.Fetch(names);
  absl::flat_hash_map<std::string, npm::PackumentSource::Fetched> by_name;
  for (size_t i = 0; i < names.size(); ++i) by_name[names[i]] = std::move(fetched[i]);
  absl::StatusOr<npm::Project> project = npm::ReadProject(root);
  absl::StatusOr<npm::Policy> policy = npm::LoadPolicy(root);
  if (!project.ok() || !policy.ok()) return std::nullopt;
  MemorySource source(std::move(by_name));
  npm::PlanOptions options;
  options.now = absl::Now();
  options.node_version = versions.node;
  options.npm_version = versions.npm;
  const absl::Time start = absl::Now();
  ovvoc::v1::Plan plan = npm::MakePlan(*project, *policy, source, options);
  const absl::Duration took = absl::Now() - start;
  if (plan.dependencies_size() == 0) return std::nullopt;
  return took;
}

// Reading the project (manifests, lockfile, .npmrc) and its policy, as PlanCheckout does first.
std::optional<absl::Duration> ReadOnly(const std::string& root) {
  const absl::Time start = absl::Now();
  if (!npm::ReadProject(root).ok() || !npm::LoadPolicy(root).ok()) return std::nullopt;
  return absl::Now() - start;
}

std::string Trimmed(std::string s) { return std::string(absl::StripAsciiWhitespace(s)); }

const char* Verdict(bool met) { return met ? "met" : "MISSED"; }

double MiB(uint64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

struct Fixture {
  std::string name;
  std::string root;  // the installed copy
  bool express_sized = false;
};

struct Samples {
  std::vector<absl::Duration> plan_cold, plan_warm, npm_cold, npm_warm;
  std::vector<absl::Duration> setup, packuments_cold, packuments_warm, rest_cold, rest_warm;
  std::vector<absl::Duration> read, decide, fetch_cold, fetch_warm, fetch_serial, parse;
  ParseSample parse_sample;
  PlanSample plan;
  int npm_rows = 0;
};

void Print(const Fixture& fixture, const Samples& s, int runs) {
  const double plan_cold = Ms(Median(s.plan_cold)), plan_warm = Ms(Median(s.plan_warm));
  const double npm_cold = Ms(Median(s.npm_cold)), npm_warm = Ms(Median(s.npm_warm));
  std::printf(
      "%s (%d dependencies; npm outdated lists %d, the plan has %d rows it would list), "
      "median of %d:\n",
      fixture.name.c_str(), s.plan.dependencies, s.npm_rows, s.plan.not_current, runs);
  if (fixture.express_sized) {
    std::printf("  planner cold        %7.0f ms  (target <= 1000 ms: %s)\n", plan_cold,
                Verdict(plan_cold <= 1000));
    std::printf("  planner warm        %7.0f ms  (target <= 300 ms: %s)\n", plan_warm,
                Verdict(plan_warm <= 300));
  } else {
    std::printf("  planner cold        %7.0f ms\n", plan_cold);
    std::printf("  planner warm        %7.0f ms\n", plan_warm);
  }
  std::printf("  npm outdated cold   %7.0f ms  %.1fx the planner's cold\n", npm_cold,
              npm_cold / plan_cold);
  std::printf("  npm outdated warm   %7.0f ms  %.1fx the planner's warm (target >= 5x: %s)\n",
              npm_warm, npm_warm / plan_warm, Verdict(npm_warm >= 5 * plan_warm));
  std::printf("  where the planner's time goes, cold / warm:\n");
  std::printf("    setup (HTTP client, cache)      %6.1f ms\n", Ms(Median(s.setup)));
  std::printf("    packuments, %d threads           %6.1f / %6.1f ms (fetch and parse)\n",
              agent::RegistryPackuments::kParallel, Ms(Median(s.packuments_cold)),
              Ms(Median(s.packuments_warm)));
  std::printf("    the rest: read and decide       %6.1f / %6.1f ms\n", Ms(Median(s.rest_cold)),
              Ms(Median(s.rest_warm)));
  std::printf("      read project + policy alone   %6.1f ms\n", Ms(Median(s.read)));
  std::printf("      decide alone (MakePlan)       %6.1f ms\n", Ms(Median(s.decide)));
  std::printf("    fetch alone, %d threads          %6.1f / %6.1f ms; 1 thread, cold: %.1f ms\n",
              agent::RegistryPackuments::kParallel, Ms(Median(s.fetch_cold)),
              Ms(Median(s.fetch_warm)), Ms(Median(s.fetch_serial)));
  std::printf(
      "    parse alone, 1 thread           %6.1f ms for %.1f MiB (largest: %s, %.1f MiB "
      "in %.1f ms)\n",
      Ms(Median(s.parse)), MiB(s.parse_sample.bytes), s.parse_sample.largest.c_str(),
      MiB(s.parse_sample.largest_bytes), Ms(s.parse_sample.largest_time));
}

// One interleaved round: planner cold and warm, npm cold and warm, then the phase probes.
bool Round(const Fixture& fixture, const std::vector<std::string>& names, const std::string& url,
           const Versions& versions, const testing::TempDir& work, int i, Samples& s) {
  const std::string n = std::to_string(i);
  const std::string cache = work.Sub("agent-cache-" + n);
  std::optional<PlanSample> cold = RunPlanner(fixture.root, cache, url, versions);
  std::optional<PlanSample> warm = RunPlanner(fixture.root, cache, url, versions);
  if (!cold || !warm) return false;
  if (cold->failed > 0 || warm->failed > 0) {
    std::fprintf(stderr, "%s: %d dependencies failed\n", fixture.name.c_str(),
                 std::max(cold->failed, warm->failed));
    return false;
  }
  s.plan = *cold;
  s.plan_cold.push_back(cold->total);
  s.plan_warm.push_back(warm->total);
  s.packuments_cold.push_back(cold->packuments);
  s.packuments_warm.push_back(warm->packuments);

  bool ok = true;
  std::optional<int> rows;
  s.npm_cold.push_back(Time(
      [&] {
        return (rows = NpmOutdated(fixture.root, work.Sub("npm-cold-" + n), url)).has_value();
      },
      ok));
  s.npm_warm.push_back(Time(
      [&] { return (rows = NpmOutdated(fixture.root, work.Sub("npm-warm"), url)).has_value(); },
      ok));
  if (!ok) return false;
  s.npm_rows = *rows;

  std::optional<absl::Duration> read = ReadOnly(fixture.root);
  const std::string probe = work.Sub("probe-cache-" + n);
  const size_t parallel = agent::RegistryPackuments::kParallel;
  std::optional<absl::Duration> fetch_cold = FetchOnly(names, probe, url, parallel);
  std::optional<absl::Duration> fetch_warm = FetchOnly(names, probe, url, parallel);
  std::optional<absl::Duration> fetch_serial =
      FetchOnly(names, work.Sub("serial-cache-" + n), url, 1);
  std::optional<ParseSample> parse = ParseOnly(names, probe, url);
  std::optional<absl::Duration> decide = DecideOnly(fixture.root, names, probe, url, versions);
  if (!read || !fetch_cold || !fetch_warm || !fetch_serial || !parse || !decide) return false;
  s.read.push_back(*read);
  s.decide.push_back(*decide);
  s.setup.push_back(cold->setup);
  s.rest_cold.push_back(cold->total - cold->setup - cold->packuments);
  s.rest_warm.push_back(warm->total - warm->setup - warm->packuments);
  s.fetch_cold.push_back(*fetch_cold);
  s.fetch_warm.push_back(*fetch_warm);
  s.fetch_serial.push_back(*fetch_serial);
  s.parse.push_back(parse->time);
  s.parse_sample = *parse;
  return true;
}

// The fixture copied to `work` and installed there with the image's npm from `url`.
std::optional<Fixture> Install(const std::string& source, const std::string& url,
                               const testing::TempDir& work) {
  Fixture fixture;
  fixture.name = std::filesystem::path(source).filename().string();
  fixture.root = work.Sub(fixture.name);
  fixture.express_sized = fixture.name == "plan-express";
  std::filesystem::copy(source, fixture.root, std::filesystem::copy_options::recursive);
  if (!Run({kImageNode, kImageNpmCli, "install", "--ignore-scripts"},
           BareEnv(kImageNode, work.Sub("install-home"), url), fixture.root)) {
    return std::nullopt;
  }
  return fixture;
}

// The warm-up: each fixture installed (into `fixtures`) through a Verdaccio with the npm registry
// as its uplink, which keeps every packument and tarball npm asked for. Then the same storage
// served by a Verdaccio without the uplink, returned: what is measured is the planner and npm,
// not how fast Verdaccio revalidates against the npm registry (it would after 2 minutes).
absl::StatusOr<std::unique_ptr<testing::Verdaccio>> WarmUp(const std::vector<std::string>& sources,
                                                           const testing::TempDir& dir,
                                                           Versions& versions,
                                                           std::vector<Fixture>& fixtures) {
  {
    auto uplinked =
        testing::Verdaccio::Start(dir.Sub("registry"), {.uplink = "https://registry.npmjs.org/"});
    if (!uplinked.ok()) return uplinked.status();
    if (!Run({kImageNode, kImageNpmCli, "--version"},
             BareEnv(kImageNode, dir.Sub("home"), (*uplinked)->url()), "", &versions.npm)) {
      return absl::InternalError("npm --version failed");
    }
    versions.npm = Trimmed(versions.npm);
    for (const std::string& source : sources) {
      std::optional<Fixture> fixture = Install(source, (*uplinked)->url(), dir);
      if (!fixture) {
        return absl::UnavailableError(
            absl::StrCat("cannot install ", source, " (is the npm registry reachable?)"));
      }
      fixtures.push_back(*std::move(fixture));
    }
  }
  // A new directory, since Start() registers its user anew; the storage moves there.
  std::error_code moved;
  std::filesystem::create_directories(dir.Sub("offline"));
  std::filesystem::rename(dir.Sub("registry/storage"), dir.Sub("offline/storage"), moved);
  if (moved) return absl::InternalError("moving the mirror's storage: " + moved.message());
  return testing::Verdaccio::Start(dir.Sub("offline"));
}

int Main(int argc, char** argv) {
  int runs = 5;
  std::vector<std::string> sources;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::stoi(argv[++i]));
    } else if (flag == "--fixture" && i + 1 < argc) {
      sources.push_back(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: resolve_bench [--runs N] [--fixture DIR]...\n");
      return 2;
    }
  }
  if (sources.empty()) {
    sources = {OVVOC_SOURCE_DIR "/tests/bench/fixtures/plan-express",
               OVVOC_SOURCE_DIR "/tests/bench/fixtures/plan-150"};
  }
  log::SetLevel(log::Level::kWarning);
  if (std::string why = testing::Verdaccio::UnavailableReason(); !why.empty()) {
    std::fprintf(stderr, "cannot run: %s\n", why.c_str());
    return 1;
  }
  Versions versions;
  if (!Run({kImageNode, "--version"}, {}, "", &versions.node)) return 1;
  versions.node = Trimmed(versions.node);

  testing::TempDir dir;
  std::vector<Fixture> fixtures;
  absl::StatusOr<std::unique_ptr<testing::Verdaccio>> mirror =
      WarmUp(sources, dir, versions, fixtures);
  if (!mirror.ok()) {
    std::fprintf(stderr, "%s\n", mirror.status().ToString().c_str());
    return 1;
  }
  const std::string url = (*mirror)->url();
  std::printf("node %s, npm %s, Verdaccio at %s serving from its storage\n", versions.node.c_str(),
              versions.npm.c_str(), url.c_str());

  for (const Fixture& fixture : fixtures) {
    testing::TempDir work;
    absl::StatusOr<npm::Project> project = npm::ReadProject(fixture.root);
    if (!project.ok()) {
      std::fprintf(stderr, "%s: %s\n", fixture.name.c_str(), project.status().ToString().c_str());
      return 1;
    }
    const std::vector<std::string> names = RegistryNames(*project);
    // npm's warm cache, filled once from this Verdaccio (its cache keys carry the port).
    if (!NpmOutdated(fixture.root, work.Sub("npm-warm"), url)) return 1;
    Samples samples;
    for (int i = 0; i < runs; ++i) {
      if (!Round(fixture, names, url, versions, work, i, samples)) {
        std::fprintf(stderr, "%s: a run failed\n", fixture.name.c_str());
        return 1;
      }
    }
    Print(fixture, samples, runs);
  }
  return 0;
}

}  // namespace
}  // namespace ovvoc::bench

int main(int argc, char** argv) { return ovvoc::bench::Main(argc, argv); }
