// Who may talk to the control plane: tokens, certificates, TLS versions, impostors, revocation.
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "absl/strings/str_split.h"
#include "common/crypto.h"
#include "common/enrollment_token.h"
#include "common/files.h"
#include "common/pki.h"
#include "common/tls.h"
#include "ovvoc/v1/admin.grpc.pb.h"
#include "ovvoc/v1/agent.grpc.pb.h"
#include "tests/support/cluster.h"

namespace ovvoc::testing {
namespace {

std::unique_ptr<ControlPlaneUnderTest> StartControlPlane(const TempDir& dir,
                                                         std::vector<std::string> flags = {},
                                                         const std::string& name = "cp") {
  auto cp = ControlPlaneUnderTest::Start(dir.Sub(name), std::move(flags));
  INFO(cp.status().ToString());
  REQUIRE(cp.ok());
  return *std::move(cp);
}

CliResult RegisterCli(const TempDir& dir, const std::string& config, const std::string& server,
                      const std::string& token) {
  return RunCli(AgentBinary(),
                {"register", "--server", server, "--token", token, "--config-dir", dir.Sub(config)},
                dir.path());
}

// PollJob from a client of our own making: `key`/`cert` empty means no client certificate.
grpc::Status PollAs(const std::string& server, const std::string& ca_pem, const std::string& key,
                    const std::string& cert) {
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = ca_pem;
  tls.pem_private_key = key;
  tls.pem_cert_chain = cert;
  auto stub =
      ovvoc::v1::AgentService::NewStub(grpc::CreateChannel(server, grpc::SslCredentials(tls)));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  ovvoc::v1::PollJobResponse response;
  return stub->PollJob(&context, ovvoc::v1::PollJobRequest(), &response);
}

// True when a TLS handshake capped at `max_version` completes.
bool Handshakes(const std::string& address, int max_version) {
  auto colon = address.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_max_proto_version(ctx, max_version);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>("\x02h2"), 3);
  bool ok = SSL_connect(ssl) == 1;
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ::close(fd);
  return ok;
}

TEST_CASE("enrollment tokens: reused, expired, forged and malformed ones are refused") {
  TempDir dir;
  auto cp = StartControlPlane(dir);
  auto token = cp->Token("acme");
  REQUIRE(token.ok());
  CHECK(RegisterCli(dir, "a1", cp->address(), *token).exit_code == 0);

  CliResult reused = RegisterCli(dir, "a2", cp->address(), *token);
  CHECK(reused.exit_code != 0);
  CHECK_THAT(reused.err, Catch::Contains("already used"));
  CHECK(!std::filesystem::exists(dir.Sub("a2/agent.json")));

  auto short_lived = cp->Create({"enroll-token", "create", "--org", "acme", "--ttl", "1s"});
  REQUIRE(short_lived.ok());
  absl::SleepFor(absl::Milliseconds(1500));
  CliResult expired = RegisterCli(dir, "a3", cp->address(), *short_lived);
  CHECK(expired.exit_code != 0);
  CHECK_THAT(expired.err, Catch::Contains("expired"));

  // Right pin and id, wrong secret: what someone who saw the token id in a log could try.
  auto fresh = cp->Token("acme");
  REQUIRE(fresh.ok());
  auto parsed = ParseEnrollmentToken(*fresh);
  REQUIRE(parsed.ok());
  parsed->secret = crypto::RandomBytes(32);
  CliResult forged = RegisterCli(dir, "a4", cp->address(), FormatEnrollmentToken(*parsed));
  CHECK(forged.exit_code != 0);
  CHECK_THAT(forged.err, Catch::Contains("not recognised"));
  // ... and the real token still works afterwards.
  CHECK(RegisterCli(dir, "a5", cp->address(), *fresh).exit_code == 0);

  CliResult malformed = RegisterCli(dir, "a6", cp->address(), "not-a-token");
  CHECK(malformed.exit_code != 0);
  CHECK_THAT(malformed.err, Catch::Contains("malformed"));
}

TEST_CASE("register refuses an impostor control plane with another CA") {
  TempDir dir;
  auto real = StartControlPlane(dir, {}, "real");
  auto impostor = StartControlPlane(dir, {}, "impostor");
  auto token = real->Token("acme");
  REQUIRE(token.ok());
  CliResult r = RegisterCli(dir, "agent", impostor->address(), *token);
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err, Catch::Contains("not the control plane this token was issued by"));
  CHECK(!std::filesystem::exists(dir.Sub("agent/agent.json")));
  // Nothing reached the impostor's enrollment either: its audit shows no attempt.
  CHECK(!impostor->daemon().WaitForLog("enrollment refused", std::chrono::milliseconds(200)));

