#include "tests/bench/npm_bench_util.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "absl/time/clock.h"
#include "agent/process/process.h"

namespace ovvoc::bench {

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

bool Run(std::vector<std::string> argv, std::vector<std::string> env, const std::string& cwd,
         std::string* output) {
  agent::RunOptions run;
  run.argv = std::move(argv);
  run.env = env.empty() ? std::vector<std::string>{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"} : env;
  run.cwd = cwd;
  run.timeout = absl::Minutes(5);
  absl::StatusOr<agent::RunResult> r = agent::RunProcess(run);
  if (output != nullptr && r.ok()) *output = r->output;
  if (!r.ok() || r->exit_code != 0) {
    std::fprintf(stderr, "  `%s` failed: %s\n", run.argv[0].c_str(),
                 r.ok() ? r->output.c_str() : r.status().ToString().c_str());
    return false;
  }
  return true;
}

std::vector<std::string> BareEnv(const std::string& node_bin, const std::string& home,
                                 const std::string& registry) {
  return {"PATH=" + std::filesystem::path(node_bin).parent_path().string() + ":/usr/bin:/bin",
          "HOME=" + home,
          "NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt",
          "npm_config_userconfig=/dev/null",
          "npm_config_cache=" + home + "/.npm",
          "npm_config_registry=" + registry,
          "npm_config_audit=false",
          "npm_config_fund=false",
          "npm_config_update_notifier=false",
          "CI=true"};
}

std::string LockedFixture(const std::string& fixture, const std::string& node_bin,
                          const std::string& npm_cli, const std::string& registry,
                          const testing::TempDir& dir) {
  const std::string source = dir.Sub("fixture-" + std::filesystem::path(fixture).filename().string());
  std::filesystem::copy(fixture, source, std::filesystem::copy_options::recursive);
  if (!Run({node_bin, npm_cli, "install", "--package-lock-only"},
           BareEnv(node_bin, dir.Sub("lock-home"), registry), source)) {
    return "";
  }
  return source;
}

}  // namespace ovvoc::bench
