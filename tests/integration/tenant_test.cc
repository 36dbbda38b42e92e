// Tenants: what one org configures (its credentials) never reaches another org's jobs, and a
// repository URL cannot pretend to sit under another org's path.
#include <grpcpp/grpcpp.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "common/files.h"
#include "ovvoc/v1/agent.grpc.pb.h"
#include "tests/support/cluster.h"

namespace ovvoc::testing {
namespace {

constexpr char kAcmeToken[] = "tok-acme-secret";

std::unique_ptr<ControlPlaneUnderTest> StartControlPlane(const TempDir& dir,
                                                         std::vector<std::string> flags = {}) {
  auto cp = ControlPlaneUnderTest::Start(dir.Sub("cp"), std::move(flags));
  INFO(cp.status().ToString());
  REQUIRE(cp.ok());
  return *std::move(cp);
}

// Creates `org` and registers an agent of it; returns the agent's config dir.
std::string RegisterAgent(const TempDir& dir, const ControlPlaneUnderTest& cp,
                          const std::string& org) {
  const std::string config = dir.Sub(org + "-agent");
  auto token = cp.Token(org);
  REQUIRE(token.ok());
  auto id = AgentUnderTest::Register(config, cp.address(), *token);
  INFO(id.status().ToString());
  REQUIRE(id.ok());
  return config;
}

// Takes the next job the way `ovvoc-agent run` would: one PollJob with the key and certificate
// of the agent registered in `config`. The job is queued before the call, so the poll answers
// at once.
ovvoc::v1::JobSpec LeaseAs(const std::string& config, const ControlPlaneUnderTest& cp) {
  auto ca = files::ReadFile(cp.data_dir() + "/ca.pem");
  auto key = files::ReadFile(config + "/agent.key");
  auto cert = files::ReadFile(config + "/agent.pem");
  REQUIRE((ca.ok() && key.ok() && cert.ok()));
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = *ca;
  tls.pem_private_key = *key;
  tls.pem_cert_chain = *cert;
  auto stub = ovvoc::v1::AgentService::NewStub(
      grpc::CreateChannel(cp.address(), grpc::SslCredentials(tls)));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  ovvoc::v1::PollJobRequest request;
  request.set_slots_free(1);
  ovvoc::v1::PollJobResponse response;
  grpc::Status status = stub->PollJob(&context, request, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
  REQUIRE(response.has_job());
  return response.job();
}

std::string QueueJob(const ControlPlaneUnderTest& cp, const std::string& org,
                     const std::string& url) {
  auto repo = cp.Create({"repo", "add", "--org", org, "--url", url});
  INFO(repo.status().ToString());
  REQUIRE(repo.ok());
  auto job = cp.Create({"job", "create", "--repo", *repo});
  REQUIRE(job.ok());
  return *job;
}

// Regression (attacker's report): org `evil` added `https://git.example.com/acme/../evil/x.git`,
// which a string prefix took for a repository under acme's `https://git.example.com/acme`.
TEST_CASE("repo add refuses URLs that climb out of their path or hide it in percent-encoding") {
  TempDir dir;
  auto cp = StartControlPlane(dir);
  REQUIRE(cp->Cli({"org", "create", "evil"}).exit_code == 0);

  CliResult dots = cp->Cli(
      {"repo", "add", "--org", "evil", "--url", "https://git.example.com/acme/../evil/x.git"});
  CHECK(dots.exit_code != 0);
  CHECK_THAT(dots.err, Catch::Contains("\".\" and \"..\" path segments are not accepted"));
  for (const char* url : {"https://git.example.com/acme/%2e%2e/evil/x.git",
                          "https://git.example.com/acme/%2E%2E/evil/x.git",
                          "https://git.example.com/acme/.%2e/evil/x.git",
                          "https://git.example.com/acme%2f..%2fevil/x.git"}) {
    CliResult encoded = cp->Cli({"repo", "add", "--org", "evil", "--url", url});
    INFO(url);
    CHECK(encoded.exit_code != 0);
    CHECK_THAT(encoded.err, Catch::Contains("percent-encoded characters are not accepted"));
  }
  CliResult credentials = cp->Cli(
      {"repo", "add", "--org", "evil", "--url", "https://x:hunter2@git.example.com/evil/x.git"});
  CHECK(credentials.exit_code != 0);
  CHECK_THAT(credentials.err, Catch::Contains("credentials in the URL"));
  CHECK_THAT(credentials.err, !Catch::Contains("hunter2"));

  // None of them was stored; a clean URL is, in its normal form.
  auto none = cp->Json({"repo", "list"});
  REQUIRE(none.ok());
  CHECK(none->value("repos", nlohmann::json::array()).empty());
  REQUIRE(cp->Create({"repo", "add", "--org", "evil", "--url",
                      "HTTPS://Git.Example.com:443/evil/x.git/"})
              .ok());
  auto repos = cp->Json({"repo", "list"});
  REQUIRE(repos.ok());
  REQUIRE((*repos)["repos"].size() == 1);
  CHECK((*repos)["repos"][0]["url"] == "https://git.example.com/evil/x.git");
}

// Regression (attacker's report): jobs of org `evil` for `.../acmecorp-evil/x.git` (and for any
// URL under acme's prefix) carried acme's token in their JobSpec.
TEST_CASE("a job of org evil never carries acme's token, whatever its URL") {
  TempDir dir;
  const std::string credentials = dir.Sub("git-credentials");
  std::ofstream(credentials) << "# ORG URL-PREFIX TOKEN\n"
                             << "acme https://git.example.com/acme " << kAcmeToken << "\n";
  ::chmod(credentials.c_str(), 0600);
  auto cp = StartControlPlane(dir, {"--git-credentials", credentials});

  const std::string acme_agent = RegisterAgent(dir, *cp, "acme");
  const std::string evil_agent = RegisterAgent(dir, *cp, "evil");

  // Positive control: acme's own repository gets acme's token.
  QueueJob(*cp, "acme", "https://git.example.com/acme/web.git");
  ovvoc::v1::JobSpec acme = LeaseAs(acme_agent, *cp);
  CHECK(acme.forge_token().token() == kAcmeToken);

  for (const char* url :
       {"https://git.example.com/acmecorp-evil/x.git", "https://git.example.com/acme/web.git"}) {
    INFO(url);
    const std::string job = QueueJob(*cp, "evil", url);
    ovvoc::v1::JobSpec evil = LeaseAs(evil_agent, *cp);
    CHECK(evil.job_id() == job);
    CHECK(evil.repo().url() == url);
    CHECK_FALSE(evil.has_forge_token());
  }
}

TEST_CASE("serve refuses a credentials file in the old URL-PREFIX TOKEN form") {
  TempDir dir;
  const std::string credentials = dir.Sub("git-credentials");
  std::ofstream(credentials) << "# tokens\nhttps://git.example.com/acme tok\n";
  ::chmod(credentials.c_str(), 0600);
  const std::string data_dir = dir.Sub("cp");
  REQUIRE(RunCli(ControlPlaneBinary(), {"init", "--data-dir", data_dir}, dir.path()).exit_code ==
          0);
  CliResult serve = RunCli(ControlPlaneBinary(),
                           {"serve", "--data-dir", data_dir, "--listen", "127.0.0.1:0",
                            "--git-credentials", credentials},
                           dir.path());
  CHECK(serve.exit_code != 0);
  CHECK_THAT(serve.err, Catch::Contains("git-credentials:2: expected \"ORG URL-PREFIX TOKEN\"") &&
                            Catch::Contains("write the org's name before the URL prefix"));
}

}  // namespace
}  // namespace ovvoc::testing
