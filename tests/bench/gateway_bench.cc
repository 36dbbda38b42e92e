// gateway_bench: what the registry gateway costs an install. `npm ci` of each fixture, the
// image's npm on the host, from one local Verdaccio mirror of the npm registry:
//   bare cold     straight to the registry, empty npm cache
//   bare warm     straight to the registry, the npm cache of an earlier bare run
//   gateway cold  the agent's prefetch (empty agent cache), a fresh npm cache seeded from it,
//                 then npm ci through the gateway in script mode, as a job's install runs
//   gateway warm  the same with the agent cache of an earlier run
// Runs interleave; medians are printed with ratios to bare, and the agent's added memory (peak
// RSS while the gateway serves, above the RSS before it started).
//
//   gateway_bench [--runs N] [--fixture DIR]...
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/registry/cache.h"
#include "agent/registry/client.h"
#include "agent/registry/gateway.h"
#include "agent/registry/npm_cache.h"
#include "agent/registry/prefetch.h"
#include "common/clock.h"
#include "common/files.h"
#include "common/http.h"
#include "common/logging.h"
#include "tests/bench/npm_bench_util.h"
#include "tests/support/temp_dir.h"
#include "tests/support/verdaccio.h"

namespace ovvoc::bench {
namespace {

namespace registry = agent::registry;

// The process's resident set, in bytes.
uint64_t RssBytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      uint64_t kib = 0;
      (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(6, line.size() - 9)), &kib);
      return kib << 10;
    }
  }
  return 0;
}

