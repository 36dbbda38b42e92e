#include "agent/poller/runner.h"

#include <random>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/job_text.h"
#include "common/logging.h"
#include "common/time_util.h"

namespace ovvoc::agent {
namespace {

constexpr absl::Duration kMinBackoff = absl::Seconds(1);
constexpr absl::Duration kMaxBackoff = absl::Seconds(30);
constexpr absl::Duration kRpcTimeout = absl::Seconds(20);
// What gRPC adds to a message beside its fields (framing, headers), kept free under the limit.
constexpr size_t kReportSlack = 16 << 10;

// Full jitter: uniformly in [d/2, d], so a fleet restarted together does not retry together.
absl::Duration Jittered(absl::Duration d) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> dist(0.5, 1.0);
  return d * dist(rng);
}

// gRPC keeps call deadlines on real time, whatever clock the runner goes by.
void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

// Codes meaning the control plane no longer considers this lease ours.
bool LeaseLost(grpc::StatusCode code) {
  return code == grpc::StatusCode::FAILED_PRECONDITION ||
         code == grpc::StatusCode::PERMISSION_DENIED || code == grpc::StatusCode::NOT_FOUND;
}

}  // namespace

struct Runner::ActiveJob {
  ActiveJob(ovvoc::v1::JobSpec spec, const JobEnv& env)
      : context(std::move(spec), env), last_heartbeat(env.clock->Now()) {}
  JobContext context;
  std::thread thread;
  absl::Time last_heartbeat;  // on the runner's clock
  std::atomic<bool> lease_lost{false};
  std::atomic<bool> hand_back{false};
  std::atomic<bool> done{false};
};

Runner::Runner(ConfigDir config, std::unique_ptr<Connection> connection, RunnerOptions options)
    : config_(std::move(config)),
      connection_(std::move(connection)),
      options_(options),
      clock_(*options_.env.clock) {}

Runner::~Runner() {
  Stop();
  if (maintenance_.joinable()) maintenance_.join();
}

int Runner::free_slots() const {
  int running = 0;
  for (const auto& [id, job] : jobs_) running += job->done ? 0 : 1;
  return options_.slots - running;
}

absl::Status Runner::Run() {
  host_.emplace(options_.env, config_.work_dir());  // removes what a crashed run left
  // Said only once leftovers are gone: tests (and operators) take it as "ready".
  log::Info("agent %s polling %s with %d slot(s)", connection_->identity().agent_id,
            connection_->identity().server, options_.slots);
  maintenance_ = std::thread([this] { MaintenanceLoop(); });
  absl::Duration backoff = kMinBackoff;
  absl::Status fatal;
  for (;;) {
    CollectFinished();
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || free_slots() > 0; };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) break;
    }
    fatal = PollOnce(backoff);
    if (!fatal.ok()) break;
  }
  Drain();
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (maintenance_.joinable()) maintenance_.join();
  return fatal;
}

absl::Status Runner::PollOnce(absl::Duration& backoff) {
  ovvoc::v1::PollJobRequest request;
  grpc::ClientContext context;
  {
    absl::MutexLock lock(&mu_);
    request.set_slots_free(static_cast<uint32_t>(free_slots()));
    SetDeadline(context, poll_hold_ + absl::Seconds(15));
    current_poll_ = &context;
  }
  request.set_agent_version(OVVOC_VERSION);
  ovvoc::v1::PollJobResponse response;
  const std::shared_ptr<ovvoc::v1::AgentService::Stub> stub = connection_->stub();
  grpc::Status status = stub->PollJob(&context, request, &response);
  // A job that arrived is started even when stopping: Drain() then finishes or hands it back.
  if (status.ok() && response.has_job()) StartJob(response.job());
  {
    absl::MutexLock lock(&mu_);
    current_poll_ = nullptr;
    if (stopping_) return absl::OkStatus();
    if (status.ok() && response.has_settings()) {
      if (response.settings().has_heartbeat_interval()) {
        heartbeat_interval_ = FromProto(response.settings().heartbeat_interval());
      }
      if (response.settings().has_poll_hold())
        poll_hold_ = FromProto(response.settings().poll_hold());
    }
  }
  if (status.ok()) {
    backoff = kMinBackoff;
    return absl::OkStatus();
  }
  if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED && connection_->stub() != stub) {
    // The certificate was renewed while this poll waited: the control plane accepts only the
    // newest one, so poll again with it.
    return absl::OkStatus();
  }
  if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
    return absl::UnauthenticatedError(
        absl::StrCat("the control plane refuses this agent: ", status.error_message()));
  }
  const absl::Duration wait = Jittered(backoff);
  log::Warning("poll failed (%s: %s); retrying in %s",
               absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())),
               status.error_message(),
               absl::FormatDuration(absl::Trunc(wait, absl::Milliseconds(100))));
  backoff = std::min(backoff * 2, kMaxBackoff);
  absl::MutexLock lock(&mu_);
  clock_.AwaitWithDeadline(mu_, absl::Condition(&stopping_), clock_.Now() + wait);
  return absl::OkStatus();
}

