// A job travels the whole loop through the real binaries: enroll -> poll -> lease -> clone ->
// result, and `job show` has the result.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_join.h"
#include "control-plane/store/sqlite/sqlite_store.h"
#include "tests/support/cluster.h"
#include "tests/support/git_http_server.h"

namespace ovvoc::testing {
namespace {

constexpr std::chrono::milliseconds kJobTimeout{30'000};
const std::set<std::string> kEnded = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED",
                                      "JOB_STATE_CANCELLED"};

struct Cluster {
  TempDir dir;
  std::unique_ptr<ControlPlaneUnderTest> cp;
  std::unique_ptr<AgentUnderTest> agent;
  std::string agent_id;

  explicit Cluster(std::vector<std::string> flags = {}, bool allow_file_remotes = true) {
    auto started = ControlPlaneUnderTest::Start(dir.Sub("cp"), std::move(flags));
    REQUIRE(started.ok());
    cp = *std::move(started);
    auto token = cp->Token("acme");
    REQUIRE(token.ok());
    auto id = AgentUnderTest::Register(dir.Sub("agent"), cp->address(), *token);
    INFO(id.status().ToString());
    REQUIRE(id.ok());
    agent_id = *id;
    auto run = AgentUnderTest::Run(dir.Sub("agent"), {}, allow_file_remotes);
    INFO(run.status().ToString());
    REQUIRE(run.ok());
    agent = *std::move(run);
  }

