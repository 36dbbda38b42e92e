// The poller (Connection and Runner) on a ManualClock, against an in-process stand-in for the
// control plane: heartbeats, poll backoff, the drain and certificate renewal happen when the
// test moves time, never on their own, and the test never sleeps.
#include <grpcpp/grpcpp.h>

#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "agent/git/git.h"
#include "agent/poller/connection.h"
#include "agent/poller/runner.h"
#include "common/clock.h"
#include "common/job_text.h"
#include "common/pki.h"
#include "common/time_util.h"
#include "tests/support/temp_dir.h"

namespace ovvoc::agent {
namespace {

const absl::Duration kHang = absl::Minutes(1);  // bounds a hung test, never a slow one

template <typename T>
T ValueOf(absl::StatusOr<T> v) {
  INFO(v.status().ToString());
  REQUIRE(v.ok());
  return *std::move(v);
}

struct KeyAndCertificate {
  std::string key_pem;
  std::string certificate_pem;
};

// A CA with a server certificate for 127.0.0.1 and an agent certificate. TLS checks them
// against real time, so they are valid around it for `lifetime`.
struct TestPki {
  explicit TestPki(absl::Duration lifetime = absl::Hours(24))
      : from(absl::Now() - absl::Hours(1)),
        until(absl::Now() + lifetime),
        ca_key(ValueOf(pki::PrivateKey::GenerateP256())),
        ca(ValueOf(pki::CreateSelfSignedCa(ca_key, "poller test CA", from, until))),
        server(Issue("control plane", pki::CertificateUse::kServer,
                     {{"localhost"}, {"127.0.0.1"}, {}})),
        agent(Issue("agt_test", pki::CertificateUse::kClient,
                    {{}, {}, {"ovvoc://agent/agt_test"}})) {}

  KeyAndCertificate Issue(const std::string& name, pki::CertificateUse use,
                          pki::SubjectAltNames alt_names) const {
    pki::PrivateKey key = ValueOf(pki::PrivateKey::GenerateP256());
    pki::IssueOptions options;
    options.common_name = name;
    options.alt_names = std::move(alt_names);
    options.use = use;
    options.not_before = from;
    options.not_after = until;
    pki::Certificate cert = ValueOf(pki::IssueCertificate(ca_key, ca, key.get(), options));
    return {ValueOf(key.ToPem()), ValueOf(cert.ToPem())};
  }

  const absl::Time from;
  const absl::Time until;
  const pki::PrivateKey ca_key;
  const pki::Certificate ca;
  const KeyAndCertificate server;
  const KeyAndCertificate agent;
};

// What `register` would have saved for agt_test with `pki`, to reach `server`.
AgentIdentity Identity(const TestPki& pki, const std::string& server) {
  AgentIdentity identity;
  identity.server = server;
  identity.agent_id = "agt_test";
  identity.org = "org";
  identity.pool = "default";
  identity.key_pem = pki.agent.key_pem;
  identity.certificate_pem = pki.agent.certificate_pem;
  identity.ca_pem = ValueOf(pki.ca.ToPem());
  return identity;
}

// AgentService as far as a runner needs it: PollJob hands out the offered job once and
// otherwise fails with UNAVAILABLE (so the runner backs off); the other calls are recorded.
class FakeControlPlane final : public ovvoc::v1::AgentService::Service {
 public:
  void Offer(ovvoc::v1::JobSpec job) {
    absl::MutexLock lock(&mu_);
    offered_ = std::move(job);
  }

