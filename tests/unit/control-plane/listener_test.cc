// The TLS front against clients that misbehave below HTTP/2: an AgentListener on loopback, in
// front of a stand-in for gRPC. (Attacks through gRPC, and rapid reset, are in
// tests/integration.)
#include "control-plane/server/listener.h"

#include <grpcpp/server_builder.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

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

// Stands in for gRPC behind the front and records what each connection carried until its other
// end closed, and whether that end had a name (the front names those it serves clients on).
class Recorder final : public grpc::experimental::ExternalConnectionAcceptor {
 public:
  struct Seen {
    bool named;
    std::string bytes;
  };

  ~Recorder() override {
    for (std::thread& t : threads_) t.join();
  }

  void HandleNewConnection(NewConnectionParameters* p) override {
    sockaddr_un peer{};
    socklen_t length = sizeof peer;
    ::getpeername(p->fd, reinterpret_cast<sockaddr*>(&peer), &length);
    const bool named = length > offsetof(sockaddr_un, sun_path);
    handed_.fetch_add(1);
    threads_.emplace_back([this, fd = p->fd, named] {
      std::string bytes;
      char buffer[4096];
      const absl::Time end = absl::Now() + absl::Seconds(20);
      while (absl::Now() < end) {
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
        if (n == 0) break;
        if (n > 0) {
          bytes.append(buffer, static_cast<size_t>(n));
        } else {
          absl::SleepFor(absl::Milliseconds(5));
        }
      }
      ::close(fd);
      absl::MutexLock lock(&mu_);
      seen_.push_back({named, std::move(bytes)});
    });
  }

  // Waits (up to 20 s) until `n` connections were handed over in all.
  bool WaitForHanded(int n) const {
    const absl::Time end = absl::Now() + absl::Seconds(20);
    while (handed_.load() < n && absl::Now() < end) absl::SleepFor(absl::Milliseconds(1));
    return handed_.load() >= n;
  }

  // Connections closed so far from unnamed ends (after waiting up to `wait` for `n` of them).
  std::vector<std::string> Unnamed(size_t n, absl::Duration wait) {
    const absl::Time end = absl::Now() + wait;
    for (;;) {
      std::vector<std::string> unnamed;
      {
        absl::MutexLock lock(&mu_);
        for (const Seen& seen : seen_) {
          if (!seen.named) unnamed.push_back(seen.bytes);
        }
      }
      if (unnamed.size() >= n || absl::Now() >= end) return unnamed;
      absl::SleepFor(absl::Milliseconds(20));
    }
  }

 private:
  std::vector<std::thread> threads_;  // the front's thread only, then the destructor
  std::atomic<int> handed_{0};
  absl::Mutex mu_;
  std::vector<Seen> seen_ ABSL_GUARDED_BY(mu_);
};

// An AgentListener on 127.0.0.1 in front of `backend`.
struct Front {
  TempDir dir;
  std::unique_ptr<CertificateAuthority> ca;
  PeerDirectory peers;
  std::unique_ptr<AgentListener> listener;

  Front(AgentListener::Limits limits,
        std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> backend) {
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

TEST_CASE("once many connections have closed and then none for a second, gRPC's queues are swept") {
  // gRPC 1.51 drops the records of closed connections only as later connections close (see
  // AgentListener::SweepReclaimers): the front then hands it one closed connection per open
  // connection and 16 more, each with HTTP/2's preface.
  auto recorder = std::make_unique<Recorder>();
  Recorder& behind = *recorder;
  Front front({}, std::move(recorder));
  auto stays = testing::StalledReader::Open(front.address(), "/any.Service/Call");
  REQUIRE(stays != nullptr);
  REQUIRE(behind.WaitForHanded(1));
  // Clients that reach gRPC, then leave.
  auto come_and_go = [&](int first) {
    auto client = testing::StalledReader::Open(front.address(), "/any.Service/Call");
    REQUIRE(client != nullptr);
    REQUIRE(behind.WaitForHanded(first + 1));
  };
  for (int i = 1; i <= 127; ++i) come_and_go(i);
  REQUIRE(front.WaitForConnections(1));
  CHECK(behind.Unnamed(1, absl::Milliseconds(1500)).empty());  // 127 closes: too few to sweep

  come_and_go(128);
  const std::vector<std::string> sweeps = behind.Unnamed(17, absl::Seconds(20));
  CHECK(sweeps.size() == 17);  // the reader's connection, and 16
  for (const std::string& bytes : sweeps) {
    CHECK(bytes == std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\4\0\0\0\0\0", 33));
  }
  CHECK(behind.Unnamed(18, absl::Milliseconds(1500)).size() == 17);  // once
}

}  // namespace
}  // namespace ovvoc::cp
