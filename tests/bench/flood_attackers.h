// The two attackers of flood_bench: an anonymous client that keeps refused calls in flight,
// and one that holds idle connections (bare TCP, and TLS that never calls). Bench support only.
#ifndef OVVOC_TESTS_BENCH_FLOOD_ATTACKERS_H_
#define OVVOC_TESTS_BENCH_FLOOD_ATTACKERS_H_

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "ovvoc/v1/agent.grpc.pb.h"
#include "tests/support/raw_agent.h"

namespace ovvoc::bench {

using ovvoc::v1::AgentService;

inline constexpr int kStreamsPerConnection = 100;
inline constexpr auto kFloodDeadline = std::chrono::seconds(30);

struct FloodCounters {
  std::array<std::atomic<long>, 17> codes{};  // completions by grpc::StatusCode
  std::atomic<long> completed{0};
  std::atomic<int> live{0};  // calls not yet retired
};

// One anonymous call slot: as soon as its call completes it issues the next, until stopped.
class FloodCall {
 public:
  FloodCall(AgentService::Stub* stub, bool poll, FloodCounters& counters)
      : stub_(stub), poll_(poll), counters_(counters) {
    heartbeat_request_.set_job_id("job-flood");
    heartbeat_request_.set_attempt(1);
    counters_.live.fetch_add(1);
  }

  void Issue() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + kFloodDeadline);
    context->set_wait_for_ready(true);  // a refused connection waits instead of spinning
    grpc::ClientContext* raw = nullptr;
    {
      absl::MutexLock lock(&mu_);
      if (!stopping_) {
        context_ = std::move(context);  // the previous call has completed: its context may go
        raw = context_.get();
      }
    }
    if (raw == nullptr) {
      // Retired: the owner may free this slot from now on, so this is the last touch of it.
      counters_.live.fetch_sub(1);
      return;
    }
    auto done = [this](grpc::Status status) { OnDone(status); };
    if (poll_) {
      poll_response_.Clear();
      stub_->async()->PollJob(raw, &poll_request_, &poll_response_, std::move(done));
    } else {
      heartbeat_response_.Clear();
      stub_->async()->Heartbeat(raw, &heartbeat_request_, &heartbeat_response_, std::move(done));
    }
  }

  // The call in flight (or the next, if it has not started yet) ends with CANCELLED; OnDone
  // then retires the slot. A TryCancel before the call starts cancels it when it starts.
  void Stop() {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (context_) context_->TryCancel();
  }

 private:
  void OnDone(const grpc::Status& status) {
    counters_.codes[std::min<size_t>(status.error_code(), 16)].fetch_add(1);
    counters_.completed.fetch_add(1);
    Issue();
  }

  AgentService::Stub* const stub_;
  const bool poll_;
  FloodCounters& counters_;
  ovvoc::v1::PollJobRequest poll_request_;
  ovvoc::v1::PollJobResponse poll_response_;
  ovvoc::v1::HeartbeatRequest heartbeat_request_;
  ovvoc::v1::HeartbeatResponse heartbeat_response_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<grpc::ClientContext> context_ ABSL_GUARDED_BY(mu_);
};

// The anonymous client: `calls` refused calls (PollJob and Heartbeat alternately, no client
// certificate) kept in flight on calls / 100 TLS connections.
class Flood {
 public:
  Flood(const std::string& address, const std::string& ca_pem, int calls) {
    const int connections = (calls + kStreamsPerConnection - 1) / kStreamsPerConnection;
    for (int i = 0; i < connections; ++i) stubs_.push_back(testing::AnonymousStub(address, ca_pem));
    for (int i = 0; i < calls; ++i) {
      calls_.push_back(std::make_unique<FloodCall>(stubs_[i / kStreamsPerConnection].get(),
                                                   i % 2 == 0, counters_));
    }
  }
  ~Flood() { Stop(); }

  void Start() {
    for (auto& call : calls_) call->Issue();
  }