void Runner::StartJob(ovvoc::v1::JobSpec spec) {
  log::Info("job %s: leased (attempt %u) for %s", spec.job_id(), spec.lease().attempt(),
            spec.repo().url());
  auto job = std::make_shared<ActiveJob>(spec, options_.env);
  absl::MutexLock lock(&mu_);
  jobs_[spec.job_id()] = job;
  job->thread = std::thread([this, job] { RunJob(job); });
}

void Runner::RunJob(std::shared_ptr<ActiveJob> job) {
  JobContext& context = job->context;
  host_->Run(context);
  if (job->lease_lost) {
    log::Warning("job %s: lease lost; result not reported", context.spec().job_id());
  } else if (job->hand_back) {
    HandBack(*job);
  } else {
    Report(*job);
  }
  job->done = true;
  absl::MutexLock lock(&mu_);  // wakes Run(): a slot is free
}

ovvoc::v1::ReportResultRequest ResultReport(const JobContext& job) {
  const ovvoc::v1::JobSpec& spec = job.spec();
  ovvoc::v1::ReportResultRequest request;
  request.set_job_id(spec.job_id());
  request.set_attempt(spec.lease().attempt());
  *request.mutable_result() = job.result();
  if (job.memo().made.has_value()) {
    *request.mutable_baseline_memo() = *job.memo().made;
    // A memo is a shortcut for later jobs; the result is what must arrive (red team: a 2 MB memo
    // beside its result passed the control plane's message limit, and the result was lost).
    if (request.ByteSizeLong() + kReportSlack > kMaxAgentMessageBytes) {
      log::Warning(
          "job %s: the result with its baseline memo passes the control plane's "
          "message limit: reported without the memo",
          spec.job_id());
      request.clear_baseline_memo();
    }
  }
  return request;
}

void Runner::Report(ActiveJob& job) {
  const ovvoc::v1::JobSpec& spec = job.context.spec();
  const ovvoc::v1::ReportResultRequest request = ResultReport(job.context);
  absl::Duration backoff = kMinBackoff;
  // Retry for about a lease's worth of time: after that the control plane has requeued it.
  const absl::Time give_up = clock_.Now() + FromProto(spec.lease().ttl()) + absl::Seconds(5);
  for (;;) {
    grpc::ClientContext context;
    SetDeadline(context, kRpcTimeout);
    ovvoc::v1::ReportResultResponse response;
    const std::shared_ptr<ovvoc::v1::AgentService::Stub> stub = connection_->stub();
    grpc::Status status = stub->ReportResult(&context, request, &response);
    if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED && connection_->stub() != stub) {
      continue;  // sent with a certificate renewed meanwhile: send again with the new one
    }
    if (status.ok()) {
      log::Info("job %s: reported %s", spec.job_id(),
                ovvoc::v1::JobOutcome_Name(request.result().outcome()));
      return;
    }
    if (LeaseLost(status.error_code()) ||
        status.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
        clock_.Now() + backoff > give_up) {
      log::Error("job %s: result refused or undeliverable: %s", spec.job_id(),
                 status.error_message());
      return;
    }
    clock_.SleepFor(Jittered(backoff));
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

void Runner::HandBack(ActiveJob& job) {
  ovvoc::v1::ReleaseJobRequest request;
  request.set_job_id(job.context.spec().job_id());
  request.set_attempt(job.context.spec().lease().attempt());
  request.set_reason("agent shutting down");
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(10));
  ovvoc::v1::ReleaseJobResponse response;
  grpc::Status status = connection_->stub()->ReleaseJob(&context, request, &response);
  if (status.ok()) {
    log::Info("job %s: handed back", request.job_id());
  } else {
    log::Warning("job %s: hand-back failed (%s); its lease will expire instead", request.job_id(),
                 status.error_message());
  }
}

