// dispatch_bench: how fast a queued job reaches an idle agent, and what idle long polls cost.
//
// Starts the real control plane, parks N idle PollJob calls on it, then enqueues M jobs one at
// a time through the admin socket and measures enqueue -> agent-holds-job latency. Prints
// p50/p99 latency and the control plane's RSS with the polls parked.
//
//   dispatch_bench                           # 1,000 and 10,000 pollers, 200 jobs each
//   dispatch_bench --pollers 1000 --jobs 500 --per-connection 1
//
// --per-connection K puts K pollers on one TLS connection (HTTP/2 streams); the default 1 gives
// every poller its own TLS connection, as separate agent machines would have.
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/files.h"
#include "common/tls.h"
#include "control-plane/cli/admin_client.h"
#include "ovvoc/v1/admin.grpc.pb.h"
#include "ovvoc/v1/agent.grpc.pb.h"
#include "tests/bench/arrivals.h"
#include "tests/support/cluster.h"

namespace ovvoc::bench {
namespace {

using testing::ControlPlaneUnderTest;

struct Config {
  int pollers = 0;
  int jobs = 200;
  int per_connection = 1;
};

long RssKib(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

void RaiseFdLimit() {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
}

// One idle agent slot: keeps a PollJob outstanding until it receives a job.
class Poller {
 public:
  Poller(ovvoc::v1::AgentService::Stub* stub, Arrivals& arrivals, std::atomic<int>& parked)
      : stub_(stub), arrivals_(arrivals), parked_(parked) {}

  void Start() {
    context_ = std::make_unique<grpc::ClientContext>();
    context_->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(70));
    response_.Clear();
    request_.set_slots_free(1);
    parked_.fetch_add(1);
    stub_->async()->PollJob(context_.get(), &request_, &response_, [this](grpc::Status status) {
      parked_.fetch_sub(1);
      if (status.ok() && response_.has_job()) {
        arrivals_.Record(response_.job().job_id());
        return;  // this slot is busy now
      }
      if (!status.ok()) ++errors;
      if (errors < 5) Start();  // the hold ended: poll again, as an agent does
    });
  }

  // Ends an outstanding poll (the callback runs with CANCELLED).
  void Cancel() {
    errors = 1000;  // no re-poll
    if (context_) context_->TryCancel();
  }

  std::atomic<int> errors{0};

 private:
  ovvoc::v1::AgentService::Stub* stub_;
  Arrivals& arrivals_;
  std::atomic<int>& parked_;
  std::unique_ptr<grpc::ClientContext> context_;
  ovvoc::v1::PollJobRequest request_;
  ovvoc::v1::PollJobResponse response_;
};

absl::Duration Percentile(std::vector<absl::Duration> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

int Run(const Config& config) {
  testing::TempDir dir;
  // Every poller connects from 127.0.0.1, where real ones would come from their own machines:
  // the per-host connection cap is lifted, as it is for one agent's many polls.
  auto cp = ControlPlaneUnderTest::Start(
      dir.Sub("cp"), {"--poll-hold", "50s", "--lease-ttl", "600s", "--max-polls-per-agent",
                      "100000", "--max-connections-per-host", "100000"});
  if (!cp.ok()) {
    std::fprintf(stderr, "control plane: %s\n", cp.status().ToString().c_str());
    return 1;
  }
  auto token = (*cp)->Token("bench");
  auto agent = testing::AgentUnderTest::Register(dir.Sub("agent"), (*cp)->address(), *token);
  auto repo = (*cp)->Create({"repo", "add", "--org", "bench", "--url", "file:///nonexistent.git"});
  if (!token.ok() || !agent.ok() || !repo.ok()) {
    std::fprintf(stderr, "setup failed\n");
    return 1;
  }
  const pid_t server_pid = (*cp)->daemon().pid();
  const long rss_idle = RssKib(server_pid);

  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = *files::ReadFile(dir.Sub("cp/ca.pem"));
  tls.pem_private_key = *files::ReadFile(dir.Sub("agent/agent.key"));
  tls.pem_cert_chain = *files::ReadFile(dir.Sub("agent/agent.pem"));
  const int connections = (config.pollers + config.per_connection - 1) / config.per_connection;
  std::vector<std::unique_ptr<ovvoc::v1::AgentService::Stub>> stubs;
  for (int i = 0; i < connections; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a TLS connection per channel
    args.SetInt("ovvoc.bench.channel", i);               // and no channel sharing either
    stubs.push_back(ovvoc::v1::AgentService::NewStub(
        grpc::CreateCustomChannel((*cp)->address(), grpc::SslCredentials(tls), args)));
  }

  Arrivals arrivals;
  std::atomic<int> parked{0};
  std::vector<std::unique_ptr<Poller>> pollers;
  const absl::Time park_start = absl::Now();
  for (int i = 0; i < config.pollers; ++i) {
    pollers.push_back(
        std::make_unique<Poller>(stubs[i / config.per_connection].get(), arrivals, parked));
    pollers.back()->Start();
  }
  // Parked means the server holds them: give the handshakes time, then let RSS settle.
  absl::SleepFor(absl::Seconds(2) + absl::Milliseconds(config.pollers));
  const absl::Duration park_time = absl::Now() - park_start;
  const long rss_parked = RssKib(server_pid);

  cp::AdminClient admin((*cp)->data_dir());
  std::vector<absl::Duration> latencies;
  int lost = 0;
  for (int i = 0; i < config.jobs; ++i) {
    const absl::Time enqueued = absl::Now();
    ovvoc::v1::CreateJobRequest request;
    request.set_repo_id(*repo);
    ovvoc::v1::Job job;
    absl::Status created = admin.Call(&ovvoc::v1::AdminService::Stub::CreateJob, request, job);
    absl::Time arrived;
    if (!created.ok() || !arrivals.WaitFor(job.id(), absl::Seconds(10), arrived)) {
      ++lost;
      continue;
    }
    latencies.push_back(arrived - enqueued);
    absl::SleepFor(absl::Milliseconds(5));
  }
  int errors = 0;
  for (auto& p : pollers) errors += p->errors;

  std::printf("pollers %d on %d TLS connection(s) (%d per connection), jobs %d\n", config.pollers,
              connections, config.per_connection, config.jobs);
  std::printf("  parking all pollers took %s (%d poll errors)\n",
              absl::FormatDuration(absl::Trunc(park_time, absl::Milliseconds(1))).c_str(), errors);
  std::printf(
      "  control plane RSS: %.1f MiB idle, %.1f MiB with the polls parked (%.1f KiB per poll)\n",
      rss_idle / 1024.0, rss_parked / 1024.0,
      static_cast<double>(rss_parked - rss_idle) / config.pollers);
  if (latencies.empty()) {
    std::printf("  no job arrived (%d lost)\n", lost);
    return 1;
  }
  std::printf("  enqueue -> agent holds job: p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d lost)\n",
              absl::ToDoubleMilliseconds(Percentile(latencies, 0.50)),
              absl::ToDoubleMilliseconds(Percentile(latencies, 0.99)),
              absl::ToDoubleMilliseconds(Percentile(latencies, 1.0)), lost);
  std::fflush(stdout);
  // Every outstanding call must finish before the pollers and channels go away.
  for (auto& p : pollers) p->Cancel();
  for (int i = 0; i < 500 && parked.load() > 0; ++i) absl::SleepFor(absl::Milliseconds(10));
  (void)(*cp)->Stop();
  return lost == 0 ? 0 : 1;
}

}  // namespace
}  // namespace ovvoc::bench

int main(int argc, char** argv) {
  ovvoc::tls::RestrictGrpcToTls13();
  ovvoc::bench::RaiseFdLimit();
  std::vector<ovvoc::bench::Config> runs;
  ovvoc::bench::Config custom;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    int value = std::stoi(argv[i + 1]);
    if (flag == "--pollers")
      custom.pollers = value;
    else if (flag == "--jobs")
      custom.jobs = value;
    else if (flag == "--per-connection")
      custom.per_connection = std::max(1, value);
    else {
      std::fprintf(stderr, "usage: dispatch_bench [--pollers N] [--jobs M] [--per-connection K]\n");
      return 2;
    }
  }
  if (custom.pollers > 0) {
    runs.push_back(custom);
  } else {
    runs.push_back({1000, custom.jobs, custom.per_connection});
    runs.push_back({10000, custom.jobs, custom.per_connection});
  }
  int rc = 0;
  for (const auto& run : runs) rc |= ovvoc::bench::Run(run);
  return rc;
}
