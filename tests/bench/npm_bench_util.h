// What the npm benchmarks share: timing, medians, running a program, and a bare npm's
// environment and fixture lockfile. Benchmarks only.
#ifndef OVVOC_TESTS_BENCH_NPM_BENCH_UTIL_H_
#define OVVOC_TESTS_BENCH_NPM_BENCH_UTIL_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tests/support/temp_dir.h"

namespace ovvoc::bench {

// The job image's node and npm: what bare runs use, so that both sides run the same npm.
inline constexpr char kImageNode[] = "/var/lib/ovvoc/images/current/rootfs/usr/local/bin/node";
inline constexpr char kImageNpmCli[] =
    "/var/lib/ovvoc/images/current/rootfs/usr/local/lib/node_modules/npm/bin/npm-cli.js";

absl::Duration Median(std::vector<absl::Duration> v);
double Ms(absl::Duration d);
// How long `body` took; `ok` turns false if it failed.
absl::Duration Time(const std::function<bool()>& body, bool& ok);

// Runs `argv` (5 minutes at most); false, with its output on stderr, unless it exits 0.
bool Run(std::vector<std::string> argv, std::vector<std::string> env = {},
         const std::string& cwd = "", std::string* output = nullptr);

// The environment of a bare npm run: the image's node first on PATH, a clean npm config, the
// npm cache in HOME/.npm.
std::vector<std::string> BareEnv(const std::string& node_bin, const std::string& home,
                                 const std::string& registry);

// `fixture` copied to dir/fixture with a lockfile made once, bare, against `registry`; the
// copy's path, or "" on failure.
std::string LockedFixture(const std::string& fixture, const std::string& node_bin,
                          const std::string& npm_cli, const std::string& registry,
                          const testing::TempDir& dir);

}  // namespace ovvoc::bench

#endif  // OVVOC_TESTS_BENCH_NPM_BENCH_UTIL_H_