  CliResult unreachable = RegisterCli(dir, "agent", "127.0.0.1:1", *token);
  CHECK(unreachable.exit_code != 0);
  CHECK_THAT(unreachable.err, Catch::Contains("cannot connect"));
}

TEST_CASE("calls without a certificate, or with another CA's, are refused") {
  TempDir dir;
  auto cp = StartControlPlane(dir);
  auto token = cp->Token("acme");
  REQUIRE(token.ok());
  auto agent_id = AgentUnderTest::Register(dir.Sub("agent"), cp->address(), *token);
  REQUIRE(agent_id.ok());
  auto ca_pem = files::ReadFile(dir.Sub("cp/ca.pem"));
  REQUIRE(ca_pem.ok());

  grpc::Status anonymous = PollAs(cp->address(), *ca_pem, "", "");
  CHECK(anonymous.error_code() == grpc::StatusCode::UNAUTHENTICATED);

  // A look-alike certificate naming the real agent, signed by a CA the control plane never made.
  auto other_key = pki::PrivateKey::GenerateP256();
  auto other_ca = pki::CreateSelfSignedCa(*other_key, "evil", absl::Now() - absl::Hours(1),
                                          absl::Now() + absl::Hours(1));
  auto client_key = pki::PrivateKey::GenerateP256();
  pki::IssueOptions options;
  options.common_name = *agent_id;
  options.alt_names.uris = {"ovvoc://agent/" + *agent_id};
  options.not_before = absl::Now() - absl::Hours(1);
  options.not_after = absl::Now() + absl::Hours(1);
  auto forged = pki::IssueCertificate(*other_key, *other_ca, client_key->get(), options);
  REQUIRE(forged.ok());
  grpc::Status impostor = PollAs(cp->address(), *ca_pem, *client_key->ToPem(), *forged->ToPem());
  CHECK(impostor.error_code() == grpc::StatusCode::UNAUTHENTICATED);

  // The genuine identity works (the poll is held and answered with no job).
  auto key = files::ReadFile(dir.Sub("agent/agent.key"));
  auto cert = files::ReadFile(dir.Sub("agent/agent.pem"));
  CHECK(PollAs(cp->address(), *ca_pem, *key, *cert).ok());
  // Refusals are counted and logged (and audited) together, every few seconds.
  CHECK(cp->daemon().WaitForLog("refused PollJob", std::chrono::milliseconds(10000)));
}

TEST_CASE("TLS 1.2 clients are refused, TLS 1.3 is accepted") {
  TempDir dir;
  auto cp = StartControlPlane(dir);
  CHECK(!Handshakes(cp->address(), TLS1_2_VERSION));
  CHECK(Handshakes(cp->address(), TLS1_3_VERSION));
}