void Runner::CollectFinished() {
  std::vector<std::shared_ptr<ActiveJob>> finished;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      if (it->second->done) {
        finished.push_back(std::move(it->second));
        it = jobs_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& job : finished) job->thread.join();
}

void Runner::MaintenanceLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      // Runs until Run() has drained every job, so heartbeats continue during the drain.
      auto finished = [this]()
                          ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ && jobs_.empty(); };
      if (clock_.AwaitWithDeadline(mu_, absl::Condition(&finished),
                                   clock_.Now() + absl::Seconds(1))) {
        return;
      }
    }
    const absl::Time now = clock_.Now();
    HeartbeatDue(now);
    if (now >= connection_->RenewalDue()) {
      if (absl::Status s = connection_->Renew(); !s.ok()) {
        log::Warning("certificate renewal failed (%s); expires %s; will retry", s.ToString(),
                     Rfc3339(connection_->CertificateExpires()));
      }
    }
  }
}

void Runner::HeartbeatDue(absl::Time now) {
  std::vector<std::shared_ptr<ActiveJob>> due;
  absl::Duration interval;
  {
    absl::MutexLock lock(&mu_);
    interval = heartbeat_interval_;
    for (auto& [id, job] : jobs_) {
      if (!job->done && !job->lease_lost && now - job->last_heartbeat >= interval)
        due.push_back(job);
    }
  }
  for (const std::shared_ptr<ActiveJob>& job : due) {
    const ovvoc::v1::JobSpec& spec = job->context.spec();
    ovvoc::v1::HeartbeatRequest request;
    request.set_job_id(spec.job_id());
    request.set_attempt(spec.lease().attempt());
    *request.mutable_progress() = job->context.progress();
    grpc::ClientContext context;
    SetDeadline(context, absl::Seconds(10));
    ovvoc::v1::HeartbeatResponse response;
    grpc::Status status = connection_->stub()->Heartbeat(&context, request, &response);
    if (status.ok()) {
      job->last_heartbeat = now;
      if (response.cancel()) {
        log::Info("job %s: cancelled by the control plane", spec.job_id());
        job->context.Cancel("cancelled by an administrator");
      }
    } else if (LeaseLost(status.error_code())) {
      log::Warning("job %s: lease lost (%s); stopping it", spec.job_id(), status.error_message());
      job->lease_lost = true;
      job->context.Cancel("lease lost");
    } else {
      log::Warning("job %s: heartbeat failed: %s", spec.job_id(), status.error_message());
    }
  }
}

void Runner::Drain() {
  absl::MutexLock lock(&mu_);
  auto idle = [this]()
                  ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return free_slots() == options_.slots; };
  if (!idle()) {
    log::Info("waiting up to %s for running jobs to finish",
              absl::FormatDuration(options_.drain_timeout));
  }
  // A second Stop() ends the wait.
  auto done_or_hurried = [this, &idle]()
                             ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return idle() || hurry_; };
  clock_.AwaitWithDeadline(mu_, absl::Condition(&done_or_hurried),
                           clock_.Now() + options_.drain_timeout);
  for (auto& [id, job] : jobs_) {
    if (job->done) continue;
    job->hand_back = true;
    job->context.Cancel("agent shutting down");
  }
  std::map<std::string, std::shared_ptr<ActiveJob>> jobs;
  jobs.swap(jobs_);
  mu_.Unlock();
  for (auto& [id, job] : jobs) job->thread.join();
  mu_.Lock();
}

void Runner::Stop() {
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    hurry_ = true;  // asked twice: hand running jobs back now
    return;
  }
  stopping_ = true;
  if (current_poll_ != nullptr) current_poll_->TryCancel();
}

}  // namespace ovvoc::agent
