// The TLS front against clients that misbehave below HTTP/2: an AgentListener on loopback, in
// front of a stand-in for gRPC. (Attacks through gRPC, and rapid reset, are in
// tests/integration.)
#include "control-plane/server/listener.h"

#include <grpcpp/server_builder.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "control-plane/ca/authority.h"
#include "tests/support/h2_hoarder.h"
#include "tests/support/temp_dir.h"

namespace ovvoc::cp {
namespace {

using testing::TempDir;

// Stands in for gRPC behind the front: takes each connection's end of the socket pair, writes
// into it until the whole way to the client is full (nothing taken for 500 ms), then closes
// it if `hang_up`, else keeps it until destroyed.
class Backend final : public grpc::experimental::ExternalConnectionAcceptor {
 public:
  explicit Backend(bool hang_up) : hang_up_(hang_up) {}
  ~Backend() override {
    for (std::thread& t : threads_) t.join();
    for (int fd : kept_) ::close(fd);
  }

  void HandleNewConnection(NewConnectionParameters* p) override {
    const int fd = p->fd;
    threads_.emplace_back([this, fd] {
      static const std::string kChunk(64 << 10, 'r');
      absl::Time progress = absl::Now();
      while (absl::Now() - progress < absl::Milliseconds(500)) {
        if (::send(fd, kChunk.data(), kChunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL) > 0) {
          progress = absl::Now();
        } else {
          absl::SleepFor(absl::Milliseconds(20));
        }
      }
      if (hang_up_) {
        ::close(fd);
      } else {
        absl::MutexLock lock(&mu_);
        kept_.push_back(fd);
      }
      full_ = true;
    });
  }

  // The way to the client is full (and the connection closed, if `hang_up`).
  bool WaitUntilFull() const {
    const absl::Time end = absl::Now() + absl::Seconds(20);
    while (!full_.load() && absl::Now() < end) absl::SleepFor(absl::Milliseconds(20));
    return full_.load();
  }

 private:
  const bool hang_up_;
  std::vector<std::thread> threads_;  // the front's thread only, then the destructor
  absl::Mutex mu_;
  std::vector<int> kept_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> full_{false};
};

// An AgentListener on 127.0.0.1 in front of `backend`.
struct Front {
  TempDir dir;
  std::unique_ptr<CertificateAuthority> ca;
  PeerDirectory peers;
  std::unique_ptr<AgentListener> listener;

  Front(AgentListener::Limits limits, std::unique_ptr<Backend> backend) {
    const CaFiles files = CaFiles::In(dir.path());
    REQUIRE(CertificateAuthority::Create(files, {}, absl::Now()).ok());
    ca = *CertificateAuthority::Load(files);
    auto bound = AgentListener::Bind("127.0.0.1:0");
    REQUIRE(bound.ok());
    listener = *std::move(bound);
    AgentListener::Callbacks callbacks;
    callbacks.on_fatal = [](const absl::Status& why) { FAIL(why.ToString()); };
    REQUIRE(listener
                ->Start(std::move(backend),
                        {ca->server_key_pem(), ca->server_chain_pem(), ca->ca_pem()}, limits,
                        peers, "", std::move(callbacks))
                .ok());
  }
  ~Front() { listener->Stop(); }

  std::string address() const { return "127.0.0.1:" + std::to_string(listener->port()); }

  // Waits (up to 20 s) until `n` client connections are open.
  bool WaitForConnections(int n) const {
    const absl::Time end = absl::Now() + absl::Seconds(20);
    while (listener->connections() != n && absl::Now() < end) absl::SleepFor(absl::Milliseconds(20));
    return listener->connections() == n;
  }
};

// CPU seconds this process spends (every thread) over `period`.
double CpuSecondsOver(absl::Duration period) {
  auto used = [] {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return absl::DurationFromTimeval(usage.ru_utime) + absl::DurationFromTimeval(usage.ru_stime);
  };
  const absl::Duration before = used();
  absl::SleepFor(period);
  return absl::ToDoubleSeconds(used() - before);
}

// A client that never reads behind a backend that fills the way to it, then hangs up or not:
// CPU seconds the process spends over the next second; the front has closed the connection
// (after its 4 s write-stall timeout) when this returns.
double CpuWhileStalled(bool hang_up) {
  AgentListener::Limits limits;
  limits.write_stall_timeout = absl::Seconds(4);
  auto backend = std::make_unique<Backend>(hang_up);
  Backend& behind = *backend;
  Front front(limits, std::move(backend));
  auto reader = testing::StalledReader::Open(front.address(), "/any.Service/Call");
  REQUIRE(reader != nullptr);
  REQUIRE(behind.WaitUntilFull());
  const double cpu = CpuSecondsOver(absl::Seconds(1));
  CHECK(front.WaitForConnections(0));
  return cpu;
}

TEST_CASE("a client that stops reading costs no CPU and is closed after the write-stall timeout") {
  // TLS waits for the client, the backend for us, and the backend never hangs up (gRPC keeps
  // a connection with an unsent answer, idle and age limits notwithstanding).
  const double waiting = CpuWhileStalled(/*hang_up=*/false);
  INFO("CPU seconds over 1 s while stalled: " << waiting);
  CHECK(waiting < 0.3);
}

TEST_CASE("a backend that hangs up on a stalled client costs no CPU") {
  // Its end is closed with bytes still unread in ours: the kernel says "hung up" until we close.
  const double hung_up = CpuWhileStalled(/*hang_up=*/true);
  INFO("CPU seconds over 1 s after the hang-up: " << hung_up);
  CHECK(hung_up < 0.3);
}

TEST_CASE("a client that asks for TLS key updates in a loop is closed") {
  Front front({}, std::make_unique<Backend>(/*hang_up=*/false));
  const testing::AttackOutcome outcome = testing::RequestKeyUpdates(front.address(), 1000);
  INFO(outcome.sent << " key updates sent");
  REQUIRE(outcome.connected);
  CHECK(outcome.closed);  // (`sent` says little: the kernel takes what the server never reads)
  CHECK(front.WaitForConnections(0));
}

}  // namespace
}  // namespace ovvoc::cp
