// The allowed path: during install, the job's packages come from its registry through the
// egress proxy; the same registry is refused when the agent has not allowed its (loopback)
// address. Runs against a real npm registry (Verdaccio) on 127.0.0.1.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "tests/e2e/attack_harness.h"
#include "tests/e2e/backend_ready.h"
#include "tests/support/cluster.h"
#include "tests/support/git_http_server.h"
#include "tests/support/subprocess.h"
#include "tests/support/verdaccio.h"

namespace ovvoc::testing::e2e {
namespace {

namespace fs = std::filesystem;

bool VerdaccioReady() {
  const std::string reason = Verdaccio::UnavailableReason();
  if (reason.empty()) return true;
  const char* ci = std::getenv("CI");
  if (ci != nullptr && std::string(ci) == "true")
    FAIL("verdaccio cannot run under CI=true: " << reason);
  WARN("skipping: " << reason);
  return false;
}

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
  CliResult r = RunCli(AgentBinary(), args, dir.path());
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

TEST_CASE("install fetches packages from the job's registry through the egress proxy") {
  const std::string backend = GENERATE("oci", "docker");
  if (!BackendReady(backend) || !VerdaccioReady()) return;
  TempDir dir;
  auto registry = Verdaccio::Start(dir.Sub("verdaccio"));
  REQUIRE(registry.ok());
  REQUIRE((*registry)->Publish(Fixture("dep")).ok());
  fs::copy(Fixture("app"), dir.Sub("app"), fs::copy_options::recursive);
  REQUIRE(GitHttpServer::CreateBareRepoFromDir(dir.Sub("app"), dir.Sub("app.git")).ok());
  const std::vector<std::string> common = {"--sandbox", backend, "--registry", (*registry)->url()};

  SECTION("allowed: npm install gets the package and the tests use it") {
    std::vector<std::string> flags = common;
    flags.insert(flags.end(), {"--allow-internal", (*registry)->host_port()});
    Job job = Update(dir, dir.Sub("app.git"), flags);
    INFO(job.err);
    REQUIRE(job.exit_code == 0);
    CHECK(job.result["install"]["command"] == "npm install");
    CHECK(job.result["install"]["termination"] == "TERMINATION_EXITED");
    CHECK(job.result["build"]["termination"] == "TERMINATION_EXITED");
    CHECK_THAT(job.result["test"].value("log_excerpt", ""),
               Catch::Contains("DEP=fixture-dep-1.0.0"));
    CHECK(!job.result.contains("findings"));
    // The evidence: where the install's network went (the registry, nowhere else), and what
    // the job wrote.
    REQUIRE(job.result["egress"].size() == 1);
    const nlohmann::json& egress = job.result["egress"][0];
    CHECK(absl::StrCat(egress.value("host", ""), ":", egress.value("port", 0)) ==
          (*registry)->host_port());
    CHECK(egress.value("connections", 0) > 0);
    CHECK(std::stoull(egress.value("bytes_down", std::string("0"))) > 0);
    CHECK_FALSE(egress.contains("failed"));
    CHECK(std::stoull(job.result["resources"].value("disk_bytes", std::string("0"))) > 0);
    CHECK_THAT(job.out, Catch::Contains("network  " + (*registry)->host_port() + ": "));
  }

  SECTION("allowed, with a lockfile: npm ci installs exactly what it pins") {
    // The lockfile is made against this registry (its port is in the resolved URLs).
    ProcessSpec lock;
    lock.argv = {
        "/var/lib/ovvoc/images/current/rootfs/usr/local/bin/node",
        "/var/lib/ovvoc/images/current/rootfs/usr/local/lib/node_modules/npm/bin/npm-cli.js",
        "install",
        "--package-lock-only",
        "--userconfig=/dev/null",
        "--registry=" + (*registry)->url()};
    lock.env = {"PATH=/usr/bin:/bin", "HOME=" + dir.Sub("lock-home")};
    lock.cwd = dir.Sub("app");
    auto locked = RunProcess(lock);
    REQUIRE(locked.ok());
    REQUIRE(locked->exit_code == 0);
    REQUIRE(GitHttpServer::CreateBareRepoFromDir(dir.Sub("app"), dir.Sub("app-locked.git")).ok());
    std::vector<std::string> flags = common;
    flags.insert(flags.end(), {"--allow-internal", (*registry)->host_port()});
    Job job = Update(dir, dir.Sub("app-locked.git"), flags);
    INFO(job.err);
    REQUIRE(job.exit_code == 0);
    CHECK(job.result["install"]["command"] == "npm ci");
    CHECK_THAT(job.result["test"].value("log_excerpt", ""),
               Catch::Contains("DEP=fixture-dep-1.0.0"));
  }

  // Regression (issue 7): with --registry, the public registry stayed allowed beside the mirror.
  SECTION("the agent's mirror replaces the public registry; it does not join it") {
    fs::copy(Fixture("public-probe"), dir.Sub("probe"), fs::copy_options::recursive);
    REQUIRE(GitHttpServer::CreateBareRepoFromDir(dir.Sub("probe"), dir.Sub("probe.git")).ok());
    std::vector<std::string> flags = common;
    flags.insert(flags.end(), {"--allow-internal", (*registry)->host_port(), "--allow-internal",
                               "registry.npmjs.org:443"});
    Job job = Update(dir, dir.Sub("probe.git"), flags);
    INFO(job.err);
    CHECK_THAT(job.result["install"].value("log_excerpt", ""),
               Catch::Contains("PUBLIC_CONNECT=403"));
    bool refused = false;
    for (const nlohmann::json& finding : job.result.value("findings", nlohmann::json::array())) {
      const std::string detail = finding.value("detail", "");
      refused |= absl::StrContains(detail, "CONNECT registry.npmjs.org:443") &&
                 absl::StrContains(detail, "host not allowed");
    }
    CHECK(refused);
  }

  SECTION("a registry that is down: the install fails promptly and says so") {
    std::vector<std::string> flags = {"--sandbox",        backend,
                                      "--registry",       "http://127.0.0.1:9/",
                                      "--allow-internal", "127.0.0.1:9"};
    const absl::Time start = absl::Now();
    Job job = Update(dir, dir.Sub("app.git"), flags);
    CHECK(job.exit_code == 1);
    CHECK(job.result["failure"]["phase"] == "install");
    CHECK(job.result["install"]["termination"] == "TERMINATION_EXITED");
    CHECK_THAT(job.result["failure"].value("log_excerpt", ""),
               Catch::Contains("ovvoc-fixture-dep"));
    CHECK(absl::Now() - start < absl::Seconds(60));  // npm's retries, not the phase timeout
  }

  SECTION("not allowed: the registry's loopback address is refused and reported") {
    Job job = Update(dir, dir.Sub("app.git"), common);
    CHECK(job.exit_code == 1);
    CHECK(job.result["failure"]["phase"] == "install");
    bool reported = false;
    for (const auto& f : job.result["findings"]) {
      reported |= f["kind"] == "blocked-egress" &&
                  absl::StrContains(f["detail"].get<std::string>(), "127.0.0.1");
    }
    CHECK(reported);
  }
}

}  // namespace
}  // namespace ovvoc::testing::e2e
