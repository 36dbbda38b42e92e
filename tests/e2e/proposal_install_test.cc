// A proposal's install starts from the node_modules the baseline's install left: npm installs
// only what the update changes, unless a kept package's install script was built against it.
// What an update's script did before its install failed is reported as a passing one's is, and
// what it did in a first run whose tests failed counts against the second.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/e2e/backend_ready.h"
#include "tests/e2e/proposal_support.h"
#include "tests/support/cluster.h"
#include "tests/support/verdaccio.h"
#include "tests/support/verdaccio_ready.h"

namespace ovvoc::testing::e2e {
namespace {

// ovvoc-ri-addon's install script records the ovvoc-ri-lib it was built against, as a native
// addon would, through ovvoc-ri-mid, a package in between (red team: a script that reached the
// updated package at one remove was kept built against the old one); ovvoc-ri-steady's writes a
// marker that only its script makes. The tests check that each package's code is its lockfile
// version's and that addon was built against the lib it runs with: an install over kept
// node_modules that left lib's old code, or addon's old build, fails them.
constexpr char kTest[] =
    "const fs = require('fs'); const assert = require('assert');"
    "const version = (n) => require(n + '/package.json').version;"
    "for (const n of ['ovvoc-ri-lib', 'ovvoc-ri-other']) assert.strictEqual(require(n), n + '@' + "
    "version(n));"
    "assert.strictEqual(fs.readFileSync('node_modules/ovvoc-ri-addon/built-against', 'utf8'), "
    "version('ovvoc-ri-lib'));"
    "assert.ok(fs.existsSync('node_modules/ovvoc-ri-steady/built'));"
    "assert.strictEqual(require('ovvoc-ri-coy'), 'ok');"
    "console.log('ok');";

std::string Exports(const std::string& name, const std::string& version) {
  return absl::StrCat("module.exports = '", name, "@", version, "';\n");
}

TEST_CASE(
    "a proposal installs over the baseline's node_modules, but npm ci where a kept script "
    "was built against the update") {
  if (!BackendReady("oci") || !VerdaccioReady()) return;
  TempDir dir;
  auto started = Verdaccio::Start(dir.Sub("verdaccio"));
  REQUIRE(started.ok());
  Verdaccio& registry = **started;
  for (const char* name : {"ovvoc-ri-lib", "ovvoc-ri-other"}) {
    REQUIRE(Publish(registry, name, "1.0.0", Exports(name, "1.0.0")).ok());
  }
  REQUIRE(Publish(registry, "ovvoc-ri-addon", "1.0.0", "module.exports = 'addon';\n",
                  {{"scripts",
                    {{"install",
                      "node -e \"require('fs').writeFileSync('built-against', "
                      "require('ovvoc-ri-mid'))\""}}}},
                  {{"ovvoc-ri-mid", "^1.0.0"}})
              .ok());
  REQUIRE(Publish(registry, "ovvoc-ri-plant", "1.0.0", "module.exports = 1;\n").ok());
  // Broken once after a run that left its marker: it takes the marker away as it says so.
  constexpr char kCoy[] =
      "const fs = require('fs');\n"
      "const first = __dirname + '/first';\n"
      "if (fs.existsSync(first)) { fs.unlinkSync(first); module.exports = 'broken'; }\n"
      "else { module.exports = 'ok'; }\n";
  REQUIRE(Publish(registry, "ovvoc-ri-coy", "1.0.0", kCoy).ok());
  REQUIRE(Publish(registry, "ovvoc-ri-mid", "1.0.0",
                  "module.exports = require('ovvoc-ri-lib/package.json').version;\n",
                  nlohmann::json::object(), {{"ovvoc-ri-lib", "^1.0.0"}})
              .ok());
  REQUIRE(Publish(registry, "ovvoc-ri-steady", "1.0.0", "module.exports = 'steady';\n",
                  {{"scripts",
                    {{"postinstall", "node -e \"require('fs').writeFileSync('built', '1')\""}}}})
              .ok());
  const nlohmann::json manifest = {{"name", "ovvoc-ri-app"},
                                   {"private", true},
                                   {"version", "1.0.0"},
                                   {"scripts", {{"test", absl::StrCat("node -e \"", kTest, "\"")}}},
                                   {"dependencies",
                                    {{"ovvoc-ri-addon", "1.0.0"},
                                     {"ovvoc-ri-lib", "^1.0.0"},
                                     {"ovvoc-ri-other", "^1.0.0"},
                                     {"ovvoc-ri-plant", "^1.0.0"},
                                     {"ovvoc-ri-coy", "^1.0.0"},
                                     {"ovvoc-ri-steady", "1.0.0"}}}};
  MakeSmallApp(registry, dir, manifest.dump(2) + "\n");
  for (const char* name : {"ovvoc-ri-lib", "ovvoc-ri-other"}) {
    REQUIRE(Publish(registry, name, "1.0.1", Exports(name, "1.0.1")).ok());
  }
  // An update whose install script plants a file beside the tests, rewrites one of the
  // repository's, and then fails on purpose: what it did is reported all the same.
  REQUIRE(Publish(registry, "ovvoc-ri-plant", "1.0.1", "module.exports = 2;\n",
                  {{"scripts",
                    {{"postinstall",
                      "node -e \"const fs = require('fs'); const root = process.env.INIT_CWD; "
                      "fs.writeFileSync(root + '/planted.js', 'x'); "
                      "fs.appendFileSync(root + '/.ovvoc.yml', '# planted'); process.exit(1)\""}}}})
              .ok());

  // An update that tells its first run from a second (npm resolved the lockfile in the first
  // one's container, and left its cache in the home) tampers and fails its tests in the first
  // (once: they pass when run again in that container), and behaves in the second, a fresh
  // container (red team, issue 12: it then passed, with no finding).
  REQUIRE(Publish(registry, "ovvoc-ri-coy", "1.0.1", kCoy,
                  {{"scripts",
                    {{"postinstall",
                      "node -e \"const fs = require('fs'); "
                      "if (fs.existsSync(require('os').homedir() + '/.npm/_cacache')) { "
                      "fs.writeFileSync('first', '1'); "
                      "fs.appendFileSync(process.env.INIT_CWD + '/.ovvoc.yml', '# coy'); }\""}}}})
              .ok());

  std::string log;
  const nlohmann::json result = UpdateJob(dir, registry, "result", &log);
  INFO(result.dump(2));
  REQUIRE(result["baseline"]["test"].value("exit_code", 0) == 0);

  // other: nothing kept depends on it; its folder comes from its tarball, the rest is kept
  // (steady's marker, which only its script makes, is there without the script running again).
  const nlohmann::json* other = ProposalOf(result, "ovvoc-ri-other");
  REQUIRE(other != nullptr);
  CHECK((*other)["outcome"] == "PROPOSAL_OUTCOME_PASSED");
  CHECK((*other)["trial"].value("install_reused", false));
  CHECK((*other)["trial"]["install"]["command"] == "npm install --no-save");

  // lib: addon's install script was built against it (through mid), and npm install would not
  // run it again.
  const nlohmann::json* lib = ProposalOf(result, "ovvoc-ri-lib");
  REQUIRE(lib != nullptr);
  CHECK((*lib)["outcome"] == "PROPOSAL_OUTCOME_PASSED");
  CHECK_FALSE((*lib)["trial"].value("install_reused", false));
  CHECK((*lib)["trial"]["install"]["command"] == "npm ci");
  CHECK(absl::StrContains(log, "node_modules/ovvoc-ri-addon runs an install script"));

  const nlohmann::json* plant = ProposalOf(result, "ovvoc-ri-plant");
  REQUIRE(plant != nullptr);
  CHECK((*plant)["outcome"] == "PROPOSAL_OUTCOME_FAILED");
  CHECK((*plant)["failure"]["reason_class"] == "install");
  std::map<std::string, std::string> found;
  for (const nlohmann::json& f : (*plant)["findings"]) {
    found[f.value("kind", "")] = f.value("severity", "") + " " + f.value("detail", "");
  }
  CHECK_THAT(found["install-added-files"], Catch::StartsWith("SEVERITY_HIGH"));
  CHECK_THAT(found["install-added-files"], Catch::Contains("planted.js"));
  CHECK_THAT(found["repo-tampered"], Catch::StartsWith("SEVERITY_HIGH"));
  CHECK_THAT(found["repo-tampered"], Catch::Contains(".ovvoc.yml"));

  const nlohmann::json* coy = ProposalOf(result, "ovvoc-ri-coy");
  REQUIRE(coy != nullptr);
  CHECK((*coy)["trial"]["test"].value("attempts", 0) == 2);
  CHECK((*coy)["outcome"] == "PROPOSAL_OUTCOME_FAILED");
  CHECK((*coy)["failure"]["reason_class"] == "tampering");
  CHECK_THAT((*coy)["failure"].value("reason", ""), Catch::Contains("repo-tampered"));
  CHECK_THAT(TrialLog(log, "ovvoc-ri-coy 1.0.0 -> 1.0.1"),
             Catch::Contains("]: the tests failed; proving the update once more in a fresh "
                             "container"));
}

// `name`@`version`, published by `npm publish` from dir/`name`@`version` with `bundled` (name ->
// package.json) in its node_modules.
void PublishBundling(Verdaccio& registry, const TempDir& dir, const std::string& name,
                     const std::string& version, const nlohmann::json& manifest,
                     const std::map<std::string, nlohmann::json>& bundled) {
  const std::string root = dir.Sub(absl::StrCat(name, "@", version));
  std::filesystem::create_directories(root);
  std::ofstream(root + "/package.json") << manifest.dump(2);
  std::ofstream(root + "/index.js") << "module.exports = '" << version << "';\n";
  for (const auto& [bundle, package] : bundled) {
    std::filesystem::create_directories(root + "/node_modules/" + bundle);
    std::ofstream(root + "/node_modules/" + bundle + "/package.json") << package.dump(2);
    std::ofstream(root + "/node_modules/" + bundle + "/index.js") << "module.exports = 1;\n";
  }
  REQUIRE(registry.Publish(root).ok());
}

TEST_CASE("an update that brings a bundle installs from nothing, and npm's own words say why not") {
  if (!BackendReady("oci") || !VerdaccioReady()) return;
  TempDir dir;
  auto started = Verdaccio::Start(dir.Sub("verdaccio"));
  REQUIRE(started.ok());
  Verdaccio& registry = **started;
  REQUIRE(Publish(registry, "ovvoc-bd-leaf", "1.0.0", "module.exports = 1;\n").ok());
  REQUIRE(Publish(registry, "ovvoc-bd-leaf", "1.1.0", "module.exports = 1;\n").ok());
  REQUIRE(Publish(registry, "ovvoc-bd-host", "1.0.0", "module.exports = '1.0.0';\n").ok());
  const nlohmann::json manifest = {{"name", "ovvoc-bd-app"},
                                   {"private", true},
                                   {"version", "1.0.0"},
                                   {"scripts", {{"test", "node -e \"require('ovvoc-bd-host')\""}}},
                                   {"dependencies", {{"ovvoc-bd-host", "^1.0.0"}}}};
  MakeSmallApp(registry, dir, manifest.dump(2) + "\n");
  // Its next release bundles ovvoc-bd-inner, which wants ovvoc-bd-leaf ^1.1.0, beside the leaf
  // 1.0.0 it also bundles. Over the baseline's node_modules, `npm install` would set out to
  // mend the bundle, asking the registry for the leaf (refused: a blocked-egress finding that
  // was npm's doing, not the update's); `npm ci` says that a lockfile npm resolved without
  // unpacking the bundle cannot install it, which is what the user's CI would say too.
  PublishBundling(registry, dir, "ovvoc-bd-host", "1.0.1",
                  {{"name", "ovvoc-bd-host"},
                   {"version", "1.0.1"},
                   {"license", "UNLICENSED"},
                   {"dependencies", {{"ovvoc-bd-inner", "1.0.0"}, {"ovvoc-bd-leaf", "1.0.0"}}},
                   {"bundleDependencies", {"ovvoc-bd-inner", "ovvoc-bd-leaf"}}},
                  {{"ovvoc-bd-inner",
                    {{"name", "ovvoc-bd-inner"},
                     {"version", "1.0.0"},
                     {"dependencies", {{"ovvoc-bd-leaf", "^1.1.0"}}}}},
                   {"ovvoc-bd-leaf", {{"name", "ovvoc-bd-leaf"}, {"version", "1.0.0"}}}});

  std::string log;
  const nlohmann::json result = UpdateJob(dir, registry, "result", &log);
  INFO(result.dump(2));
  const nlohmann::json* host = ProposalOf(result, "ovvoc-bd-host");
  REQUIRE(host != nullptr);
  CHECK((*host)["outcome"] == "PROPOSAL_OUTCOME_FAILED");
  CHECK_FALSE((*host)["trial"].value("install_reused", false));
  CHECK((*host)["trial"]["install"]["command"] == "npm ci");
  CHECK((*host)["failure"]["reason_class"] == "install");
  CHECK_THAT((*host)["failure"].value("log_excerpt", ""), Catch::Contains("in sync"));
  for (const nlohmann::json& f : host->value("findings", nlohmann::json::array())) {
    CHECK(f.value("kind", "") != "blocked-egress");
  }
  CHECK(absl::StrContains(log, "comes in a bundle"));
}

}  // namespace
}  // namespace ovvoc::testing::e2e