// Samples RSS until stopped; the peak.
class RssPeak {
 public:
  RssPeak() : thread_([this] {
      while (!stop_.load()) {
        peak_ = std::max(peak_.load(), RssBytes());
        absl::SleepFor(absl::Milliseconds(5));
      }
    }) {}
  uint64_t Stop() {
    stop_.store(true);
    thread_.join();
    return peak_.load();
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> peak_{0};
  std::thread thread_;
};

struct Sample {
  absl::Duration time;
  uint64_t added_rss = 0;
  size_t requests = 0;  // what npm still asked the gateway for
};

bool BareCi(const std::string& source, const std::string& work, const std::string& home,
            const std::string& registry) {
  std::filesystem::copy(source, work, std::filesystem::copy_options::recursive);
  return Run({kImageNode, kImageNpmCli, "ci", "--ignore-scripts"},
             BareEnv(kImageNode, home, registry), work);
}

// Prefetch and npm ci through a gateway, as a job's install does, with `cache_dir` as the
// agent's cache.
std::optional<Sample> GatewayCi(http::Client& http, const std::string& source,
                                const std::string& work, const std::string& cache_dir,
                                const std::string& registry_url) {
  std::filesystem::copy(source, work, std::filesystem::copy_options::recursive);
  auto cache = registry::RegistryCache::Open(cache_dir, 4ull << 30);
  if (!cache.ok()) return std::nullopt;
  registry::RegistryClient client(http, **cache, Clock::Real());
  ovvoc::v1::Registry proto;
  proto.set_url(registry_url);
  auto endpoint = registry::RegistryEndpoint::FromProto(proto, /*allow_internal=*/true);
  if (!endpoint.ok()) return std::nullopt;
  const std::vector<registry::RegistryEndpoint> endpoints = {*endpoint};
  const uint64_t before = RssBytes();
  RssPeak peak;
  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> lockfile = files::ReadFile(work + "/package-lock.json");
  if (!lockfile.ok()) return std::nullopt;
  auto locked = registry::ReadLockfile(*lockfile, endpoints);
  if (!locked.ok()) return std::nullopt;
  auto prefetched = registry::Prefetch(client, endpoints, locked->packages, 8, {});
  if (!prefetched.ok()) {
    std::fprintf(stderr, "  prefetch: %s\n", prefetched.status().ToString().c_str());
    return std::nullopt;
  }
  std::filesystem::create_directories(work + "-home");
  if (!registry::SeedNpmCache(client, endpoints, *prefetched, work + "-home", ".npm", ::getuid())
           .ok()) {
    return std::nullopt;
  }
  registry::GatewayOptions options;
  options.registries = endpoints;
  options.mode = registry::GatewayMode::kScript;
  options.tarballs = prefetched->tarballs;
  options.packages = prefetched->packages;
  auto gateway = registry::Gateway::Start(options, client, Clock::Real(), "");
  if (!gateway.ok()) return std::nullopt;
  std::vector<std::string> env = BareEnv(kImageNode, work + "-home", registry_url);
  const std::string proxy = absl::StrCat("http://127.0.0.1:", (*gateway)->port());
  env.insert(env.end(), {"npm_config_proxy=" + proxy, "npm_config_https_proxy=" + proxy,
                         "npm_config_noproxy="});
  const bool ok = Run({kImageNode, kImageNpmCli, "ci", "--ignore-scripts"}, env, work);
  (*gateway)->Close();
  Sample sample{absl::Now() - start, 0};
  const uint64_t top = peak.Stop();
  sample.added_rss = top > before ? top - before : 0;
  sample.requests = (*gateway)->Events().size();
  for (const registry::GatewayEvent& e : (*gateway)->Events()) {
    if (e.refused || e.failed) {
      std::fprintf(stderr, "  gateway: %s %s: %s\n", e.method.c_str(), e.path.c_str(),
                   e.reason.c_str());
    }
  }
  if (!ok) return std::nullopt;
  return sample;
}

int Main(int argc, char** argv) {
  int runs = 3;
  std::vector<std::string> fixtures;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::stoi(argv[++i]));
    } else if (flag == "--fixture" && i + 1 < argc) {
      fixtures.push_back(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: gateway_bench [--runs N] [--fixture DIR]...\n");
      return 2;
    }
  }
  if (fixtures.empty()) {
    fixtures = {OVVOC_SOURCE_DIR "/tests/bench/fixtures/ts-app",
                OVVOC_SOURCE_DIR "/tests/bench/fixtures/web-app"};
  }
  log::SetLevel(log::Level::kWarning);
  if (std::string why = testing::Verdaccio::UnavailableReason(); !why.empty()) {
    std::fprintf(stderr, "cannot run: %s\n", why.c_str());
    return 1;
  }
  testing::TempDir dir;
  auto mirror = testing::Verdaccio::Start(dir.Sub("registry"), {.uplink = "https://registry.npmjs.org/"});
  if (!mirror.ok()) {
    std::fprintf(stderr, "%s\n", mirror.status().ToString().c_str());
    return 1;
  }
  const std::string url = (*mirror)->url();
  std::unique_ptr<http::Client> http = http::NewCurlClient({.max_parallel = 16});
  for (const std::string& fixture : fixtures) {
    const std::string name = std::filesystem::path(fixture).filename().string();
    testing::TempDir work;
    const std::string source = LockedFixture(fixture, kImageNode, kImageNpmCli, url, work);
    // The warm-up fills the mirror (and the warm npm cache), so that no side pays for it.
    if (source.empty() || !BareCi(source, work.Sub("warm-up"), work.Sub("warm-home"), url)) {
      std::fprintf(stderr, "cannot prepare %s (is the npm registry reachable?)\n", name.c_str());
      return 1;
    }
    std::vector<absl::Duration> bare_cold, bare_warm, gw_cold, gw_warm;
    uint64_t added_rss = 0;
    size_t requests = 0;
    bool ok = true;
    for (int i = 0; ok && i < runs; ++i) {
      const std::string n = std::to_string(i);
      bare_cold.push_back(Time(
          [&] { return BareCi(source, work.Sub("bc" + n), work.Sub("bc-home" + n), url); }, ok));
      bare_warm.push_back(Time(
          [&] { return BareCi(source, work.Sub("bw" + n), work.Sub("warm-home"), url); }, ok));
      for (const bool warm : {false, true}) {
        std::optional<Sample> s =
            GatewayCi(*http, source, work.Sub((warm ? "gw" : "gc") + n),
                      warm ? work.Sub("agent-cache-warm") : work.Sub("agent-cache-" + n), url);
        if (!s) {
          ok = false;
          break;
        }
        (warm ? gw_warm : gw_cold).push_back(s->time);
        added_rss = std::max(added_rss, s->added_rss);
        requests = std::max(requests, s->requests);
      }
    }
    if (!ok) {
      std::fprintf(stderr, "%s: a run failed\n", name.c_str());
      return 1;
    }
    std::ifstream lock(source + "/package-lock.json");
    const std::string text((std::istreambuf_iterator<char>(lock)), std::istreambuf_iterator<char>());
    size_t packages = 0;
    for (size_t at = text.find("\"node_modules/"); at != std::string::npos;
         at = text.find("\"node_modules/", at + 1)) {
      ++packages;
    }
    std::printf("%s (%zu packages), npm ci, median of %d:\n", name.c_str(), packages, runs);
    std::printf("  bare cold     %7.0f ms\n", Ms(Median(bare_cold)));
    std::printf("  gateway cold  %7.0f ms  %.2fx bare cold (target <= 1.20x)\n",
                Ms(Median(gw_cold)), Ms(Median(gw_cold)) / Ms(Median(bare_cold)));
    std::printf("  bare warm     %7.0f ms\n", Ms(Median(bare_warm)));
    std::printf("  gateway warm  %7.0f ms  %.2fx bare warm (target <= 1.15x)\n",
                Ms(Median(gw_warm)), Ms(Median(gw_warm)) / Ms(Median(bare_warm)));
    std::printf("  gateway's added memory: %.1f MiB peak (target <= 64 MiB); npm asked it for "
                "%zu reads (its cache was seeded)\n",
                static_cast<double>(added_rss) / (1 << 20), requests);
  }
  return 0;
}

}  // namespace
}  // namespace ovvoc::bench

int main(int argc, char** argv) { return ovvoc::bench::Main(argc, argv); }
