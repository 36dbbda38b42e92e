// Jobs survive what happens to agents and to the control plane: cancels, killed agents,
// shutdowns, restarts; and they only ever go to their own org's agents.
#include <signal.h>

#include <catch2/catch.hpp>

#include "tests/support/cluster.h"

namespace ovvoc::testing {
namespace {

constexpr std::chrono::milliseconds kTimeout{30'000};

struct Setup {
  TempDir dir;
  std::unique_ptr<ControlPlaneUnderTest> cp;
  std::string url;

  Setup() {
    auto started = ControlPlaneUnderTest::Start(dir.Sub("cp"));
    REQUIRE(started.ok());
    cp = *std::move(started);
    auto sample = MakeSampleRepo(dir.path());
    REQUIRE(sample.ok());
    url = *sample;
  }

  // Registers an agent of `org` as dir/NAME and starts it with `flags`.
  std::unique_ptr<AgentUnderTest> Agent(const std::string& name, const std::string& org,
                                        std::vector<std::string> flags = {}) {
    auto token = cp->Token(org);
    REQUIRE(token.ok());
    REQUIRE(AgentUnderTest::Register(dir.Sub(name), cp->address(), *token).ok());
    auto agent = AgentUnderTest::Run(dir.Sub(name), std::move(flags));
    REQUIRE(agent.ok());
    return *std::move(agent);
  }

  std::string Job(const std::string& org) {
    (void)cp->Cli({"org", "create", org});
    auto repo = cp->Create({"repo", "add", "--org", org, "--url", url});
    REQUIRE(repo.ok());
    auto job = cp->Create({"job", "create", "--repo", *repo});
    REQUIRE(job.ok());
    return *job;
  }

  nlohmann::json Wait(const std::string& job, const std::string& state) {
    auto done = cp->WaitForJob(job, {state}, kTimeout);
    INFO(done.status().ToString());
    REQUIRE(done.ok());
    return *done;
  }

  // Waits until the job is leased and its agent reports being in its first command (the
  // lockfile, for the fixture has none; held there by --hold-commands).
  void WaitInCommand(const std::string& job) {
    for (int i = 0; i < 300; ++i) {
      auto shown = cp->Json({"job", "show", job});
      REQUIRE(shown.ok());
      const std::string phase = (*shown)["progress"].value("phase", "");
      if (phase == "lockfile" || phase == "install") return;
      absl::SleepFor(absl::Milliseconds(100));
    }
    FAIL("job never reached its first command");
  }
};

TEST_CASE("job cancel stops a running job") {
  Setup s;
  auto agent = s.Agent("agent", "acme", {"--hold-commands", "60s"});
  std::string job = s.Job("acme");
  s.WaitInCommand(job);
  CliResult cancel = s.cp->Cli({"job", "cancel", job});
  CHECK(cancel.exit_code == 0);
  CHECK_THAT(cancel.out, Catch::Contains("cancel requested"));
  const absl::Time start = absl::Now();
  nlohmann::json cancelled = s.Wait(job, "JOB_STATE_CANCELLED");
  CHECK(absl::Now() - start < absl::Seconds(10));  // not the 60 s hold
  CHECK(cancelled["result"]["outcome"] == "JOB_OUTCOME_CANCELLED");
  CHECK(agent->daemon().running());
}

TEST_CASE("an agent killed mid-job: the lease expires and another agent completes it") {
  Setup s;
  auto doomed = s.Agent("doomed", "acme", {"--hold-commands", "60s"});
  std::string job = s.Job("acme");
  s.WaitInCommand(job);
  doomed->daemon().Signal(SIGKILL);
  REQUIRE(doomed->daemon().Wait(std::chrono::milliseconds(5000)).ok());

  auto rescuer = s.Agent("rescuer", "acme");
  nlohmann::json done = s.Wait(job, "JOB_STATE_SUCCEEDED");
  CHECK(done["attempt"] == 2);
  auto agents = s.cp->Json({"agent", "list"});
  REQUIRE(agents.ok());
  CHECK(done["agent_id"] == (*agents)["agents"].back()["id"]);  // listed by enrollment
}

TEST_CASE("SIGTERM hands a running job back and the next agent finishes it") {
  Setup s;
  auto leaving = s.Agent("leaving", "acme", {"--hold-commands", "60s", "--drain-timeout", "1s"});
  std::string job = s.Job("acme");
  s.WaitInCommand(job);
  leaving->daemon().Signal(SIGTERM);
  auto code = leaving->daemon().Wait(std::chrono::milliseconds(10'000));
  REQUIRE(code.ok());
  CHECK(*code == 0);
  auto shown = s.cp->Json({"job", "show", job});
  REQUIRE(shown.ok());
  CHECK((*shown)["state"] == "JOB_STATE_QUEUED");  // at once, not after a lease expiry
  CHECK_THAT((*shown).value("status_reason", ""), Catch::Contains("handed back"));

  auto next = s.Agent("next", "acme");
  nlohmann::json done = s.Wait(job, "JOB_STATE_SUCCEEDED");
  CHECK(done["attempt"] == 2);
}

TEST_CASE("an agent of org B never receives org A's job") {
  Setup s;
  auto other = s.Agent("agent-b", "org-b");
  std::string job = s.Job("org-a");
  absl::SleepFor(absl::Seconds(3));
  auto shown = s.cp->Json({"job", "show", job});
  REQUIRE(shown.ok());
  CHECK((*shown)["state"] == "JOB_STATE_QUEUED");
  CHECK_THAT(other->daemon().Log(), !Catch::Contains("leased"));

  auto own = s.Agent("agent-a", "org-a");
  s.Wait(job, "JOB_STATE_SUCCEEDED");
  CHECK_THAT(other->daemon().Log(), !Catch::Contains("leased"));
}

TEST_CASE("a control plane restarted while jobs are queued loses none of them") {
  Setup s;
  std::vector<std::string> jobs = {s.Job("acme"), s.Job("acme"), s.Job("acme")};
  REQUIRE(s.cp->Restart().ok());
  auto listed = s.cp->Json({"job", "list"});
  REQUIRE(listed.ok());
  CHECK((*listed)["jobs"].size() == 3);
  auto agent = s.Agent("agent", "acme");
  for (const std::string& job : jobs) s.Wait(job, "JOB_STATE_SUCCEEDED");
}

TEST_CASE("an agent rides out a control plane restart") {
  Setup s;
  auto agent = s.Agent("agent", "acme");
  REQUIRE(s.cp->Restart().ok());
  std::string job = s.Job("acme");
  s.Wait(job, "JOB_STATE_SUCCEEDED");
  CHECK(agent->daemon().running());
}

}  // namespace
}  // namespace ovvoc::testing
