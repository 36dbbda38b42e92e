// What agent connections may make the control plane buffer is bounded by
// --connection-memory-mib: anonymous callers that send all of a message but its last byte on
// many streams (tests/support/h2_hoarder.h) get their streams or connections shed, not the
// machine's memory, and enrolled agents keep being answered meanwhile.
//
// The same holds for HTTP/2 rapid reset (CVE-2023-44487), which gRPC 1.51 does not bound
// at all: the TLS front's guard closes a connection that resets streams in a loop.
//
// Positive control (run by hand, not a test: it takes the memory): with the quota at 4096 MiB
// the same attack is accepted in full (244 MiB) and the RSS rises ~270 MiB over its baseline,
// far past the bound checked here; at 64 MiB it rose 75-105 MiB. Hence 32 connections rather
// than 16: at 128 MB offered the two cases were only ~40 MiB apart.
#include <sys/types.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "control-plane/store/sqlite/sqlite_store.h"
#include "tests/support/cluster.h"
#include "tests/support/h2_hoarder.h"
#include "tests/support/raw_agent.h"

namespace ovvoc::testing {
namespace {

constexpr int64_t kMiB = 1 << 20;

// The resident set of process `pid` in bytes, or -1 when it cannot be read.
int64_t VmRss(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (status >> key) {
    int64_t kib = 0;
    if (key == "VmRSS:" && status >> kib) return kib * 1024;
    status.ignore(1 << 12, '\n');
  }
  return -1;
}

// The highest VmRSS of `pid` seen every 200 ms while this lives.
class PeakRss {
 public:
  explicit PeakRss(pid_t pid)
      : peak_(VmRss(pid)), thread_([this, pid] {
          while (!stop_.load()) {
            const int64_t now = VmRss(pid);
            if (now > peak_.load()) peak_ = now;
            absl::SleepFor(absl::Milliseconds(200));
          }
        }) {}
  ~PeakRss() {
    stop_ = true;
    thread_.join();
  }
  int64_t peak() const { return peak_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> peak_;
  std::thread thread_;
};

// A Heartbeat for a job that does not exist: an answer (NOT_FOUND or the like) shows the agent
// is served; UNAVAILABLE or DEADLINE_EXCEEDED that it is not. Two retries on a new connection,
// since a shed connection may have been the agent's (gRPC sheds whose it likes at the quota).
bool HeartbeatAnswered(const RawAgent& agent,
                       std::unique_ptr<ovvoc::v1::AgentService::Stub>& stub) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    ovvoc::v1::HeartbeatRequest request;
    request.set_job_id("job_aaaaaaaaaaaaaaaa");
    ovvoc::v1::HeartbeatResponse response;
    auto context = ContextWithDeadline(5);
    const grpc::StatusCode code = stub->Heartbeat(context.get(), request, &response).error_code();
    if (code != grpc::StatusCode::UNAVAILABLE && code != grpc::StatusCode::DEADLINE_EXCEEDED) {
      return true;
    }
    stub = agent.NewStub();
  }
  return false;
}

// A control plane started with `flags`, and an agent enrolled with it.
struct ServedAgent {
  TempDir dir;
  std::unique_ptr<ControlPlaneUnderTest> cp;
  RawAgent agent;