  grpc::Status PollJob(grpc::ServerContext*, const ovvoc::v1::PollJobRequest*,
                       ovvoc::v1::PollJobResponse* response) override {
    absl::MutexLock lock(&mu_);
    ++polls_;
    if (!offered_.has_value()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "no work here");
    *response->mutable_job() = *std::exchange(offered_, std::nullopt);
    *response->mutable_settings()->mutable_heartbeat_interval() = ToProto(absl::Seconds(15));
    return grpc::Status::OK;
  }
  grpc::Status Heartbeat(grpc::ServerContext*, const ovvoc::v1::HeartbeatRequest* request,
                         ovvoc::v1::HeartbeatResponse*) override {
    absl::MutexLock lock(&mu_);
    heartbeats_.push_back(*request);
    return grpc::Status::OK;
  }
  grpc::Status ReportResult(grpc::ServerContext*, const ovvoc::v1::ReportResultRequest* request,
                            ovvoc::v1::ReportResultResponse*) override {
    absl::MutexLock lock(&mu_);
    reports_.push_back(*request);
    return grpc::Status::OK;
  }
  grpc::Status ReleaseJob(grpc::ServerContext*, const ovvoc::v1::ReleaseJobRequest* request,
                          ovvoc::v1::ReleaseJobResponse*) override {
    absl::MutexLock lock(&mu_);
    releases_.push_back(*request);
    return grpc::Status::OK;
  }

  int polls() {
    absl::MutexLock lock(&mu_);
    return polls_;
  }
  std::vector<ovvoc::v1::HeartbeatRequest> heartbeats() {
    absl::MutexLock lock(&mu_);
    return heartbeats_;
  }
  std::vector<ovvoc::v1::ReportResultRequest> reports() {
    absl::MutexLock lock(&mu_);
    return reports_;
  }
  std::vector<ovvoc::v1::ReleaseJobRequest> releases() {
    absl::MutexLock lock(&mu_);
    return releases_;
  }

  bool AwaitPolls(int n) {
    return AwaitUntil([this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return polls_ >= n; });
  }
  bool AwaitHeartbeats(size_t n) {
    return AwaitUntil([this, n]()
                          ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return heartbeats_.size() >= n; });
  }

 private:
  template <typename F>
  bool AwaitUntil(F done) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&done), kHang);
  }

  absl::Mutex mu_;
  std::optional<ovvoc::v1::JobSpec> offered_ ABSL_GUARDED_BY(mu_);
  int polls_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<ovvoc::v1::HeartbeatRequest> heartbeats_ ABSL_GUARDED_BY(mu_);
  std::vector<ovvoc::v1::ReportResultRequest> reports_ ABSL_GUARDED_BY(mu_);
  std::vector<ovvoc::v1::ReleaseJobRequest> releases_ ABSL_GUARDED_BY(mu_);
};

// A clone that holds until released or until the job is cancelled; released, it fails (the job
// then reports). Like libgit2, it polls `cancelled`, here every few real milliseconds.
class HeldClone final : public git::Cloner {
 public:
  absl::StatusOr<git::CloneResult> Clone(const git::CloneOptions& options) override {
    absl::MutexLock lock(&mu_);
    entered_ = true;
    while (!released_ && !options.cancelled()) {
      mu_.AwaitWithTimeout(absl::Condition(&released_), absl::Milliseconds(5));
    }
    if (!released_) return absl::CancelledError("clone cancelled");
    return absl::UnavailableError("the held clone has nothing to give");
  }

  bool AwaitEntered() {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&entered_), kHang);
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    released_ = true;
  }

 private:
  absl::Mutex mu_;
  bool entered_ ABSL_GUARDED_BY(mu_) = false;
  bool released_ ABSL_GUARDED_BY(mu_) = false;
};

ovvoc::v1::JobSpec Job() {
  ovvoc::v1::JobSpec spec;
  spec.set_job_id("job_held");
  spec.mutable_repo()->set_url("https://git.example/app.git");
  spec.mutable_lease()->set_attempt(1);
  *spec.mutable_lease()->mutable_ttl() = ToProto(absl::Seconds(60));
  return spec;
}

