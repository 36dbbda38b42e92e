// The registry gateway against a real npm registry (Verdaccio on 127.0.0.1): the job's packages
// come from its registry through the gateway, the registry is refused when the agent has not
// allowed its (loopback) address, and an install script that behaves like the npm worms sends
// nothing out: every write and every other destination is refused and reported.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "tests/e2e/attack_harness.h"
#include "tests/e2e/backend_ready.h"
#include "tests/support/cluster.h"
#include "tests/support/git_http_server.h"
#include "tests/support/lying_registry.h"
#include "tests/support/subprocess.h"
#include "tests/support/verdaccio.h"
#include "tests/support/verdaccio_ready.h"

namespace ovvoc::testing::e2e {
namespace {

namespace fs = std::filesystem;

struct Job {
  int exit_code = -1;
  nlohmann::json result;
  std::string out;
  std::string err;
};

Job Update(const TempDir& dir, const std::string& repo, const std::vector<std::string>& flags) {
  std::vector<std::string> args = {"update",
                                   "--repo",
                                   repo,
                                   "--state-dir",
                                   dir.Sub("state"),
                                   "--json",
                                   dir.Sub("result.json"),
                                   "--phase-timeout",
                                   "60s",
                                   "--job-timeout",
                                   "90s"};
  args.insert(args.end(), flags.begin(), flags.end());
  // The job timeout, and the agent's start (a fresh state dir prepares its image) before it.
  CliResult r = RunCli(AgentBinary(), args, dir.path(), std::chrono::milliseconds(150'000));
  Job job;
  job.exit_code = r.exit_code;
  job.out = r.out;
  job.err = r.err;
  std::ifstream in(dir.Sub("result.json"));
  job.result = nlohmann::json::parse(in, nullptr, false);
  fs::remove(dir.Sub("result.json"));
  return job;
}

std::string Fixture(const char* name) {
  return std::string(OVVOC_REGISTRY_FIXTURES_DIR) + "/" + name;
}

// Names under Verdaccio's storage: the packages it holds.
std::set<std::string> Stored(const std::string& storage) {
  std::set<std::string> names;
  for (const auto& entry : fs::recursive_directory_iterator(storage)) {
    names.insert(fs::relative(entry.path(), storage).string());
  }
  return names;
}

// A Verdaccio in dir/verdaccio serving the `packages` fixtures, and the `app` fixture copied to
// dir/app and made a repository at dir/app.git.
std::unique_ptr<Verdaccio> ServeFixtures(const TempDir& dir, std::vector<const char*> packages,
                                         const char* app, const Verdaccio::Options& options = {}) {
  auto registry = Verdaccio::Start(dir.Sub("verdaccio"), options);
  REQUIRE(registry.ok());
  for (const char* package : packages) REQUIRE((*registry)->Publish(Fixture(package)).ok());
  fs::copy(Fixture(app), dir.Sub("app"), fs::copy_options::recursive);
  REQUIRE(GitHttpServer::CreateBareRepoFromDir(dir.Sub("app"), dir.Sub("app.git")).ok());
  return *std::move(registry);
}

// Writes dir/app/package-lock.json as npm does against `registry` directly (its port is in the
// resolved URLs).
void LockDirectly(const Verdaccio& registry, const TempDir& dir) {
  ProcessSpec lock;
  lock.argv = {
      "/var/lib/ovvoc/images/current/rootfs/usr/local/bin/node",
      "/var/lib/ovvoc/images/current/rootfs/usr/local/lib/node_modules/npm/bin/npm-cli.js",
      "install",
      "--package-lock-only",
      "--userconfig=/dev/null",
      "--registry=" + registry.url()};
  if (!registry.ca_file().empty()) lock.argv.push_back("--cafile=" + registry.ca_file());
  lock.env = {"PATH=/usr/bin:/bin", "HOME=" + dir.Sub("lock-home")};
  lock.cwd = dir.Sub("app");
  auto locked = RunProcess(lock);
  REQUIRE(locked.ok());
  REQUIRE(locked->exit_code == 0);
}

// The job's tests used the fixture dep, its network went to `registry` and nowhere else, and
// nothing was refused.
void CheckTestedWithDepFrom(const Job& job, const Verdaccio& registry) {
  CHECK_THAT(job.result["baseline"]["test"].value("log_excerpt", ""),
             Catch::Contains("DEP=fixture-dep-1.0.0"));
  CHECK(!job.result.contains("findings"));
  REQUIRE(job.result["egress"].size() == 1);
  const nlohmann::json& egress = job.result["egress"][0];
  CHECK(absl::StrCat(egress.value("host", ""), ":", egress.value("port", 0)) ==
        registry.host_port());
  // Memory: what the processes held, sampled, within the cgroup's peak, which counts the cache
  // too (uint64 fields are strings in proto JSON).
  const nlohmann::json& resources = job.result["resources"];
  const uint64_t peak = std::stoull(resources.value("peak_memory_bytes", "0"));
  const uint64_t working_set = std::stoull(resources.value("peak_working_set_bytes", "0"));
  CHECK(working_set > (8u << 20));  // node alone holds more
  CHECK(working_set <= peak);
  CHECK(resources.contains("peak_cache_bytes"));
  // The fixture names no node version: the image's own.
  const nlohmann::json& node = job.result["node"];
  CHECK(node.value("source", "") == "default");
  CHECK(absl::StartsWith(node.value("ran", ""), absl::StrCat(node.value("wanted_major", 0), ".")));
}

// The job failed while its lockfile was resolved, and its failure says `why`.
void CheckFailedResolving(const Job& job, const std::string& why) {
  CHECK(job.exit_code == 1);
  CHECK(job.result["failure"]["phase"] == "lockfile");
  CHECK_THAT(job.result["failure"].value("reason", ""), Catch::Contains(why));
}

TEST_CASE("install fetches packages from the job's registry through the registry gateway") {
  const std::string backend = GENERATE("oci", "docker");
  if (!BackendReady(backend) || !VerdaccioReady()) return;
  TempDir dir;
  std::unique_ptr<Verdaccio> registry = ServeFixtures(dir, {"dep"}, "app");
  const std::vector<std::string> common = {"--sandbox", backend, "--registry", registry->url()};

  SECTION("allowed: the lockfile is resolved, npm ci gets the package and the tests use it") {
    std::vector<std::string> flags = common;
    flags.insert(flags.end(), {"--allow-internal", registry->host_port()});
    Job job = Update(dir, dir.Sub("app.git"), flags);
    INFO(job.err);
    REQUIRE(job.exit_code == 0);
    CHECK(job.result["baseline"]["lockfile"]["command"] ==
          "npm install --package-lock-only --ignore-scripts --no-audit --no-fund");
    CHECK(job.result["baseline"]["lockfile"]["termination"] == "TERMINATION_EXITED");
    CHECK(job.result["baseline"]["install"]["command"] == "npm ci");
    CHECK(job.result["baseline"]["install"]["termination"] == "TERMINATION_EXITED");
    CHECK(job.result["baseline"]["build"]["termination"] == "TERMINATION_EXITED");
    // The evidence: where the install's network went (the registry, nowhere else), and what
    // the job wrote.
    CheckTestedWithDepFrom(job, *registry);
    const nlohmann::json& egress = job.result["egress"][0];
    // The packument, while resolving; npm ci then finds the tarball in the npm cache the agent
    // seeded, and asks for nothing.
    CHECK(egress.value("requests", 0) == 1);
    CHECK(std::stoull(egress.value("bytes_down", std::string("0"))) > 0);
    CHECK_FALSE(egress.contains("failed"));
    CHECK(std::stoull(job.result["resources"].value("disk_bytes", std::string("0"))) > 0);
    CHECK_THAT(job.out, Catch::Contains("network  " + registry->host_port() + ": "));
    CHECK_THAT(job.out, Catch::Contains("served through the registry gateway"));
    // The plan was made first, from the same registry's metadata: dep is on its only version
    // (no lockfile yet: current is what npm would install).
    const nlohmann::json& plan = job.result["plan"];
    REQUIRE(plan["dependencies"].size() == 1);
    CHECK(plan["dependencies"][0]["name"] == "ovvoc-fixture-dep");
    CHECK(plan["dependencies"][0]["wanted"] == "1.0.0");
    CHECK(plan["dependencies"][0]["latest"] == "1.0.0");
    CHECK(plan["dependencies"][0]["decision"] == "PLAN_DECISION_UP_TO_DATE");
    CHECK(plan["dependencies"][0]["registry"] == registry->url());
    CHECK_THAT(job.out, Catch::Contains("plan     0 to update"));
  }

  SECTION("allowed, with a lockfile: npm ci installs exactly what it pins") {
    LockDirectly(*registry, dir);
    REQUIRE(GitHttpServer::CreateBareRepoFromDir(dir.Sub("app"), dir.Sub("app-locked.git")).ok());
    std::vector<std::string> flags = common;
    flags.insert(flags.end(), {"--allow-internal", registry->host_port()});
    Job job = Update(dir, dir.Sub("app-locked.git"), flags);
    INFO(job.err);
    REQUIRE(job.exit_code == 0);
    CHECK(job.result["baseline"]["install"]["command"] == "npm ci");
    CHECK_THAT(job.result["baseline"]["test"].value("log_excerpt", ""),
               Catch::Contains("DEP=fixture-dep-1.0.0"));
  }

  // Regression (issue 7): with --registry, the public registry stayed allowed beside the mirror.
  SECTION("the agent's mirror replaces the public registry; it does not join it") {
    fs::copy(Fixture("public-probe"), dir.Sub("probe"), fs::copy_options::recursive);
    REQUIRE(GitHttpServer::CreateBareRepoFromDir(dir.Sub("probe"), dir.Sub("probe.git")).ok());
    std::vector<std::string> flags = common;
    flags.insert(flags.end(), {"--allow-internal", registry->host_port(), "--allow-internal",
                               "registry.npmjs.org:443"});
    Job job = Update(dir, dir.Sub("probe.git"), flags);
    INFO(job.err);
    CHECK_THAT(job.result["baseline"]["install"].value("log_excerpt", ""),
               Catch::Contains("PUBLIC_CONNECT=403"));
    bool refused = false;
    for (const nlohmann::json& finding : job.result.value("findings", nlohmann::json::array())) {
      const std::string detail = finding.value("detail", "");
      refused |= absl::StrContains(detail, "CONNECT registry.npmjs.org:443") &&
                 absl::StrContains(detail, "not one of the job's registries");
    }
    CHECK(refused);
  }

}

TEST_CASE("a registry that is down, not allowed or lying fails the job and says why") {
  const std::string backend = GENERATE("oci", "docker");
  if (!BackendReady(backend) || !VerdaccioReady()) return;
  TempDir dir;
  std::unique_ptr<Verdaccio> registry = ServeFixtures(dir, {"dep"}, "app");
  const std::vector<std::string> common = {"--sandbox", backend, "--registry", registry->url()};

  SECTION("a registry that is down: resolving fails promptly and says so") {
    std::vector<std::string> flags = {"--sandbox",        backend,
                                      "--registry",       "http://127.0.0.1:9/",
                                      "--allow-internal", "127.0.0.1:9"};
    const absl::Time start = absl::Now();
    Job job = Update(dir, dir.Sub("app.git"), flags);
    CheckFailedResolving(job, "the registry gateway could not serve");
    CHECK(job.result["baseline"]["lockfile"]["termination"] == "TERMINATION_EXITED");
    CHECK_THAT(job.result["failure"].value("reason", ""), Catch::Contains("/ovvoc-fixture-dep"));
    CHECK(absl::Now() - start < absl::Seconds(60));  // retries, not the phase timeout
  }

  SECTION("not allowed: the registry's loopback address is not dialled, and the job says why") {
    CheckFailedResolving(Update(dir, dir.Sub("app.git"), common),
                         "resolves to a non-public address 127.0.0.1");
  }

  SECTION("a tarball that does not match the lockfile fails the install before any code runs") {
    // A lockfile made against this registry, then one integrity changed: to the agent, exactly a
    // registry serving other bytes than the lockfile pinned.
    LockDirectly(*registry, dir);
    nlohmann::json lockfile = nlohmann::json::parse(std::ifstream(dir.Sub("app/package-lock.json")));
    lockfile["packages"]["node_modules/ovvoc-fixture-dep"]["integrity"] =
        "sha512-" + std::string(86, 'A') + "==";
    std::ofstream(dir.Sub("app/package-lock.json")) << lockfile.dump(2);
    REQUIRE(GitHttpServer::CreateBareRepoFromDir(dir.Sub("app"), dir.Sub("tampered.git")).ok());
    std::vector<std::string> flags = common;
    flags.insert(flags.end(), {"--allow-internal", registry->host_port()});
    Job job = Update(dir, dir.Sub("tampered.git"), flags);
    CHECK(job.exit_code == 1);
    CHECK(job.result["failure"]["phase"] == "install");
    CHECK_THAT(job.result["failure"].value("reason", ""),
               Catch::Contains("does not match the lockfile") &&
                   Catch::Contains("ovvoc-fixture-dep@1.0.0"));
    CHECK(!job.result["baseline"]["install"].contains("exit_code"));  // npm never ran
  }

  SECTION("a registry that serves other bytes than the integrity it published") {
    // The liar publishes dep's genuine packument, integrity included, and serves the worm's
    // tarball in its place: the lockfile pins the genuine integrity, the bytes do not match.
    REQUIRE(registry->Publish(Fixture("worm")).ok());
    auto liar = LyingRegistry::Start(registry->host_port(), "ovvoc-fixture-dep", "ovvoc-fixture-worm");
    INFO(liar.status().ToString());
    REQUIRE(liar.ok());
    Job job = Update(dir, dir.Sub("app.git"),
                     {"--sandbox", backend, "--registry", (*liar)->url(), "--allow-internal",
                      (*liar)->host_port()});
    CHECK(job.exit_code == 1);
    CHECK(job.result["baseline"]["lockfile"]["termination"] == "TERMINATION_EXITED");
    CHECK(job.result["failure"]["phase"] == "install");
    CHECK_THAT(job.result["failure"].value("reason", ""),
               Catch::Contains("does not match the lockfile") &&
                   Catch::Contains("ovvoc-fixture-dep@1.0.0"));
    CHECK(!job.result["baseline"]["install"].contains(
        "exit_code"));  // npm never ran: the worm never ran
    CHECK((*liar)->tarballs_served() >= 1);
  }
}

TEST_CASE("an https registry behind its own CA: the agent trusts it, the job trusts the gateway") {
  const std::string backend = GENERATE("oci", "docker");
  if (!BackendReady(backend) || !VerdaccioReady()) return;
  TempDir dir;
  std::unique_ptr<Verdaccio> registry = ServeFixtures(dir, {"dep"}, "app", {.https = true});
  REQUIRE(absl::StartsWith(registry->url(), "https://127.0.0.1:"));
  std::vector<std::string> flags = {"--sandbox", backend, "--registry", registry->url(),
                                    "--allow-internal", registry->host_port()};

  SECTION("without the registry's CA the agent does not trust it, and says so") {
    Job job = Update(dir, dir.Sub("app.git"), flags);
    INFO(job.result["failure"].dump());
    CheckFailedResolving(job, "the registry gateway could not serve");
    CHECK_THAT(job.result["failure"].value("reason", ""), Catch::Contains("certificate"));
  }

  SECTION("with --registry-ca: resolved, prefetched over TLS, installed and tested") {
    flags.insert(flags.end(), {"--registry-ca", registry->ca_file()});
    Job job = Update(dir, dir.Sub("app.git"), flags);
    INFO(job.err);
    REQUIRE(job.exit_code == 0);
    CHECK(job.result["baseline"]["lockfile"]["termination"] == "TERMINATION_EXITED");
    CheckTestedWithDepFrom(job, *registry);
  }
}

// Red team, issue 9, second round: a lockfile with a string where npm writes a boolean aborted
// the agent (exit 134), and 60 MiB of `[` cost it 4.7 GB. Each is now a job like any other.
TEST_CASE("a hostile lockfile is read as a lockfile, or fails the job saying why") {
  const std::string backend = GENERATE("oci", "docker");
  if (!BackendReady(backend) || !VerdaccioReady()) return;
  TempDir dir;
  std::unique_ptr<Verdaccio> registry = ServeFixtures(dir, {"dep"}, "app");
  const std::vector<std::string> flags = {"--sandbox", backend, "--registry", registry->url(),
                                          "--allow-internal", registry->host_port()};
  LockDirectly(*registry, dir);
  nlohmann::json lockfile = nlohmann::json::parse(std::ifstream(dir.Sub("app/package-lock.json")));

  SECTION("a string where a boolean belongs: an ordinary package, installed") {
    lockfile["packages"]["node_modules/ovvoc-fixture-dep"]["link"] = "yes";
    std::ofstream(dir.Sub("app/package-lock.json")) << lockfile.dump(2);
    REQUIRE(GitHttpServer::CreateBareRepoFromDir(dir.Sub("app"), dir.Sub("typed.git")).ok());
    Job job = Update(dir, dir.Sub("typed.git"), flags);
    INFO(job.err);
    CHECK((job.exit_code == 0 || job.exit_code == 1));  // a result, not an abort
    CHECK(job.result["baseline"]["install"]["command"] == "npm ci");
    CHECK(job.result["baseline"]["install"].contains("termination"));
  }

  SECTION("nested a million deep: refused before it is built") {
    std::ofstream(dir.Sub("app/package-lock.json"))
        << R"({"lockfileVersion": 3, "packages": )" << std::string(1 << 20, '[');
    REQUIRE(GitHttpServer::CreateBareRepoFromDir(dir.Sub("app"), dir.Sub("deep.git")).ok());
    Job job = Update(dir, dir.Sub("deep.git"), flags);
    INFO(job.err);
    CHECK(job.exit_code == 1);
    CHECK(job.result["failure"]["phase"] == "install");
    CHECK_THAT(job.result["failure"].value("reason", ""), Catch::Contains("nests deeper than 600"));
  }
}

// Regression (red team, issue 9, F2): a repository's .npmrc named its own script as npm's `git`
// and a git dependency made npm run it while the lockfile was resolved, when the gateway still
// fetched upstream for it. Resolving runs no program of the repository's.
TEST_CASE("a repository's .npmrc cannot run its own program while the lockfile is resolved") {
  const std::string backend = GENERATE("oci", "docker");
  if (!BackendReady(backend) || !VerdaccioReady()) return;
  TempDir dir;
  std::unique_ptr<Verdaccio> registry = ServeFixtures(dir, {"dep"}, "git-npmrc-app");
  REQUIRE((fs::status(dir.Sub("app/fake-git.sh")).permissions() & fs::perms::owner_exec) !=
          fs::perms::none);
  Job job = Update(dir, dir.Sub("app.git"),
                   {"--sandbox", backend, "--registry", registry->url(), "--allow-internal",
                    registry->host_port()});
  INFO(job.err);
  CheckFailedResolving(job, "exited with status");
  const std::string log = job.result["baseline"]["lockfile"].value("log_excerpt", "");
  CHECK_THAT(log, Catch::Contains("no-git-while-resolving-the-lockfile"));
  CHECK_THAT(log, !Catch::Contains("FAKE-GIT-RAN"));
}

TEST_CASE("a job that poisons the caches it can reach changes nothing for the next job") {
  const std::string backend = GENERATE("oci", "docker");
  if (!BackendReady(backend) || !VerdaccioReady()) return;
  TempDir dir;
  std::unique_ptr<Verdaccio> registry = ServeFixtures(dir, {"dep"}, "poison-app");
  fs::copy(Fixture("app"), dir.Sub("clean"), fs::copy_options::recursive);
  REQUIRE(GitHttpServer::CreateBareRepoFromDir(dir.Sub("clean"), dir.Sub("clean.git")).ok());
  const std::vector<std::string> flags = {"--sandbox", backend, "--registry", registry->url(),
                                          "--allow-internal", registry->host_port()};
  // Both jobs run with one state dir: one agent, one cache.
  Job poisoner = Update(dir, dir.Sub("app.git"), flags);
  INFO(poisoner.err);
  REQUIRE(poisoner.exit_code == 0);
  // The attack did poison what it could reach (its own npm cache), and nothing of the agent's.
  CHECK_THAT(poisoner.result["baseline"]["install"].value("log_excerpt", ""),
             Catch::Contains("POISONED_FILES=") && !Catch::Contains("POISONED_FILES=0\n") &&
                 !Catch::Contains("WROTE"));
  Job next = Update(dir, dir.Sub("clean.git"), flags);
  INFO(next.err);
  REQUIRE(next.exit_code == 0);
  CHECK_THAT(next.result["baseline"]["test"].value("log_excerpt", ""),
             Catch::Contains("DEP=fixture-dep-1.0.0"));
}

TEST_CASE("a worm in an install script sends nothing out through the registry gateway") {
  const std::string backend = GENERATE("oci", "docker");
  if (!BackendReady(backend) || !VerdaccioReady()) return;
  TempDir dir;
  std::unique_ptr<Verdaccio> registry = ServeFixtures(dir, {"dep", "worm"}, "worm-app");
  const std::set<std::string> before = Stored(dir.Sub("verdaccio/storage"));

  Job job = Update(dir, dir.Sub("app.git"),
                   {"--sandbox", backend, "--registry", registry->url(), "--allow-internal",
                    registry->host_port()});
  INFO(job.err);
  INFO(job.result.dump(2));
  // The worm ran (npm ci with scripts; npm keeps a dependency's script output to itself) and
  // every attempt was refused and reported.
  CHECK(job.result["baseline"]["install"]["termination"] == "TERMINATION_EXITED");
  for (const char* attempt :
       {"PUT 127.0.0.1", "/-/user/org.couchdb.user:worm", "/ovvoc-stolen-source",
        "/-/v1/search (with a query of", "/-/package/ovvoc-fixture-dep/dist-tags/latest",
        "POST 127.0.0.1", "/-/npm/v1/tokens", "exfil.example:80/", "CONNECT exfil.example:443"}) {
    bool found = false;
    for (const nlohmann::json& f : job.result.value("findings", nlohmann::json::array())) {
      found |= f["kind"] == "blocked-egress" && f["severity"] == "SEVERITY_HIGH" &&
               absl::StrContains(f.value("detail", ""), attempt);
    }
    INFO(attempt);
    CHECK(found);
  }
  // The registry holds nothing new.
  CHECK(Stored(dir.Sub("verdaccio/storage")) == before);
}

}  // namespace
}  // namespace ovvoc::testing::e2e

namespace ovvoc::testing::e2e {
namespace {

TEST_CASE("a private registry's token is used by the agent and never enters the job") {
  const std::string backend = GENERATE("oci", "docker");
  if (!BackendReady(backend) || !VerdaccioReady()) return;
  TempDir dir;
  std::unique_ptr<Verdaccio> registry =
      ServeFixtures(dir, {"private-dep"}, "private-app", {.private_scope = "@private"});
  const std::vector<std::string> flags = {"--sandbox", backend, "--registry", registry->url(),
                                          "--allow-internal", registry->host_port()};

  SECTION("without the token the package cannot be read: the control") {
    CheckFailedResolving(Update(dir, dir.Sub("app.git"), flags), "exited with status 1");
  }

  SECTION("with the agent's credentials file, it installs, and the token is nowhere") {
    const std::string credentials = dir.Sub("credentials.json");
    std::ofstream(credentials) << nlohmann::json{
        {"registries", {{{"url", registry->url()}, {"token", registry->token()}}}}}.dump();
    fs::permissions(credentials, fs::perms::owner_read | fs::perms::owner_write);
    std::vector<std::string> with = flags;
    with.insert(with.end(), {"--registry-credentials", credentials});
    Job job = Update(dir, dir.Sub("app.git"), with);
    INFO(job.err);
    REQUIRE(job.exit_code == 0);
    const std::string seen = job.result["baseline"]["test"].value("log_excerpt", "");
    CHECK_THAT(seen, Catch::Contains("PRIVATE=private-dep-1.0.0") && Catch::Contains("LOOKED=1"));
    REQUIRE(registry->token().size() >= 8);
    CHECK_FALSE(absl::StrContains(seen, registry->token()));
    CHECK_FALSE(absl::StrContains(job.result.dump(), registry->token()));
    CHECK_FALSE(absl::StrContains(job.out + job.err, registry->token()));

    // A credentials file others may read is refused, and says how to fix it.
    fs::permissions(credentials, fs::perms::group_read, fs::perm_options::add);
    Job refused = Update(dir, dir.Sub("app.git"), with);
    CHECK(refused.exit_code != 0);
    CHECK_THAT(refused.err, Catch::Contains("chmod 600"));
  }
}

}  // namespace
}  // namespace ovvoc::testing::e2e

namespace ovvoc::testing::e2e {
namespace {

// 60 packages in a chain of dependencies: what a real lockfile looks like to the prefetch, at a
// size where a request npm still made would show.
constexpr int kGenerated = 60;

TEST_CASE("script mode: npm ci of 60 packages needs nothing upstream, and lockfiles match npm's") {
  if (!VerdaccioReady()) return;
  for (const std::string backend : {"oci", "docker"}) {
    if (!BackendReady(backend)) continue;
    INFO(backend);
    TempDir dir;
    auto registry = Verdaccio::Start(dir.Sub("verdaccio"));
    REQUIRE(registry.ok());
    nlohmann::json manifest = {{"name", "ovvoc-fixture-many"},
                               {"version", "1.0.0"},
                               {"private", true},
                               {"scripts", {{"test", "cat package-lock.json"}}}};
    for (int i = 0; i < kGenerated; ++i) {
      std::map<std::string, std::string> deps;
      if (i + 1 < kGenerated) deps[absl::StrCat("ovvoc-gen-", i + 1)] = "^1.0.0";
      REQUIRE((*registry)->PublishGenerated(absl::StrCat("ovvoc-gen-", i), deps).ok());
      if (i % 6 == 0) manifest["dependencies"][absl::StrCat("ovvoc-gen-", i)] = "^1.0.0";
    }
    fs::create_directories(dir.Sub("app"));
    std::ofstream(dir.Sub("app/package.json")) << manifest.dump(2) << "\n";
    REQUIRE(GitHttpServer::CreateBareRepoFromDir(dir.Sub("app"), dir.Sub("app.git")).ok());
    const std::vector<std::string> flags = {"--sandbox",        backend,
                                            "--registry",       (*registry)->url(),
                                            "--allow-internal", (*registry)->host_port()};

    // No lockfile: the job resolves one through the gateway. It prints it in its tests; it must
    // be byte for byte what npm writes against the registry directly.
    Job resolved = Update(dir, dir.Sub("app.git"), flags);
    INFO(resolved.err);
    REQUIRE(resolved.exit_code == 0);
    LockDirectly(**registry, dir);
    std::ifstream direct_in(dir.Sub("app/package-lock.json"));
    const std::string direct((std::istreambuf_iterator<char>(direct_in)),
                             std::istreambuf_iterator<char>());
    REQUIRE(absl::StrContains(direct, "ovvoc-gen-59"));
    CHECK_THAT(resolved.result["baseline"]["test"].value("log_excerpt", ""),
               Catch::Contains(direct));

    // With that lockfile committed, and the registry gone after a first job filled the agent's
    // cache: npm ci of all 60 still succeeds, since nothing goes upstream while it runs.
    REQUIRE(GitHttpServer::CreateBareRepoFromDir(dir.Sub("app"), dir.Sub("locked.git")).ok());
    Job warm = Update(dir, dir.Sub("locked.git"), flags);
    INFO(warm.err);
    REQUIRE(warm.exit_code == 0);
    CHECK(!warm.result["baseline"].contains("lockfile"));
    registry->reset();  // Verdaccio stops: nothing answers at its address any more
    Job offline = Update(dir, dir.Sub("locked.git"), flags);
    INFO(offline.err);
    CHECK(offline.exit_code == 0);
    CHECK(offline.result["baseline"]["install"]["termination"] == "TERMINATION_EXITED");
    // npm asked the gateway for nothing: its cache was seeded with all 60, checked.
    CHECK(!offline.result.contains("egress"));
    CHECK(!offline.result.contains("findings"));
  }
}

}  // namespace
}  // namespace ovvoc::testing::e2e
