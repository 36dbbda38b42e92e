#include "control-plane/server/poll_reactor.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/time_util.h"
#include "control-plane/queue/lease.h"
#include "control-plane/server/auth.h"
#include "control-plane/server/job_spec.h"
#include "nlohmann/json.hpp"

namespace ovvoc::cp {
namespace {
// Answer this long before the client's own deadline so the reply always arrives in time.
constexpr absl::Duration kDeadlineMargin = absl::Seconds(2);
}  // namespace

PollReactor* PollReactor::Start(const ServiceContext& ctx, grpc::CallbackServerContext* call,
                                const ovvoc::v1::PollJobRequest* request,
                                ovvoc::v1::PollJobResponse* response) {
  auto* reactor = new PollReactor(ctx, call, response);
  reactor->Begin();
  return reactor;
}

void PollReactor::Begin() {
  absl::StatusOr<AgentCertificate> cert = ctx_.auth.Identify(*call_, "PollJob");
  if (!cert.ok()) return Reply(cert.status());
  cert_ = *std::move(cert);
  if (!ctx_.agent_polls.TryEnter(cert_.agent_id)) {
    return Reply(ctx_.auth.Refuse(
        *call_, "PollJob", cert_.agent_id,
        absl::ResourceExhaustedError(absl::StrCat("agent ", cert_.agent_id, " has ",
                                                  ctx_.agent_polls.max_per_agent(),
                                                  " polls waiting already")),
        "agent.polls.refused"));
  }
  counted_ = true;
  Post(&PollReactor::Authenticate);
}

void PollReactor::OnDone() {
  if (counted_) ctx_.agent_polls.Leave(cert_.agent_id);
  Unref();
}

void PollReactor::Post(void (PollReactor::*method)()) {
  Ref();
  if (!ctx_.executor.Post([this, method] {
        (this->*method)();
        Unref();
      })) {
    Reply(ServerBusy());
    Unref();
  }
}

void PollReactor::Authenticate() {
  absl::StatusOr<AgentRecord> agent = ctx_.auth.Admit(*call_, cert_, ctx_.store, "PollJob");
  if (!agent.ok()) return Reply(agent.status());
  agent_ = *std::move(agent);

  absl::Time hold_until = ctx_.clock.Now() + ctx_.options.poll_hold;
  const auto client_deadline = call_->deadline();
  if (client_deadline != std::chrono::system_clock::time_point::max()) {
    hold_until = std::min(hold_until, absl::FromChrono(client_deadline) - kDeadlineMargin);
  }
  hold_until_ = hold_until;
  ovvoc::v1::AgentSettings* settings = response_->mutable_settings();
  *settings->mutable_poll_hold() = ToProto(ctx_.options.poll_hold);
  *settings->mutable_heartbeat_interval() = ToProto(ctx_.options.heartbeat_interval);
  *settings->mutable_lease_ttl() = ToProto(ctx_.options.lease_ttl);
  TryLease();
}

void PollReactor::TryLease() {
  if (cancelled()) return Reply(absl::CancelledError("poll cancelled by the client"));
  const uint64_t generation = ctx_.dispatcher.Generation(agent_.org_id, agent_.pool);
  const absl::Time now = ctx_.clock.Now();
  bool revoked = false;
  absl::StatusOr<std::optional<JobRecord>> leased = ctx_.store.LeaseNextJob(
      agent_.id,
      [&](const AgentRecord& agent) {
        revoked = agent.revoked;
        return AdmitAgent(agent, cert_, now);
      },
      [&](JobRecord& job) { return queue::Lease(job, agent_.id, now, ctx_.options.lease_ttl); });
  if (revoked) ctx_.auth.MarkRevoked(agent_.id);
  if (absl::IsUnauthenticated(leased.status())) {
    return Reply(ctx_.auth.Refuse(*call_, "PollJob", agent_.id, leased.status()));
  }
  if (!leased.ok()) {
    log::Error("cannot lease a job for %s: %s", agent_.id, leased.status().ToString());
    ctx_.dispatcher.Notify(agent_.org_id, agent_.pool);  // let another poller try
    return Reply(absl::UnavailableError("the control plane cannot reach its store; retry"));
  }
  if (!leased->has_value()) {
    if (now >= hold_until_) return Reply(absl::OkStatus());  // nothing to do this time
    return Park(generation);
  }

  JobRecord& job = **leased;
  if (cancelled()) {
    // The agent went away while we leased: hand the job straight back.
    (void)ctx_.store.UpdateJob(job.id, [&](JobRecord& j) {
      return queue::Release(j, agent_.id, job.attempt, "poll cancelled", ctx_.clock.Now());
    });
    ctx_.dispatcher.Notify(agent_.org_id, agent_.pool);
    return Reply(absl::CancelledError("poll cancelled by the client"));
  }
  absl::StatusOr<ovvoc::v1::JobSpec> spec = BuildJobSpec(ctx_, job);
  if (!spec.ok()) {
    std::string reason = absl::StrCat("cannot prepare the job: ", spec.status().message());
    (void)ctx_.store.UpdateJob(job.id, [&](JobRecord& j) {
      queue::Abort(j, reason, ctx_.clock.Now());
      return absl::OkStatus();
    });
    ctx_.audit.Record({"system", "job.abort", job.id, nlohmann::json{{"reason", reason}}});
    return Park(ctx_.dispatcher.Generation(agent_.org_id, agent_.pool));
  }
  ctx_.audit.Record({absl::StrCat("agent:", agent_.id), "job.lease", job.id,
                     nlohmann::json{{"attempt", job.attempt}}});
  *response_->mutable_job() = *std::move(spec);
  Reply(absl::OkStatus());
}

void PollReactor::Park(uint64_t generation) {
  bool cancelled;
  {
    absl::MutexLock lock(&mu_);
    cancelled = cancelled_;
    if (!cancelled) {
      Ref();  // held by the waiter; passed on to the task its wake-up posts
      waiter_ = ctx_.dispatcher.Wait(agent_.org_id, agent_.pool, agent_.id, generation,
                                     hold_until_, [this](Dispatcher::Wake wake) {
                                       if (!ctx_.executor.Post([this, wake] {
                                             OnWake(wake);
                                             Unref();
                                           })) {
                                         Reply(ServerBusy());
                                         Unref();
                                       }
                                     });
    }
  }
  if (cancelled) Reply(absl::CancelledError("poll cancelled by the client"));
}

void PollReactor::OnWake(Dispatcher::Wake wake) {
  {
    absl::MutexLock lock(&mu_);
    waiter_.reset();
  }
  if (wake == Dispatcher::Wake::kWork) return TryLease();
  if (wake == Dispatcher::Wake::kRevoked) {
    return Reply(ctx_.auth.Refuse(*call_, "PollJob", agent_.id, RevokedError(agent_.id)));
  }
  Reply(absl::OkStatus());  // the hold ended, or the server is stopping: no job this time
}

void PollReactor::OnCancel() {
  std::optional<Dispatcher::WaiterId> waiter;
  {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    waiter.swap(waiter_);
  }
  // If the waiter already fired, OnWake is queued and will see cancelled_.
  if (waiter.has_value() && ctx_.dispatcher.Cancel(*waiter)) {
    Reply(absl::CancelledError("poll cancelled by the client"));
    Unref();  // the cancelled waiter's reference
  }
}

bool PollReactor::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

void PollReactor::Reply(const absl::Status& status) {
  if (finished_.exchange(true)) return;
  Finish(ToGrpcStatus(status));
}

}  // namespace ovvoc::cp