// A runner of one slot, on a manual clock that starts at real now (so that the certificates,
// checked by TLS on real time, are valid on both), polling a FakeControlPlane; Run() on a thread.
class RunnerHarness {
 public:
  RunnerHarness() : clock_(absl::Now()) {
    grpc::SslServerCredentialsOptions tls(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    tls.pem_key_cert_pairs.push_back({pki_.server.key_pem, pki_.server.certificate_pem});
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(tls), &port);
    builder.RegisterService(&control_plane_);
    server_ = builder.BuildAndStart();
    REQUIRE(server_ != nullptr);

    const AgentIdentity identity = Identity(pki_, absl::StrCat("127.0.0.1:", port));
    ConfigDir config(dir_.path());
    RunnerOptions options;
    options.drain_timeout = absl::Seconds(30);
    options.env.clock = &clock_;
    options.env.git = &git_;
    runner_.emplace(config, ValueOf(Connection::Open(config, identity, clock_)), options);
  }
  ~RunnerHarness() {
    if (thread_.joinable()) {
      runner_->Stop();
      runner_->Stop();
      git_.Release();
      thread_.join();
    }
    runner_.reset();
    server_->Shutdown();
  }

  void Start() {
    thread_ = std::thread([this] {
      absl::Status status = runner_->Run();
      absl::MutexLock lock(&mu_);
      result_ = status;
    });
  }
  // What Run() returned, once it has.
  absl::Status AwaitResult() {
    thread_.join();
    absl::MutexLock lock(&mu_);
    return result_.value_or(absl::InternalError("Run() did not return"));
  }

  ManualClock& clock() { return clock_; }
  FakeControlPlane& control_plane() { return control_plane_; }
  HeldClone& git() { return git_; }
  Runner& runner() { return *runner_; }

 private:
  ManualClock clock_;
  TestPki pki_;
  testing::TempDir dir_;
  FakeControlPlane control_plane_;
  std::unique_ptr<grpc::Server> server_;
  HeldClone git_;
  std::optional<Runner> runner_;
  std::thread thread_;
  absl::Mutex mu_;
  std::optional<absl::Status> result_ ABSL_GUARDED_BY(mu_);
};

TEST_CASE("a running job heartbeats at the interval on the runner's clock, not before") {
  RunnerHarness h;
  h.control_plane().Offer(Job());
  h.Start();
  REQUIRE(h.git().AwaitEntered());
  // The maintenance loop is the one thread that waits on the clock now (Run waits for a slot).
  REQUIRE(h.clock().AwaitWaiters(1, kHang));
  h.clock().Advance(absl::Seconds(14));
  REQUIRE(h.clock().AwaitWaiters(1, kHang));  // it looked, found nothing due, and waits again
  CHECK(h.control_plane().heartbeats().empty());

  h.clock().Advance(absl::Seconds(1));
  REQUIRE(h.control_plane().AwaitHeartbeats(1));
  const ovvoc::v1::HeartbeatRequest beat = h.control_plane().heartbeats().front();
  CHECK(beat.job_id() == "job_held");
  CHECK(beat.attempt() == 1);

  // Stopped, the runner lets the job finish and report, and polls no more.
  h.runner().Stop();
  h.git().Release();
  CHECK(h.AwaitResult().ok());
  const auto reports = h.control_plane().reports();
  REQUIRE(reports.size() == 1);
  CHECK(reports[0].job_id() == "job_held");
  CHECK(h.control_plane().releases().empty());
  CHECK(h.control_plane().polls() == 1);
}

TEST_CASE("a stopping runner keeps heartbeating and hands the job back when the drain ends") {
  RunnerHarness h;
  h.control_plane().Offer(Job());
  h.Start();
  REQUIRE(h.git().AwaitEntered());
  h.runner().Stop();
  // Waiting on the clock: the maintenance loop, and the drain (30 s).
  REQUIRE(h.clock().AwaitWaiters(2, kHang));
  h.clock().Advance(absl::Seconds(29));
  REQUIRE(h.control_plane().AwaitHeartbeats(1));
  REQUIRE(h.clock().AwaitWaiters(2, kHang));  // the drain still waits
  CHECK(h.control_plane().releases().empty());

  h.clock().Advance(absl::Seconds(1));
  CHECK(h.AwaitResult().ok());
  const auto releases = h.control_plane().releases();
  REQUIRE(releases.size() == 1);
  CHECK(releases[0].job_id() == "job_held");
  CHECK(releases[0].attempt() == 1);
  CHECK(h.control_plane().reports().empty());
}

