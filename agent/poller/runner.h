// Runner: `ovvoc-agent run`. One long poll at a time asks for work while slots are free; each
// job runs the update pipeline on its own thread; a maintenance thread heartbeats running jobs
// (passing on cancels) and renews the certificate at half-life.
//
// Stop(): polling stops at once; running jobs get `drain_timeout` to finish and report, then
// are cancelled and handed back to the control plane. A second Stop() hands back at once.
//
// Heartbeats, renewal, backoff and the drain go by `options.env.clock`, the clock the jobs read;
// open the Connection with the same one. RPC deadlines are gRPC's, on real time.
#ifndef OVVOC_AGENT_POLLER_RUNNER_H_
#define OVVOC_AGENT_POLLER_RUNNER_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/config/config.h"
#include "agent/pipeline/pipeline.h"
#include "agent/poller/connection.h"

namespace ovvoc::agent {

struct RunnerOptions {
  int slots = 1;
  absl::Duration drain_timeout = absl::Seconds(30);
  JobEnv env;  // what every job runs with; its clock also times the runner
};

// What a finished job reports: its result, and its baseline memo (pipeline/baseline_memo.h)
// unless the two together would pass the control plane's message limit (kMaxAgentMessageBytes,
// common/job_text.h): the result must arrive, the memo is a shortcut.
ovvoc::v1::ReportResultRequest ResultReport(const JobContext& job);

class Runner {
 public:
  Runner(ConfigDir config, std::unique_ptr<Connection> connection, RunnerOptions options);
  ~Runner();

  // Polls and runs jobs until Stop(), or until the control plane refuses this agent for good
  // (revoked, certificate no longer accepted): then returns that error.
  absl::Status Run();
  void Stop();

 private:
  struct ActiveJob;

  absl::Status PollOnce(absl::Duration& backoff);
  void StartJob(ovvoc::v1::JobSpec spec) ABSL_LOCKS_EXCLUDED(mu_);
  void RunJob(std::shared_ptr<ActiveJob> job);
  void Report(ActiveJob& job);
  void HandBack(ActiveJob& job);
  void MaintenanceLoop();
  void HeartbeatDue(absl::Time now);
  void CollectFinished() ABSL_LOCKS_EXCLUDED(mu_);
  void Drain();
  int free_slots() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ConfigDir config_;
  const std::unique_ptr<Connection> connection_;
  const RunnerOptions options_;
  const Clock& clock_;           // *options_.env.clock
  std::optional<JobHost> host_;  // made by Run(); its env is options_.env

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool hurry_ ABSL_GUARDED_BY(mu_) = false;  // Stop() came twice: hand running jobs back now
  grpc::ClientContext* current_poll_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::map<std::string, std::shared_ptr<ActiveJob>> jobs_ ABSL_GUARDED_BY(mu_);
  absl::Duration heartbeat_interval_ ABSL_GUARDED_BY(mu_) = absl::Seconds(15);
  absl::Duration poll_hold_ ABSL_GUARDED_BY(mu_) = absl::Seconds(50);
  std::thread maintenance_;
};

}  // namespace ovvoc::agent

#endif  // OVVOC_AGENT_POLLER_RUNNER_H_