  // Cancels every call and waits until each has completed: only then may their contexts and
  // stubs go. Every call has a 30 s deadline, so this ends; should it not, leak rather than
  // free what gRPC may still touch.
  void Stop() {
    if (stopped_) return;
    stopped_ = true;
    for (auto& call : calls_) call->Stop();
    const absl::Time give_up = absl::Now() + absl::FromChrono(kFloodDeadline) + absl::Seconds(15);
    while (counters_.live.load() > 0 && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    if (counters_.live.load() > 0) {
      std::fprintf(stderr, "%d flood calls never completed; leaking them\n", counters_.live.load());
      for (auto& call : calls_) (void)call.release();
      for (auto& stub : stubs_) (void)stub.release();
    }
    calls_.clear();
    stubs_.clear();
  }

  long completed() const { return counters_.completed.load(); }
  int connections() const { return static_cast<int>(stubs_.size()); }
  std::map<int, long> codes() const {
    std::map<int, long> out;
    for (size_t i = 0; i < counters_.codes.size(); ++i) {
      if (long n = counters_.codes[i].load(); n > 0) out[static_cast<int>(i)] = n;
    }
    return out;
  }

 private:
  FloodCounters counters_;
  std::vector<std::unique_ptr<AgentService::Stub>> stubs_;
  std::vector<std::unique_ptr<FloodCall>> calls_;  // last: destroyed before the stubs
  bool stopped_ = false;
};

// The other attacker: bare TCP connections that never send a byte, and TLS connections (gRPC
// channels, handshaken, HTTP/2 settings exchanged) that never call.
class IdleConnections {
 public:
  ~IdleConnections() { Close(); }

  // Opens `count` bare TCP connections; returns how many are established within 5 s.
  int OpenBare(const std::string& address, int count) {
    std::vector<pollfd> pending;
    const sockaddr_in to = Loopback(address);
    for (int i = 0; i < count; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) break;
      if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0 &&
          errno != EINPROGRESS) {
        ::close(fd);
        continue;
      }
      fds_.push_back(fd);
      pending.push_back({fd, POLLOUT, 0});
    }
    // Loopback connects at once while the listener's backlog has room.
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    int up = 0;
    do {
      ::poll(pending.data(), pending.size(), 100);
      up = static_cast<int>(std::count_if(pending.begin(), pending.end(), [](const pollfd& p) {
        int error = 0;
        socklen_t size = sizeof error;
        ::getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &error, &size);
        return (p.revents & POLLOUT) != 0 && error == 0;
      }));
    } while (up < static_cast<int>(pending.size()) && absl::Now() < deadline);
    return up;
  }

  // Opens `count` TLS connections; returns how many are ready within 20 s.
  int OpenTls(const std::string& address, const std::string& ca_pem, int count) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = ca_pem;
    for (int i = 0; i < count; ++i) {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      args.SetInt("ovvoc.bench.idle", i);
      channels_.push_back(grpc::CreateCustomChannel(address, grpc::SslCredentials(options), args));
      channels_.back()->GetState(/*try_to_connect=*/true);
    }
    const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(20);
    int up = 0;
    for (auto& channel : channels_) up += channel->WaitForConnected(deadline);
    return up;
  }

  // How many of each the server has not closed.
  std::pair<int, int> StillOpen() {
    int bare = 0;
    for (int fd : fds_) {
      pollfd p{fd, POLLIN | POLLRDHUP, 0};
      bare += ::poll(&p, 1, 0) == 0;  // the server never speaks first: readable means closed
    }
    int tls = 0;
    for (auto& channel : channels_) tls += channel->GetState(false) == GRPC_CHANNEL_READY;
    return {bare, tls};
  }

  void Close() {
    for (int fd : fds_) ::close(fd);
    fds_.clear();
    channels_.clear();
  }

 private:
  static sockaddr_in Loopback(const std::string& address) {
    const size_t colon = address.rfind(':');
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
    ::inet_pton(AF_INET, address.substr(0, colon).c_str(), &to.sin_addr);
    return to;
  }

  std::vector<int> fds_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
};

}  // namespace ovvoc::bench

#endif  // OVVOC_TESTS_BENCH_FLOOD_ATTACKERS_H_