  explicit ServedAgent(std::vector<std::string> flags) {
    auto started = ControlPlaneUnderTest::Start(dir.Sub("cp"), std::move(flags));
    INFO(started.status().ToString());
    REQUIRE(started.ok());
    cp = *std::move(started);
    auto token = cp->Token("acme");
    REQUIRE(token.ok());
    auto enrolled = RawAgent::Enroll(cp->address(), *files::ReadFile(dir.Sub("cp/ca.pem")), *token);
    INFO(enrolled.status().ToString());
    REQUIRE(enrolled.ok());
    agent = *std::move(enrolled);
  }
};

TEST_CASE("partly sent messages are shed at the connection memory quota while agents are served") {
  ServedAgent served({"--connection-memory-mib", "64", "--poll-hold", "1s"});
  ControlPlaneUnderTest* cp = served.cp.get();
  const RawAgent& agent = served.agent;
  auto stub = agent.NewStub();
  REQUIRE(HeartbeatAnswered(agent, stub));

  const pid_t pid = cp->daemon().pid();
  const int64_t baseline = VmRss(pid);
  REQUIRE(baseline > 0);
  int64_t peak = 0;
  int probes = 0;
  int answered = 0;
  PartialMessages attack({.address = cp->address(),
                          .path = "/ovvoc.v1.AgentService/Enroll",
                          .connections = 32,
                          .streams = 8,
                          .message_bytes = 1'000'000});  // 32 x 8 x 1 MB = 256 MB offered
  {
    PeakRss rss(pid);
    attack.Start();
    const absl::Time end = absl::Now() + absl::Seconds(15);
    while (absl::Now() < end) {
      ++probes;
      if (HeartbeatAnswered(agent, stub)) ++answered;
      absl::SleepFor(absl::Milliseconds(500));
    }
    attack.Stop();
    peak = rss.peak();
  }
  INFO("VmRSS baseline " << baseline / kMiB << " MiB, peak " << peak / kMiB << " MiB; sent "
                         << attack.bytes_sent() / kMiB << " MiB, " << attack.resets()
                         << " streams reset, " << attack.connections_lost() << " connections lost; "
                         << answered << "/" << probes << " heartbeats answered");
  CHECK(peak < baseline + (64 + 96) * kMiB);  // the quota plus slack for what it does not count
  // The server did read, well past its quota, and shed what it read.
  CHECK(attack.bytes_sent() > 100'000'000);
  // gRPC sheds whichever streams it likes at the quota, the agent's too, and each probe gives
  // up after three shed attempts: under a loaded CI machine (ctest -j2) one probe in ~30 has
  // been seen to lose all three. Served means every other one, and the next, answered.
  CHECK(answered >= probes - 1);

  // Afterwards: the admin socket and the agent are served.
  CHECK(cp->Cli({"org", "list"}).exit_code == 0);
  CHECK(HeartbeatAnswered(agent, stub));
  ovvoc::v1::PollJobResponse polled;
  auto context = ContextWithDeadline(10);
  CHECK(agent.NewStub()->PollJob(context.get(), {}, &polled).ok());
  CHECK(cp->daemon().running());
}

// Before the front's guard, 4 anonymous connections doing this took the server from 0.5 to
// 8.4 GB in 20 s and failed every agent heartbeat for about 80 s.
TEST_CASE("HTTP/2 rapid reset gets its connection closed, anonymous or enrolled, and agents are served") {
  ServedAgent served({"--poll-hold", "1s"});
  ControlPlaneUnderTest* cp = served.cp.get();
  const RawAgent& agent = served.agent;
  auto stub = agent.NewStub();
  REQUIRE(HeartbeatAnswered(agent, stub));

  // One connection each, as many streams as the attacker likes: the server closes it first.
  constexpr int kOffered = 20'000;
  const std::string path = "/ovvoc.v1.AgentService/Heartbeat";
  const AttackOutcome anonymous = ResetStreams(cp->address(), path, kOffered);
  const AttackOutcome as_agent =
      ResetStreams(cp->address(), path, kOffered, agent.key_pem, agent.certificate_pem);
  INFO("anonymous: " << anonymous.sent << " streams sent, closed " << anonymous.closed
                     << "; with the agent's certificate: " << as_agent.sent
                     << " sent, closed " << as_agent.closed);
  REQUIRE(anonymous.connected);
  REQUIRE(as_agent.connected);
  // (sent says little: the kernel takes megabytes the server never reads.)
  CHECK(anonymous.closed);
  CHECK(as_agent.closed);

  // Four attackers reconnecting as fast as they can, while the agent heartbeats.
  const pid_t pid = cp->daemon().pid();
  const int64_t baseline = VmRss(pid);
  REQUIRE(baseline > 0);
  std::atomic<bool> attacking{true};
  std::atomic<int> connections{0};
  std::atomic<int64_t> streams{0};
  int probes = 0;
  int answered = 0;
  int64_t peak = 0;
  {
    PeakRss rss(pid);
    std::vector<std::thread> attackers;
    for (int i = 0; i < 4; ++i) {
      attackers.emplace_back([&] {
        while (attacking.load()) {
          const AttackOutcome outcome = ResetStreams(cp->address(), path, kOffered);
          connections += outcome.connected ? 1 : 0;
          streams += outcome.sent;
        }
      });
    }
    const absl::Time end = absl::Now() + absl::Seconds(6);
    while (absl::Now() < end) {
      ++probes;
      if (HeartbeatAnswered(agent, stub)) ++answered;
      absl::SleepFor(absl::Milliseconds(300));
    }
    attacking = false;
    for (std::thread& t : attackers) t.join();
    peak = rss.peak();
  }
  INFO("VmRSS baseline " << baseline / kMiB << " MiB, peak " << peak / kMiB << " MiB; "
                         << connections.load() << " connections, " << streams.load()
                         << " streams opened and reset; " << answered << "/" << probes
                         << " heartbeats answered");
  CHECK(connections.load() > 4);
  CHECK(answered == probes);
  CHECK(peak < baseline + 100 * kMiB);
  CHECK(cp->daemon().running());

  // Each closed connection is on the record, counted per host.
  REQUIRE(cp->Stop().ok());
  auto store = cp::OpenSqliteStore(served.dir.Sub("cp/store.db"));
  REQUIRE(store.ok());
  auto records = (*store)->ListAudit(0, 100'000);
  REQUIRE(records.ok());
  bool recorded = false;
  for (const cp::AuditRecord& r : *records) {
    recorded |= r.action == "connection.refused" && absl::StrContains(r.details, "rapid reset");
  }
  CHECK(recorded);
}

// Found by red team round 4: gRPC 1.51 holds every stream a client opens before it has
// acknowledged the server's SETTINGS (about 12 KB each), so 100 anonymous connections of 1,066
// unfinished streams each took a control plane to 1.35 GB in 12 s.
TEST_CASE("a client that leaves streams unfinished is closed before gRPC holds many") {
  ServedAgent served({"--poll-hold", "1s"});
  auto stub = served.agent.NewStub();
  const pid_t pid = served.cp->daemon().pid();
  const int64_t baseline = VmRss(pid);
  REQUIRE(baseline > 0);
  int closed = 0;
  for (int i = 0; i < 20; ++i) {
    const AttackOutcome outcome =
        LeaveStreamsOpen(served.cp->address(), "/ovvoc.v1.AgentService/Enroll", 1000);
    REQUIRE(outcome.connected);
    closed += outcome.closed ? 1 : 0;
  }
  const int64_t after = VmRss(pid);
  INFO("VmRSS " << baseline / kMiB << " -> " << after / kMiB << " MiB; " << closed
                << "/20 connections closed by the server");
  CHECK(closed == 20);
  CHECK(after < baseline + 50 * kMiB);  // 20 x 1,000 streams held would be ~240 MB
  CHECK(HeartbeatAnswered(served.agent, stub));
}

}  // namespace
}  // namespace ovvoc::testing
