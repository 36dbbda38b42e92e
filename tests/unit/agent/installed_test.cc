// What an install left in node_modules (agent/workspace/installed.h), and a proposal's install
// held to the baseline's (agent/scoring/evidence.h, CompareInstalls).
#include "agent/workspace/installed.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "agent/npm/project.h"
#include "agent/scoring/evidence.h"
#include "tests/support/temp_dir.h"

namespace ovvoc::agent {
namespace {

namespace fs = std::filesystem;

void Write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

// A work tree after an install: packages plain, scoped and nested, a workspace member's own
// node_modules and its link, a .bin, npm's hidden lockfile.
void MakeTree(const testing::TempDir& dir) {
  Write(dir.Sub("tree/package.json"), "{}");
  Write(dir.Sub("tree/node_modules/a/package.json"), R"({"name": "a", "version": "1.0.0"})");
  Write(dir.Sub("tree/node_modules/a/index.js"), "module.exports = 'a';\n");
  Write(dir.Sub("tree/node_modules/a/bin/a.js"), "#!/usr/bin/env node\n");
  ::chmod(dir.Sub("tree/node_modules/a/bin/a.js").c_str(), 0755);
  Write(dir.Sub("tree/node_modules/a/node_modules/b/index.js"), "module.exports = 'b';\n");
  Write(dir.Sub("tree/node_modules/@s/c/index.js"), "module.exports = 'c';\n");
  Write(dir.Sub("tree/node_modules/.package-lock.json"), "{}");
  fs::create_directories(dir.Sub("tree/node_modules/.bin"));
  fs::create_symlink("../a/bin/a.js", dir.Sub("tree/node_modules/.bin/a"));
  Write(dir.Sub("tree/packages/web/package.json"), R"({"name": "web"})");
  Write(dir.Sub("tree/packages/web/node_modules/d/index.js"), "module.exports = 'd';\n");
  fs::create_symlink("../packages/web", dir.Sub("tree/node_modules/web"));
  Write(dir.Sub("tree/.git/node_modules/x/index.js"), "not installed");
}

TEST_CASE("an install is read as one fingerprint per package, never through a link") {
  testing::TempDir dir;
  MakeTree(dir);
  absl::StatusOr<InstalledTree> read = ReadInstalledTree(dir.Sub("tree"));
  REQUIRE(read.ok());
  CHECK(read->complete);
  std::vector<std::string> keys;
  for (const auto& [key, fingerprint] : read->packages) keys.push_back(key);
  CHECK(keys == std::vector<std::string>{"node_modules/@s/c", "node_modules/a",
                                         "node_modules/a/node_modules/b", "node_modules/web",
                                         "packages/web/node_modules/d"});
  CHECK(read->hidden.empty());  // npm's .package-lock.json is not one
  CHECK(read->packages.at("node_modules/web") == "link:../packages/web");
  CHECK(read->bins == std::map<std::string, std::string>{{"node_modules/.bin/a", "../a/bin/a.js"}});

  const InstalledTree before = *read;
  auto again = [&] {
    absl::StatusOr<InstalledTree> now = ReadInstalledTree(dir.Sub("tree"));
    REQUIRE(now.ok());
    return *now;
  };
  CHECK(again().packages == before.packages);
  // npm 6's own fields in an installed package.json (where it is required from) change nothing.
  Write(
      dir.Sub("tree/node_modules/a/package.json"),
      R"({"_requiredBy": ["/", "/web"], "name": "a", "_where": "/workspace", "version": "1.0.0"})");
  CHECK(again().packages == before.packages);
  // A package.json nested past any parser's patience is read as text, not crashed on.
  Write(dir.Sub("tree/node_modules/@s/c/package.json"),
        "{\"a\":" + std::string(300'000, '[') + std::string(300'000, ']') + "}");
  CHECK(again().packages.at("node_modules/@s/c") != before.packages.at("node_modules/@s/c"));
  fs::remove(dir.Sub("tree/node_modules/@s/c/package.json"));
  CHECK(again().packages == before.packages);
  // A nested package is a package of its own: a's fingerprint does not move with b's files.
  Write(dir.Sub("tree/node_modules/a/node_modules/b/index.js"), "module.exports = 'B';\n");
  InstalledTree now = again();
  CHECK(now.packages.at("node_modules/a") == before.packages.at("node_modules/a"));
  CHECK(now.packages.at("node_modules/a/node_modules/b") !=
        before.packages.at("node_modules/a/node_modules/b"));
  // Each of these moves a's: bytes, an exec bit, a new file, a file become a link.
  const std::string a = before.packages.at("node_modules/a");
  ::chmod(dir.Sub("tree/node_modules/a/bin/a.js").c_str(), 0644);
  CHECK(again().packages.at("node_modules/a") != a);
  ::chmod(dir.Sub("tree/node_modules/a/bin/a.js").c_str(), 0755);
  CHECK(again().packages.at("node_modules/a") == a);
  Write(dir.Sub("tree/node_modules/a/extra.js"), "");
  CHECK(again().packages.at("node_modules/a") != a);
  fs::remove(dir.Sub("tree/node_modules/a/extra.js"));
  fs::remove(dir.Sub("tree/node_modules/a/index.js"));
  fs::create_symlink("/etc/passwd", dir.Sub("tree/node_modules/a/index.js"));
  CHECK(again().packages.at("node_modules/a") != a);
  // Hidden entries are fingerprinted apart; a link named node_modules is a package of its own.
  Write(dir.Sub("tree/node_modules/.prisma/client/index.js"), "generated");
  fs::create_symlink("../node_modules/a", dir.Sub("tree/packages/node_modules"));
  now = again();
  CHECK(now.hidden.count("node_modules/.prisma") == 1);
  CHECK(now.packages.at("packages/node_modules") == "link:../node_modules/a");
  // A package replaced by a link is read as the link, not followed.
  fs::rename(dir.Sub("tree/node_modules/@s/c"), dir.Sub("c-moved"));
  fs::create_symlink(dir.Sub("c-moved"), dir.Sub("tree/node_modules/@s/c"));
  CHECK(again().packages.at("node_modules/@s/c") == "link:" + dir.Sub("c-moved"));
}

TEST_CASE("an install past the read's bounds (names, bytes, depth) is read as incomplete") {
  testing::TempDir dir;
  MakeTree(dir);
  InstalledLimits few;
  few.max_entries = 5;
  absl::StatusOr<InstalledTree> read = ReadInstalledTree(dir.Sub("tree"), few);
  REQUIRE(read.ok());
  CHECK_FALSE(read->complete);
  InstalledLimits small;
  small.max_bytes = 10;
  read = ReadInstalledTree(dir.Sub("tree"), small);
  REQUIRE(read.ok());
  CHECK_FALSE(read->complete);
  // Nesting a job made to exhaust the agent's stack or fds: stopped at the depth bound.
  std::string deep = dir.Sub("tree/node_modules/a");
  for (int i = 0; i < 200; ++i) deep += "/d";
  fs::create_directories(deep);
  read = ReadInstalledTree(dir.Sub("tree"));
  REQUIRE(read.ok());
  CHECK_FALSE(read->complete);
  InstalledLimits deeper;
  deeper.max_depth = 300;
  read = ReadInstalledTree(dir.Sub("tree"), deeper);
  REQUIRE(read.ok());
  CHECK(read->complete);
}

npm::LockedEntry Locked(const std::string& key, const std::string& version,
                        bool install_script = false) {
  npm::LockedEntry e;
  e.key = key;
  e.name = key.substr(key.rfind('/') + 1);
  e.version = version;
  e.integrity = "sha512-" + e.name + version;
  e.resolved = "https://registry.example/" + e.name + "-" + version + ".tgz";
  e.has_install_script = install_script;
  return e;
}

npm::Lockfile Lock(const std::vector<npm::LockedEntry>& entries) {
  npm::Lockfile lock;
  lock.lockfile_version = 3;
  lock.packages = entries;
  return lock;
}

constexpr scoring::InstallStage kInstall = scoring::InstallStage::kInstall;
constexpr scoring::InstallStage kBuild = scoring::InstallStage::kBuild;

TEST_CASE("a proposal's install is held to the baseline's for what the update did not change") {
  // u is updated; s runs an install script (it may build into its own directory); k and m are
  // untouched.
  // m-darwin is locked but npm skips it on linux (os: darwin).
  const npm::Lockfile before =
      Lock({Locked("node_modules/k", "1.0.0"), Locked("node_modules/m", "1.0.0"),
            Locked("node_modules/m-darwin", "1.0.0"), Locked("node_modules/s", "1.0.0", true),
            Locked("node_modules/u", "1.0.0")});
  const npm::Lockfile after =
      Lock({Locked("node_modules/k", "1.0.0"), Locked("node_modules/m", "1.0.0"),
            Locked("node_modules/m-darwin", "1.0.0"), Locked("node_modules/s", "1.0.0", true),
            Locked("node_modules/u", "1.0.1"), Locked("node_modules/n", "1.0.0")});
  InstalledTree baseline;
  baseline.packages = {{"node_modules/k", "k1"},
                       {"node_modules/m", "m1"},
                       {"node_modules/s", "s1"},
                       {"node_modules/u", "u1"}};
  baseline.bins = {{"node_modules/.bin/k", "../k/cli.js"}, {"node_modules/.bin/u", "../u/cli.js"}};
  InstalledTree proposal = baseline;
  proposal.packages["node_modules/u"] = "u2";  // updated: anything goes
  proposal.packages["node_modules/s"] = "s2";  // built by its own script
  proposal.packages["node_modules/n"] = "n1";  // new, and in the lockfile

  scoring::InstallDrift drift =
      scoring::CompareInstalls(baseline, proposal, before, after, kInstall);
  CHECK(drift.changed.empty());
  CHECK(drift.moved_bins.empty());
  CHECK(drift.extraneous.empty());
  CHECK(scoring::InstallFindings(drift).empty());

  proposal.packages["node_modules/k"] = "k-rewritten";
  proposal.packages["node_modules/planted"] = "p";
  proposal.packages["node_modules/m-darwin"] = "filled in";  // locked, skipped on this platform
  proposal.hidden["node_modules/.gen"] = "planted";
  proposal.bins["node_modules/.bin/k"] = "../planted/x.js";
  proposal.bins["node_modules/.bin/u"] = "../u/other.js";  // u is the update's: its own bin
  drift = scoring::CompareInstalls(baseline, proposal, before, after, kInstall);
  CHECK(drift.changed == std::vector<std::string>{"node_modules/k"});
  CHECK(drift.moved_bins ==
        std::vector<std::string>{"node_modules/.bin/k -> ../planted/x.js, was ../k/cli.js"});
  CHECK(drift.extraneous ==
        std::vector<std::string>{"node_modules/m-darwin", "node_modules/planted"});
  CHECK(drift.hidden == std::vector<std::string>{"node_modules/.gen"});
  CHECK_FALSE(drift.hidden_explained);
  const std::vector<ovvoc::v1::SecurityFinding> findings = scoring::InstallFindings(drift);
  REQUIRE(findings.size() == 5);
  CHECK(findings[0].kind() == "install-tampered");
  CHECK(findings[0].severity() == ovvoc::v1::SEVERITY_HIGH);
  CHECK(findings[0].package() == "node_modules/k");
  CHECK(findings[1].kind() == "install-tampered");
  CHECK(findings[1].detail() ==
        "node_modules/.bin/k -> ../planted/x.js, was ../k/cli.js after the install: an install "
        "script of the update moved the program npm scripts run");
  // Red team: node loads node_modules/planted.js for require('planted') before the package.
  CHECK(findings[2].kind() == "extraneous-package");
  CHECK(findings[2].severity() == ovvoc::v1::SEVERITY_HIGH);
  CHECK(findings[4].kind() == "hidden-module");
  CHECK(findings[4].severity() == ovvoc::v1::SEVERITY_HIGH);
  // An update that runs an install script may have generated it: shown, not held against it.
  npm::Lockfile scripted = after;
  scripted.packages[4].has_install_script = true;  // u 1.0.1
  drift = scoring::CompareInstalls(baseline, proposal, before, scripted, kInstall);
  CHECK(drift.hidden_explained);
  CHECK(scoring::InstallFindings(drift).back().severity() == ovvoc::v1::SEVERITY_MEDIUM);
  // After the build, tools' caches there differ with any update: not compared.
  const std::vector<ovvoc::v1::SecurityFinding> built =
      scoring::InstallFindings(scoring::CompareInstalls(baseline, proposal, before, after, kBuild));
  REQUIRE(built.size() == 4);
  CHECK(built[0].detail() ==
        "node_modules/k is the version the baseline installed, but its files differ from the "
        "baseline's after the build: code of the update the build ran rewrote them");
}

TEST_CASE("a read stopped at a bound fails closed where the update's code may have run") {
  const npm::Lockfile before =
      Lock({Locked("node_modules/k", "1.0.0"), Locked("node_modules/u", "1.0.0"),
            Locked("node_modules/s", "1.0.0", true)});
  // A patch of u without an install script; the same of s, with one.
  const npm::Lockfile plain =
      Lock({Locked("node_modules/k", "1.0.0"), Locked("node_modules/u", "1.0.1"),
            Locked("node_modules/s", "1.0.0", true)});
  const npm::Lockfile scripted =
      Lock({Locked("node_modules/k", "1.0.0"), Locked("node_modules/u", "1.0.0"),
            Locked("node_modules/s", "1.0.1", true)});
  InstalledTree whole;
  whole.packages = {{"node_modules/k", "k1"}};
  InstalledTree cut = whole;
  cut.complete = false;
  for (const auto& [baseline, proposal] : {std::pair{cut, whole}, std::pair{whole, cut}}) {
    // No script of the update ran during the install: nothing it could have done.
    CHECK_FALSE(scoring::CompareInstalls(baseline, proposal, before, plain, kInstall).unchecked);
    const scoring::InstallDrift drift =
        scoring::CompareInstalls(baseline, proposal, before, scripted, kInstall);
    CHECK(drift.unchecked);
    const std::vector<ovvoc::v1::SecurityFinding> findings = scoring::InstallFindings(drift);
    REQUIRE(findings.size() == 1);
    CHECK(findings[0].kind() == "install-unchecked");
    CHECK(findings[0].severity() == ovvoc::v1::SEVERITY_HIGH);
    // The build runs the updated packages' code, scripts or not.
    CHECK(scoring::CompareInstalls(baseline, proposal, before, plain, kBuild).unchecked);
  }
  CHECK_FALSE(scoring::CompareInstalls(whole, whole, before, scripted, kInstall).unchecked);
}

}  // namespace
}  // namespace ovvoc::agent