  nlohmann::json RunJob(const std::string& url) {
    auto repo = cp->Create({"repo", "add", "--org", "acme", "--url", url});
    INFO(repo.status().ToString());
    REQUIRE(repo.ok());
    auto job = cp->Create({"job", "create", "--repo", *repo});
    REQUIRE(job.ok());
    auto done = cp->WaitForJob(*job, kEnded, kJobTimeout);
    INFO(done.status().ToString() << "\nagent log:\n" << agent->daemon().Log());
    REQUIRE(done.ok());
    return *done;
  }
};

std::vector<std::string> DependencyNames(const nlohmann::json& job) {
  std::vector<std::string> names;
  for (const auto& d : job["result"]["dependencies"]) names.push_back(d["name"]);
  return names;
}

TEST_CASE("a job travels enroll, poll, lease, clone and result") {
  Cluster cluster;
  auto url = MakeSampleRepo(cluster.dir.path());
  REQUIRE(url.ok());
  nlohmann::json job = cluster.RunJob(*url);
  CHECK(job["state"] == "JOB_STATE_SUCCEEDED");
  CHECK(job["attempt"] == 1);
  CHECK(job["agent_id"] == cluster.agent_id);
  CHECK(job["result"]["head_commit"].get<std::string>().size() == 40);
  CHECK(DependencyNames(job) == std::vector<std::string>{"left-pad", "lodash", "is-number"});
  CHECK(job["result"]["dependencies"][2]["kind"] == "DEPENDENCY_KIND_DEV");
  CHECK(job["result"]["timings"].size() >= 2);

  // The human view says the same.
  CliResult shown = cluster.cp->Cli({"job", "show", job["id"]});
  CHECK(shown.exit_code == 0);
  CHECK_THAT(shown.out, Catch::Contains("succeeded") && Catch::Contains("left-pad"));
  auto agents = cluster.cp->Json({"agent", "list"});
  REQUIRE(agents.ok());
  CHECK((*agents)["agents"][0]["id"] == cluster.agent_id);

  // The job dir is gone.
  CHECK(std::filesystem::is_empty(cluster.dir.Sub("agent/work")));

  // Every state change went through the audit log (read beside the running server: WAL).
  auto store = cp::OpenSqliteStore(cluster.dir.Sub("cp/store.db"));
  REQUIRE(store.ok());
  auto records = (*store)->ListAudit(0, 1000);
  REQUIRE(records.ok());
  std::set<std::string> actions;
  for (const cp::AuditRecord& r : *records) actions.insert(r.action);
  for (const char* action : {"org.create", "enroll_token.create", "agent.enroll", "repo.add",
                             "job.create", "job.lease", "job.result"}) {
    INFO(action);
    CHECK(actions.count(action) == 1);
  }
}

TEST_CASE("an http clone through git http-backend uses the control plane's token") {
  TempDir fixtures;
  auto source = fixtures.Sub("src");
  std::filesystem::create_directories(source);
  std::ofstream(source + "/package.json") << R"({"dependencies": {"express": "^4.18.0"}})";
  REQUIRE(GitHttpServer::CreateBareRepoFromDir(source, fixtures.Sub("git/acme/web.git")).ok());
  REQUIRE(GitHttpServer::CreateBareRepoFromDir(source, fixtures.Sub("git/other/web.git")).ok());
  GitHttpServer git(fixtures.Sub("git"));
  git.AddToken("tok-acme-123", "acme/");
  REQUIRE(git.Start().ok());

  const std::string credentials = fixtures.Sub("git-credentials");
  std::ofstream(credentials) << "# static tokens for tests: ORG URL-PREFIX TOKEN\n"
                             << "acme " << git.BaseUrl() << "/acme/ tok-acme-123\n";
  ::chmod(credentials.c_str(), 0600);
  Cluster cluster({"--git-credentials", credentials});

  nlohmann::json ok = cluster.RunJob(git.BaseUrl() + "/acme/web.git");
  CHECK(ok["state"] == "JOB_STATE_SUCCEEDED");
  CHECK(DependencyNames(ok) == std::vector<std::string>{"express"});
  CHECK(git.authenticated_requests() > 0);

  // No token configured for this remote: the forge refuses, and the job says so.
  nlohmann::json refused = cluster.RunJob(git.BaseUrl() + "/other/web.git");
  CHECK(refused["state"] == "JOB_STATE_FAILED");
  CHECK_THAT(refused.value("status_reason", ""), Catch::StartsWith("clone: "));
}

TEST_CASE("a malformed package.json fails the job with a reason, and the agent carries on") {
  Cluster cluster;
  TempDir fixtures;
  std::filesystem::create_directories(fixtures.Sub("bad"));
  std::ofstream(fixtures.Sub("bad/package.json")) << "{\"dependencies\": {";
  REQUIRE(GitHttpServer::CreateBareRepoFromDir(fixtures.Sub("bad"), fixtures.Sub("bad.git")).ok());
  nlohmann::json bad = cluster.RunJob("file://" + fixtures.Sub("bad.git"));
  CHECK(bad["state"] == "JOB_STATE_FAILED");
  CHECK_THAT(bad.value("status_reason", ""),
             Catch::StartsWith("manifest: ") && Catch::Contains("not valid JSON"));
  CHECK(bad["result"]["failure"]["phase"] == "manifest");

  auto url = MakeSampleRepo(cluster.dir.path());
  REQUIRE(url.ok());
  CHECK(cluster.RunJob(*url)["state"] == "JOB_STATE_SUCCEEDED");
}

TEST_CASE("by default an agent refuses to clone a path on its own disk") {
  Cluster cluster({}, /*allow_file_remotes=*/false);
  auto url = MakeSampleRepo(cluster.dir.path());
  REQUIRE(url.ok());
  nlohmann::json job = cluster.RunJob(*url);
  CHECK(job["state"] == "JOB_STATE_FAILED");
  CHECK_THAT(job.value("status_reason", ""),
             Catch::StartsWith("clone: ") && Catch::Contains("--allow-file-remotes"));
}

TEST_CASE("the shipped agent has no test-only switches: no sandbox-less jobs, no holds") {
  TempDir dir;
  const std::vector<std::vector<std::string>> refused = {
      {"run", "--sandbox", "none"},           {"run", "--sandbox", "fake"},
      {"run", "--test-job-delay", "60s"},     {"run", "--hold-commands", "60s"},
      {"update", "--repo", ".", "--sandbox", "none"}};
  for (const std::vector<std::string>& args : refused) {
    INFO(absl::StrJoin(args, " "));
    CliResult r = RunCli(AgentBinary(), args, dir.path());
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.err, Catch::Contains(args[args.size() - 2]) || Catch::Contains(args.back()));
  }
  // The agent under test has them (and this is what the other tests run).
  CliResult help = RunCli(AgentUnderTestBinary(), {"run", "--help"}, dir.path());
  CHECK(help.exit_code == 0);
  CHECK_THAT(help.out, Catch::Contains("--hold-commands") && Catch::Contains("fake"));
}

}  // namespace
}  // namespace ovvoc::testing
