// The control plane under attack by its own callers: a revoked or renewed agent's old identity,
// one agent hogging polls, hostile ids and sizes, floods of anonymous calls and of bare
// connections. Each case was a breach on an earlier main (issue "control plane breaches").
#include <grpcpp/grpcpp.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <catch2/catch.hpp>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/enrollment_token.h"
#include "common/files.h"
#include "common/pki.h"
#include "control-plane/store/sqlite/sqlite_store.h"
#include "ovvoc/v1/agent.grpc.pb.h"
#include "tests/support/cluster.h"
#include "tests/support/raw_agent.h"

namespace ovvoc::testing {
namespace {

using ovvoc::v1::AgentService;

struct Plane {
  TempDir dir;
  std::unique_ptr<ControlPlaneUnderTest> cp;
  std::string ca_pem;
  std::string repo;

  explicit Plane(std::vector<std::string> flags = {}) {
    auto started = ControlPlaneUnderTest::Start(dir.Sub("cp"), std::move(flags));
    INFO(started.status().ToString());
    REQUIRE(started.ok());
    cp = *std::move(started);
    ca_pem = *files::ReadFile(dir.Sub("cp/ca.pem"));
    REQUIRE(cp->Cli({"org", "create", "acme"}).exit_code == 0);
    auto added = cp->Create({"repo", "add", "--org", "acme", "--url", "file:///nowhere.git"});
    REQUIRE(added.ok());
    repo = *added;
  }

  RawAgent Enroll(const std::string& hostname = "raw-agent") {
    auto token = cp->Create({"enroll-token", "create", "--org", "acme"});
    REQUIRE(token.ok());
    auto agent = RawAgent::Enroll(cp->address(), ca_pem, *token, hostname);
    INFO(agent.status().ToString());
    REQUIRE(agent.ok());
    return *std::move(agent);
  }

  std::string CreateJob() {
    auto job = cp->Create({"job", "create", "--repo", repo});
    REQUIRE(job.ok());
    return *job;
  }

  std::vector<cp::AuditRecord> Audit() {
    auto store = cp::OpenSqliteStore(dir.Sub("cp/store.db"));
    REQUIRE(store.ok());
    auto records = (*store)->ListAudit(0, 100'000);
    REQUIRE(records.ok());
    return *std::move(records);
  }
};

// PollJob calls kept outstanding on one connection; each finishes into `statuses`.
class Polls {
 public:
  Polls(const RawAgent& agent, int n, double deadline_seconds) : stub_(agent.NewStub()) {
    calls_.resize(static_cast<size_t>(n));
    for (Call& call : calls_) {
      call.context = ContextWithDeadline(deadline_seconds);
      stub_->async()->PollJob(call.context.get(), &call.request, &call.response,
                              [this, &call](grpc::Status status) {
                                absl::MutexLock lock(&mu_);
                                call.status = status;
                                call.done = true;
                                ++done_;
                              });
    }
  }
  ~Polls() {
    for (Call& call : calls_) call.context->TryCancel();
    WaitAll(absl::Seconds(30));
  }

  // Waits until every call finished (or `timeout`); returns how many did.
  int WaitAll(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto all = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return done_ == static_cast<int>(calls_.size());
    };
    mu_.AwaitWithTimeout(absl::Condition(&all), timeout);
    return done_;
  }
  int WaitFor(int n, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_ >= n; };
    mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
    return done_;
  }
  int Count(grpc::StatusCode code) {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const Call& call : calls_) n += call.done && call.status.error_code() == code ? 1 : 0;
    return n;
  }
  int Jobs() {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const Call& call : calls_) n += call.done && call.response.has_job() ? 1 : 0;
    return n;
  }

 private:
  struct Call {
    std::unique_ptr<grpc::ClientContext> context;
    ovvoc::v1::PollJobRequest request;
    ovvoc::v1::PollJobResponse response;
    grpc::Status status;
    bool done = false;
  };
  std::unique_ptr<AgentService::Stub> stub_;
  std::vector<Call> calls_;  // never resized after the calls start
  absl::Mutex mu_;
  int done_ ABSL_GUARDED_BY(mu_) = 0;
};

int ConnectLoopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// A TCP connection to 127.0.0.1:`port` from `source` (another loopback address: another host).
int ConnectFrom(const char* source, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  inet_pton(AF_INET, source, &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  return fd;
}

// How many of `fds` the server has closed (a read says end of stream).
int ClosedByServer(const std::vector<int>& fds) {
  int closed = 0;
  for (int fd : fds) {
    char byte;
    if (::recv(fd, &byte, 1, MSG_DONTWAIT) == 0) ++closed;
  }
  return closed;
}

int PortOf(const std::string& address) { return std::stoi(address.substr(address.rfind(':') + 1)); }

TEST_CASE("revoking an agent ends its parked polls at once, and it leases nothing after") {
  Plane plane({"--poll-hold", "30s"});
  RawAgent thief = plane.Enroll("thief");
  const absl::Time parked_at = absl::Now();
  Polls polls(thief, 3, 40);
  absl::SleepFor(absl::Milliseconds(500));  // let them park (nothing is queued)

  REQUIRE(plane.cp->Cli({"agent", "revoke", thief.id}).exit_code == 0);
  CHECK(polls.WaitAll(absl::Seconds(10)) == 3);
  CHECK(absl::Now() - parked_at < absl::Seconds(15));  // long before the 30 s hold
  CHECK(polls.Count(grpc::StatusCode::UNAUTHENTICATED) == 3);

  // Work queued after the revocation goes to no poll of the thief's.
  const std::string job = plane.CreateJob();
  Polls late(thief, 1, 10);
  CHECK(late.WaitAll(absl::Seconds(15)) == 1);
  CHECK(late.Jobs() == 0);
  CHECK(late.Count(grpc::StatusCode::UNAUTHENTICATED) == 1);
  auto shown = plane.cp->Json({"job", "show", job, "--json"});
  REQUIRE(shown.ok());
  CHECK((*shown)["state"] == "JOB_STATE_QUEUED");
  bool revoked = false;
  for (const cp::AuditRecord& r : plane.Audit()) {
    if (r.action == "agent.revoke") revoked = true;
    if (revoked) CHECK(r.action != "job.lease");
  }
  CHECK(revoked);
}

TEST_CASE("a poll parked before its certificate expired leases nothing after") {
  Plane plane({"--poll-hold", "30s", "--cert-lifetime", "4s"});
  RawAgent agent = plane.Enroll();
  Polls polls(agent, 1, 40);
  absl::SleepFor(absl::Seconds(5));  // the certificate has expired; the poll is still parked
  const std::string job = plane.CreateJob();
  CHECK(polls.WaitAll(absl::Seconds(20)) == 1);
  CHECK(polls.Jobs() == 0);
  CHECK(polls.Count(grpc::StatusCode::UNAUTHENTICATED) == 1);
  CHECK((*plane.cp->Json({"job", "show", job, "--json"}))["state"] == "JOB_STATE_QUEUED");
}

TEST_CASE("one agent cannot park more polls than its cap") {
  Plane plane({"--poll-hold", "30s", "--max-polls-per-agent", "4"});
  RawAgent greedy = plane.Enroll("greedy");
  Polls polls(greedy, 50, 40);
  // Every poll past the cap is refused at once; the four kept wait for work.
  CHECK(polls.WaitFor(46, absl::Seconds(20)) == 46);
  CHECK(polls.Count(grpc::StatusCode::RESOURCE_EXHAUSTED) == 46);
  for (int i = 0; i < 10; ++i) plane.CreateJob();
  CHECK(polls.WaitAll(absl::Seconds(20)) == 50);
  CHECK(polls.Jobs() == 4);  // four of ten jobs: the rest stay for other agents
}

// The certificate a renewal replaced: accepted while the agent has not used the new one (its
// answer may have been lost), refused for good once it has.
grpc::StatusCode HeartbeatAs(const RawAgent& agent) {
  ovvoc::v1::HeartbeatRequest heartbeat;
  heartbeat.set_job_id("job_aaaaaaaaaaaaaaaa");
  ovvoc::v1::HeartbeatResponse ignored;
  auto context = ContextWithDeadline(10);
  return agent.NewStub()->Heartbeat(context.get(), heartbeat, &ignored).error_code();
}

RawAgent Renew(const RawAgent& agent) {
  auto key = pki::PrivateKey::GenerateP256();
  auto csr = pki::CertificateRequest::Create(*key, agent.id);
  ovvoc::v1::RenewCertificateRequest request;
  request.set_csr_pem(*csr->ToPem());
  ovvoc::v1::RenewCertificateResponse response;
  auto context = ContextWithDeadline(10);
  grpc::Status status = agent.NewStub()->RenewCertificate(context.get(), request, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
  RawAgent renewed = agent;
  renewed.key_pem = *key->ToPem();
  renewed.certificate_pem = response.certificate_pem();
  return renewed;
}

TEST_CASE("a renewed agent's old certificate is refused once the new one is in use") {
  Plane plane;
  RawAgent original = plane.Enroll();
  // The job does not exist: NOT_FOUND is what an accepted identity hears next.
  RawAgent lost = Renew(original);  // as if its answer never arrived
  CHECK(HeartbeatAs(original) == grpc::StatusCode::NOT_FOUND);
  RawAgent renewed = Renew(original);  // asked again with the certificate it still has
  CHECK(HeartbeatAs(lost) == grpc::StatusCode::UNAUTHENTICATED);  // never used: dropped
  CHECK(HeartbeatAs(renewed) == grpc::StatusCode::NOT_FOUND);
  // From the new certificate's first use on, the old one is retired for good.
  CHECK(HeartbeatAs(original) == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(HeartbeatAs(renewed) == grpc::StatusCode::NOT_FOUND);
}

TEST_CASE("a huge job id is refused before the store, and the audit log stays small") {
  Plane plane;
  RawAgent agent = plane.Enroll();
  struct stat before {};
  REQUIRE(::stat(plane.dir.Sub("cp/store.db").c_str(), &before) == 0);
  const std::string huge(1 << 20, 'j');
  auto stub = agent.NewStub();
  for (int i = 0; i < 20; ++i) {
    ovvoc::v1::ReportResultRequest report;
    report.set_job_id(huge);
    report.set_attempt(1);
    ovvoc::v1::ReportResultResponse response;
    auto context = ContextWithDeadline(10);
    CHECK(stub->ReportResult(context.get(), report, &response).error_code() ==
          grpc::StatusCode::INVALID_ARGUMENT);
    ovvoc::v1::HeartbeatRequest heartbeat;
    heartbeat.set_job_id(huge);
    ovvoc::v1::HeartbeatResponse ignored;
    auto hb_context = ContextWithDeadline(10);
    CHECK(stub->Heartbeat(hb_context.get(), heartbeat, &ignored).error_code() ==
          grpc::StatusCode::INVALID_ARGUMENT);
  }
  // The refusals are on record (counted, with the id's size, never the id).
  REQUIRE(plane.cp->daemon().WaitForLog("malformed job id", std::chrono::milliseconds(10'000)));
  REQUIRE(plane.cp->Stop().ok());  // flushes what was counted; checkpoints the WAL
  size_t refusals = 0;
  for (const cp::AuditRecord& r : plane.Audit()) {
    CHECK(r.subject.size() < 400);
    CHECK(r.details.size() < 4096);
    if (r.action == "job.id.refused") refusals += 1;
  }
  CHECK(refusals >= 1);
  CHECK(refusals <= 4);  // aggregated, not one row per call
  struct stat after {};
  REQUIRE(::stat(plane.dir.Sub("cp/store.db").c_str(), &after) == 0);
  CHECK(after.st_size - before.st_size < 1 << 20);  // 40 MiB of ids sent
}

// The front paces a client past its stream budget (it holds back the rest of a TLS record
// and reads it later), so an agent that bursts is slowed, never cut off or garbled.
TEST_CASE("an agent that opens streams past its budget is paced, not cut off") {
  Plane plane;
  RawAgent agent = plane.Enroll();
  auto stub = agent.NewStub();
  struct Call {
    std::unique_ptr<grpc::ClientContext> context = ContextWithDeadline(60);
    ovvoc::v1::HeartbeatRequest request;
    ovvoc::v1::HeartbeatResponse response;
  };
  constexpr int kCalls = 600;  // the agent budget is 256 at once, then 64 a second
  std::vector<Call> calls(kCalls);
  absl::Mutex mu;
  int done = 0;
  std::map<grpc::StatusCode, int> codes;
  for (Call& call : calls) {
    call.request.set_job_id("job_aaaaaaaaaaaaaaaa");
    stub->async()->Heartbeat(call.context.get(), &call.request, &call.response,
                             [&](grpc::Status s) {
                               absl::MutexLock lock(&mu);
                               ++codes[s.error_code()];
                               ++done;
                             });
  }
  absl::MutexLock lock(&mu);
  auto all = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return done == kCalls; };
  REQUIRE(mu.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(90)));
  std::string seen;
  for (const auto& [code, n] : codes) seen += std::to_string(code) + ":" + std::to_string(n) + " ";
  INFO("status codes: " << seen);
  // Answered, every one: no job of that id, or too many calls at once; never a lost connection.
  CHECK(codes[grpc::StatusCode::UNAVAILABLE] == 0);
  CHECK(codes[grpc::StatusCode::INTERNAL] == 0);
  CHECK(codes[grpc::StatusCode::DEADLINE_EXCEEDED] == 0);
  CHECK(codes[grpc::StatusCode::NOT_FOUND] > 0);
}

TEST_CASE("anonymous calls are refused without queueing behind or in front of agents") {
  Plane plane({"--poll-hold", "2s"});
  RawAgent agent = plane.Enroll();
  const std::string job = plane.CreateJob();
  auto stub = agent.NewStub();
  ovvoc::v1::PollJobResponse leased;
  {
    auto context = ContextWithDeadline(10);
    REQUIRE(stub->PollJob(context.get(), {}, &leased).ok());
    REQUIRE(leased.has_job());
  }

  // 2,000 anonymous calls in flight at a time, on 40 connections, for about three seconds.
  std::atomic<bool> flooding{true};
  std::atomic<int> in_flight{0};
  std::atomic<int> refused{0};
  std::atomic<int> cut{0};  // calls on connections the front closed for opening too many
  std::vector<std::unique_ptr<AgentService::Stub>> anonymous;
  for (int i = 0; i < 40; ++i) anonymous.push_back(AnonymousStub(plane.cp->address(), plane.ca_pem));
  struct Call {
    grpc::ClientContext context;
    ovvoc::v1::HeartbeatRequest request;
    ovvoc::v1::HeartbeatResponse response;
  };
  std::function<void(int)> fire = [&](int connection) {
    auto* call = new Call;
    call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    call->request.set_job_id(leased.job().job_id());
    ++in_flight;
    anonymous[static_cast<size_t>(connection)]->async()->Heartbeat(
        &call->context, &call->request, &call->response, [&, call, connection](grpc::Status s) {
          if (s.error_code() == grpc::StatusCode::UNAUTHENTICATED) ++refused;
          // (a connection closed, or a call paced past its deadline by the front)
          if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
              s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
            ++cut;
          }
          delete call;
          if (flooding.load()) fire(connection);
          --in_flight;
        });
  };
  for (int i = 0; i < 2000; ++i) fire(i % 40);

  int heartbeats_ok = 0;
  absl::Duration slowest;
  for (int i = 0; i < 10; ++i) {
    ovvoc::v1::HeartbeatRequest request;
    request.set_job_id(leased.job().job_id());
    request.set_attempt(leased.job().lease().attempt());
    ovvoc::v1::HeartbeatResponse response;
    auto context = ContextWithDeadline(10);
    const absl::Time start = absl::Now();
    if (stub->Heartbeat(context.get(), request, &response).ok()) ++heartbeats_ok;
    slowest = std::max(slowest, absl::Now() - start);
    absl::SleepFor(absl::Milliseconds(300));
  }
  flooding = false;
  for (int i = 0; i < 3000 && in_flight.load() > 0; ++i) absl::SleepFor(absl::Milliseconds(10));
  REQUIRE(in_flight.load() == 0);
  INFO("slowest heartbeat " << absl::FormatDuration(slowest) << ", anonymous refused "
                            << refused.load());
  CHECK(heartbeats_ok == 10);
  CHECK(refused.load() > 400);  // (the front paces each connection to a few calls a second)

  REQUIRE(plane.cp->Stop().ok());
  uint64_t counted = 0;
  size_t rows = 0;
  for (const cp::AuditRecord& r : plane.Audit()) {
    if (r.action != "auth.refused" || !absl::StartsWith(r.actor, "anonymous@")) continue;
    ++rows;
    counted += nlohmann::json::parse(r.details)["count"].get<uint64_t>();
  }
  // Every refusal counted (a refusal whose connection was closed before its answer arrived
  // is counted too)...
  CHECK(counted >= static_cast<uint64_t>(refused.load()));
  CHECK(counted <= static_cast<uint64_t>(refused.load() + cut.load()));
  CHECK(rows < 20);  // ...in a few rows
}

TEST_CASE("running out of file descriptors never takes the listener down") {
  Plane plane({"--handshake-timeout", "2s"});
  // The server at a small open-file limit, as under a default `ulimit -n`.
  const pid_t pid = plane.cp->daemon().pid();
  rlimit small{300, 300};
  REQUIRE(::prlimit(pid, RLIMIT_NOFILE, &small, nullptr) == 0);
  rlimit ours{};
  ::getrlimit(RLIMIT_NOFILE, &ours);
  ours.rlim_cur = ours.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &ours);

  std::vector<int> connections;
  for (int i = 0; i < 1100; ++i) {
    int fd = ConnectLoopback(PortOf(plane.cp->address()));
    if (fd >= 0) connections.push_back(fd);
  }
  absl::SleepFor(absl::Milliseconds(500));
  // While they are held: the admin socket answers.
  CHECK(plane.cp->Cli({"org", "list"}).exit_code == 0);
  // Bare connections that never handshake are closed by the server.
  absl::SleepFor(absl::Seconds(4));
  int closed_by_server = 0;
  for (int fd : connections) {
    char byte;
    if (::recv(fd, &byte, 1, MSG_DONTWAIT) == 0) ++closed_by_server;
  }
  CHECK(closed_by_server > 100);
  for (int fd : connections) ::close(fd);

  // Afterwards: agents enroll and poll, admins are served, the process never exited.
  RawAgent agent = plane.Enroll();
  auto context = ContextWithDeadline(10);
  ovvoc::v1::PollJobResponse response;
  CHECK(agent.NewStub()->PollJob(context.get(), {}, &response).ok());
  CHECK(plane.cp->Cli({"org", "list"}).exit_code == 0);
  CHECK(plane.cp->daemon().running());
}

TEST_CASE("one host holding connections cannot lock the agents out") {
  Plane plane({"--max-connections-per-host", "20"});
  RawAgent agent = plane.Enroll();
  // A server with few descriptors to spare: without a per-host cap, the holder takes them all.
  rlimit small{150, 150};
  REQUIRE(::prlimit(plane.cp->daemon().pid(), RLIMIT_NOFILE, &small, nullptr) == 0);
  std::vector<int> held;
  for (int i = 0; i < 200; ++i) {
    int fd = ConnectFrom("127.0.0.2", PortOf(plane.cp->address()));
    if (fd >= 0) held.push_back(fd);
  }
  REQUIRE(held.size() > 150);
  // The holder keeps 20; everything past that is closed at once.
  int closed = 0;
  for (int i = 0; i < 50 && closed < static_cast<int>(held.size()) - 20; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    closed = ClosedByServer(held);
  }
  CHECK(closed == static_cast<int>(held.size()) - 20);
  // An agent on another host connects, and is answered, while the holder holds.
  ovvoc::v1::HeartbeatRequest heartbeat;
  heartbeat.set_job_id("job_aaaaaaaaaaaaaaaa");
  ovvoc::v1::HeartbeatResponse ignored;
  auto context = ContextWithDeadline(10);
  grpc::Status answered = agent.NewStub()->Heartbeat(context.get(), heartbeat, &ignored);
  CHECK(answered.error_code() == grpc::StatusCode::NOT_FOUND);
  for (int fd : held) ::close(fd);
}

TEST_CASE("a flood of guessed enrollment tokens is refused cheaply and leaves a few audit rows") {
  Plane plane;
  const std::string real_token = *plane.cp->Create({"enroll-token", "create", "--org", "acme"});
  // Guessed tokens of the right shape and the right (public) CA pin, each with a new token id.
  const std::string pin = ParseEnrollmentToken(real_token)->ca_pin;
  std::vector<std::string> guesses;
  for (int i = 0; i < 400; ++i) guesses.push_back(FormatEnrollmentToken(NewEnrollmentToken(pin)));
  // On 25 connections: the front paces one connection to a few calls a second.
  std::vector<std::unique_ptr<AgentService::Stub>> stubs;
  for (int i = 0; i < 25; ++i) stubs.push_back(AnonymousStub(plane.cp->address(), plane.ca_pem));
  auto csr_key = pki::PrivateKey::GenerateP256();
  const std::string csr = *pki::CertificateRequest::Create(*csr_key, "guess")->ToPem();
  struct Call {
    std::unique_ptr<grpc::ClientContext> context = ContextWithDeadline(20);
    ovvoc::v1::EnrollRequest request;
    ovvoc::v1::EnrollResponse response;
    grpc::Status status;
  };
  std::vector<Call> calls(guesses.size());
  absl::Mutex mu;
  size_t done = 0;
  for (size_t i = 0; i < calls.size(); ++i) {
    calls[i].request.set_token(guesses[i]);
    calls[i].request.set_csr_pem(csr);
    stubs[i % stubs.size()]->async()->Enroll(calls[i].context.get(), &calls[i].request,
                                             &calls[i].response,
                          [&, i](grpc::Status s) {
                            absl::MutexLock lock(&mu);
                            calls[i].status = s;
                            ++done;
                          });
  }
  {
    absl::MutexLock lock(&mu);
    auto all = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return done == calls.size(); };
    REQUIRE(mu.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(30)));
  }
  int per_host = 0;
  int unknown = 0;
  int cut = 0;  // on a connection the front closed
  for (const Call& call : calls) {
    if (absl::StrContains(call.status.error_message(), "from this host")) ++per_host;
    if (call.status.error_code() == grpc::StatusCode::UNAUTHENTICATED) ++unknown;
    if (call.status.error_code() == grpc::StatusCode::UNAVAILABLE) ++cut;
    CHECK(!call.status.ok());
  }
  CHECK(per_host > 0);  // one host never holds more than a few places in Enroll's queue
  CHECK(per_host + unknown + cut == static_cast<int>(calls.size()));
  // The real token still works afterwards.
  CHECK(RawAgent::Enroll(plane.cp->address(), plane.ca_pem, real_token).ok());

  REQUIRE(plane.cp->Stop().ok());
  size_t rows = 0;
  for (const cp::AuditRecord& r : plane.Audit()) {
    if (r.action != "agent.enroll.refused") continue;
    ++rows;
    CHECK(r.subject.empty());  // never an id the caller chose
  }
  CHECK(rows >= 1);
  CHECK(rows <= 4);
}

}  // namespace
}  // namespace ovvoc::testing