TEST_CASE("a failed poll is retried after a backoff on the runner's clock") {
  RunnerHarness h;  // offers no job: every poll fails
  h.Start();
  REQUIRE(h.control_plane().AwaitPolls(1));
  // The maintenance loop and the backoff, which is 1 s less jitter (at most half of it).
  REQUIRE(h.clock().AwaitWaiters(2, kHang));
  h.clock().Advance(absl::Milliseconds(400));
  REQUIRE(h.clock().AwaitWaiters(2, kHang));
  CHECK(h.control_plane().polls() == 1);

  h.clock().Advance(absl::Milliseconds(600));
  REQUIRE(h.control_plane().AwaitPolls(2));
  // The backoff doubles: 2 s less jitter.
  REQUIRE(h.clock().AwaitWaiters(2, kHang));
  h.clock().Advance(absl::Seconds(2));
  REQUIRE(h.control_plane().AwaitPolls(3));

  h.runner().Stop();  // ends the backoff at once
  CHECK(h.AwaitResult().ok());
}

TEST_CASE("a connection's renewal falls due halfway through its certificate's life") {
  TestPki pki(absl::Hours(10));
  ManualClock clock(absl::Now());
  const absl::Time opened = clock.Now();
  const AgentIdentity identity = Identity(pki, "127.0.0.1:1");  // never dialled
  testing::TempDir dir;
  std::unique_ptr<Connection> connection =
      ValueOf(Connection::Open(ConfigDir(dir.path()), identity, clock));
  const absl::Time expires = connection->CertificateExpires();
  CHECK(connection->RenewalDue() == opened + (expires - opened) / 2);

  // The same certificate, once the clock says it has expired, is refused with what to do.
  clock.Set(expires);
  absl::StatusOr<std::unique_ptr<Connection>> late =
      Connection::Open(ConfigDir(dir.path()), identity, clock);
  REQUIRE_FALSE(late.ok());
  CHECK(late.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(late.status().message()), Catch::Contains("Register it again"));
}

}  // namespace
}  // namespace ovvoc::agent

namespace ovvoc::agent {
namespace {

// Red team, issue 12: a result and its memo past the control plane's message limit lost the
// result (every retry refused): the memo is left out then, the result sent.
TEST_CASE("a result is reported with its baseline memo, without it when both would not fit") {
  JobEnv env;
  JobContext job(Job(), env);
  job.result().set_outcome(ovvoc::v1::JOB_OUTCOME_SUCCEEDED);
  CHECK(!ResultReport(job).has_baseline_memo());  // none made
  ovvoc::v1::BaselineMemo& memo = job.memo().made.emplace();
  memo.set_key(std::string(64, 'a'));
  memo.set_job_id("job_held");
  ovvoc::v1::ReportResultRequest report = ResultReport(job);
  CHECK(report.job_id() == "job_held");
  CHECK(report.attempt() == 1);
  CHECK(report.result().outcome() == ovvoc::v1::JOB_OUTCOME_SUCCEEDED);
  CHECK(report.baseline_memo().key() == memo.key());

  (*memo.mutable_installed()->mutable_packages())["node_modules/a"] =
      std::string(kMaxBaselineMemoBytes - 1000, 'x');
  job.result().mutable_baseline()->mutable_test()->set_log_excerpt(
      std::string(kMaxAgentMessageBytes - kMaxBaselineMemoBytes, 'y'));
  report = ResultReport(job);
  CHECK(!report.has_baseline_memo());
  CHECK(report.result().outcome() == ovvoc::v1::JOB_OUTCOME_SUCCEEDED);
  CHECK(report.ByteSizeLong() < kMaxAgentMessageBytes);
}

}  // namespace
}  // namespace ovvoc::agent