TEST_CASE("a revoked agent is refused at its next call and stops") {
  TempDir dir;
  auto cp = StartControlPlane(dir);
  auto token = cp->Token("acme");
  REQUIRE(token.ok());
  auto agent_id = AgentUnderTest::Register(dir.Sub("agent"), cp->address(), *token);
  REQUIRE(agent_id.ok());
  auto agent = AgentUnderTest::Run(dir.Sub("agent"));
  REQUIRE(agent.ok());
  REQUIRE(cp->Create({"agent", "revoke", *agent_id}).ok());
  // Its held poll ends within the 5 s hold; the next one is refused and the agent exits.
  auto code = (*agent)->daemon().Wait(std::chrono::milliseconds(15'000));
  REQUIRE(code.ok());
  CHECK(*code != 0);
  CHECK_THAT((*agent)->daemon().Log(), Catch::Contains("revoked"));
  auto agents = cp->Json({"agent", "list"});
  REQUIRE(agents.ok());
  CHECK((*agents)["agents"][0]["state"] == "AGENT_STATE_REVOKED");
}

TEST_CASE("an agent whose certificate expired while offline says how to re-register") {
  TempDir dir;
  auto cp = StartControlPlane(dir);
  auto token = cp->Token("acme");
  REQUIRE(token.ok());
  REQUIRE(AgentUnderTest::Register(dir.Sub("agent"), cp->address(), *token).ok());
  // The agent's certificate as it stands once it has expired: the same key and CA, a validity
  // that ended an hour ago. (A short --cert-lifetime and a sleep raced registration under
  // load: the certificate could expire before `register` had checked it.)
  auto ca_key = pki::PrivateKey::FromPem(*files::ReadFile(dir.Sub("cp/ca.key")));
  auto ca_cert = pki::Certificate::FromPem(*files::ReadFile(dir.Sub("cp/ca.pem")));
  auto agent_key = pki::PrivateKey::FromPem(*files::ReadFile(dir.Sub("agent/agent.key")));
  auto current = pki::Certificate::FromPem(*files::ReadFile(dir.Sub("agent/agent.pem")));
  REQUIRE((ca_key.ok() && ca_cert.ok() && agent_key.ok() && current.ok()));
  pki::IssueOptions expired;
  expired.common_name = current->CommonName();
  expired.not_before = absl::Now() - absl::Hours(25);
  expired.not_after = absl::Now() - absl::Hours(1);
  auto old_cert = pki::IssueCertificate(*ca_key, *ca_cert, agent_key->get(), expired);
  REQUIRE(old_cert.ok());
  REQUIRE(files::WriteFile(dir.Sub("agent/agent.pem"), *old_cert->ToPem(), 0600).ok());
  CliResult run = RunCli(AgentBinary(), {"run", "--config-dir", dir.Sub("agent")}, dir.path());
  CHECK(run.exit_code != 0);
  CHECK_THAT(run.err, Catch::Contains("expired") && Catch::Contains("ovvoc-agent register"));
}

TEST_CASE("an agent renews its certificate at half-life and keeps working") {
  TempDir dir;
  auto cp = StartControlPlane(dir, {"--cert-lifetime", "6s"});
  auto token = cp->Token("acme");
  REQUIRE(token.ok());
  REQUIRE(AgentUnderTest::Register(dir.Sub("agent"), cp->address(), *token).ok());
  auto first = files::ReadFile(dir.Sub("agent/agent.pem"));
  auto agent = AgentUnderTest::Run(dir.Sub("agent"));
  REQUIRE(agent.ok());
  // Past the first certificate's expiry, the agent still gets jobs done.
  absl::SleepFor(absl::Seconds(8));
  CHECK((*agent)->daemon().running());
  CHECK_THAT((*agent)->daemon().Log(), Catch::Contains("renewed certificate"));
  CHECK(*files::ReadFile(dir.Sub("agent/agent.pem")) != *first);
  auto url = MakeSampleRepo(dir.path());
  REQUIRE(url.ok());
  auto repo = cp->Create({"repo", "add", "--org", "acme", "--url", *url});
  INFO(repo.status().ToString() << cp->daemon().Log());
  REQUIRE(repo.ok());
  auto job = cp->Create({"job", "create", "--repo", *repo});
  REQUIRE(job.ok());
  auto done = cp->WaitForJob(*job, {"JOB_STATE_SUCCEEDED"}, std::chrono::milliseconds(20'000));
  INFO(done.status().ToString() << (*agent)->daemon().Log() << cp->daemon().Log());
  CHECK(done.ok());
}

TEST_CASE("the data dir, its secrets and the admin socket are private") {
  TempDir dir;
  auto cp = StartControlPlane(dir);
  auto mode = [](const std::string& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
  };
  CHECK(mode(dir.Sub("cp")) == 0700);
  for (const char* f :
       {"ca.key", "ca.pem", "server.key", "server.pem", "master.key", "store.db", "admin.sock"}) {
    INFO(f);
    CHECK(mode(dir.Sub(std::string("cp/") + f)) == 0600);
  }
  auto token = cp->Token("acme");
  REQUIRE(AgentUnderTest::Register(dir.Sub("agent"), cp->address(), *token).ok());
  CHECK(mode(dir.Sub("agent")) == 0700);
  CHECK(mode(dir.Sub("agent/agent.key")) == 0600);
  // The TCP port does not serve the admin API, not even to an enrolled agent.
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = *files::ReadFile(dir.Sub("cp/ca.pem"));
  tls.pem_private_key = *files::ReadFile(dir.Sub("agent/agent.key"));
  tls.pem_cert_chain = *files::ReadFile(dir.Sub("agent/agent.pem"));
  auto admin = ovvoc::v1::AdminService::NewStub(
      grpc::CreateChannel(cp->address(), grpc::SslCredentials(tls)));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  ovvoc::v1::ListOrgsResponse orgs;
  CHECK(admin->ListOrgs(&context, {}, &orgs).error_code() == grpc::StatusCode::UNIMPLEMENTED);
}

}  // namespace
}  // namespace ovvoc::testing
