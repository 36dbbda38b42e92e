// The plan step of a job (DESIGN.md §4, phase 3): the checkout's npm project and update policy,
// registry metadata through the agent's own registry client and cache, and the decision
// (agent/npm/plan.h). No repository code runs; nothing is written to the checkout.
#ifndef OVVOC_AGENT_PIPELINE_PLAN_STEP_H_
#define OVVOC_AGENT_PIPELINE_PLAN_STEP_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/npm/npm_choice.h"
#include "agent/npm/plan.h"
#include "agent/registry/client.h"
#include "agent/registry/endpoint.h"
#include "ovvoc/v1/job.pb.h"

namespace ovvoc::agent {

struct SandboxSettings;  // sandbox_session.h

// The job's registries (JobRegistries()) as endpoints, with what only the agent decides:
// which may resolve to internal addresses, and the agent's own credentials.
// Whether the agent's own configuration (--allow-internal HOST:PORT) lets `endpoint` resolve to
// a private or loopback address: never the job's say.
bool AgentAllowsInternal(const SandboxSettings& settings,
                         const registry::RegistryEndpoint& endpoint);

absl::StatusOr<std::vector<registry::RegistryEndpoint>> JobEndpoints(
    const ovvoc::v1::JobSpec& spec, const SandboxSettings& settings);

// How long a plan may spend reading registry metadata (a cold 150-dependency plan takes
// seconds; a registry answering slowly, each read retried, could otherwise hold a job for hours).
inline constexpr absl::Duration kPlanFetchBudget = absl::Minutes(5);

// npm::PackumentSource over the agent's RegistryClient: each package from the endpoint of its
// scope (else the default one), full packuments (the plan needs `time`), fetched on up to
// kParallel threads and parsed on at most kParallelParses at a time (a packument may be up to
// RegistryClientOptions::max_packument_bytes, and parsing holds it twice plus its index).
// Parsed packuments are kept until the plan is made: past kMaxHeldBytes of them, the rest are
// refused (ResourceExhausted), so a registry cannot choose the agent's memory.
class RegistryPackuments final : public npm::PackumentSource {
 public:
  static constexpr int kParallel = 8;
  static constexpr int kParallelParses = 2;
  static constexpr size_t kMaxHeldBytes = size_t{1} << 30;

  // Why to stop fetching: "" to go on, else the reason each package not fetched gets (the job
  // cancelled, the plan's time spent). Polled before each read and while one waits.
  using Stop = std::function<std::string()>;

  // Borrows `client`.
  RegistryPackuments(registry::RegistryClient& client,
                     std::vector<registry::RegistryEndpoint> endpoints, Stop stop = {},
                     size_t max_held_bytes = kMaxHeldBytes);

  std::vector<Fetched> Fetch(const std::vector<std::string>& names) override;

 private:
  Fetched FetchOne(const std::string& name);

  registry::RegistryClient& client_;
  const std::vector<registry::RegistryEndpoint> endpoints_;
  std::string Stopped() const { return stop_ ? stop_() : ""; }

  absl::Mutex mu_;
  int parsing_ ABSL_GUARDED_BY(mu_) = 0;
  size_t held_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  const Stop stop_;
  const size_t max_held_bytes_;
  const registry::RegistryClient::Cancelled cancelled_;
};

// A node a job can run on: one job image's major and versions.
struct NodeRuntime {
  int major = 0;
  std::string node_version;  // "24.11.1"
  std::string npm_version;   // "11.6.2", the image's default npm
  std::map<int, std::string> npms;  // the other npms the image carries, by major
};

struct PlanInputs {
  std::string policy_file;  // `--policy FILE`; empty: the checkout's own
  absl::Time now;
  // The nodes this agent has images for. The job's is chosen among them (ChooseJobNode), and
  // engines are checked against it. Empty: against node_version and npm_version.
  std::vector<NodeRuntime> runtimes;
  int default_major = 0;  // of `runtimes`: what runs when the project names no node
  // The major this repository's baseline last passed on (JobSpec.remembered_node_major); 0:
  // none. Used unless `.ovvoc.yml` names a node.
  int remembered_major = 0;
  std::string node_version;  // "v24.11.1"; empty: engines.node unchecked
  std::string npm_version;
  // How long the plan may take in all, by the real clock (reading metadata, then deciding:
  // npm::kPlanWorkBudget past the fetch budget at most).
  absl::Duration time_left = kPlanFetchBudget + npm::kPlanWorkBudget;
};

// The node majors Ovvoc builds job images for (deploy/image/build.sh).
inline constexpr int kSupportedNodeMajors[] = {20, 22, 24, 26};

// The node a job runs on, and the record of why.
struct JobNode {
  ovvoc::v1::NodeChoice record;
  NodeRuntime runtime;  // one of the agent's; major 0 when it has none
  // Where a failing baseline is tried again, in order: the agent's other runtimes that the
  // project allows (`.ovvoc.yml`'s `node:` range when it has one, else engines.node, else
  // any), the majors below `runtime`'s newest first, then those above it.
  std::vector<NodeRuntime> alternatives;
};

// Which node major the checkout at `root` asks for and why (npm/node_choice.h; `configured` is
// .ovvoc.yml's `node:`; `remembered` the major its baseline last passed on, which wins over
// the project's files but not over `configured`), and which of `runtimes` runs it: that
// major's, else the default's (`default_major`; also what a project that names no node gets).
JobNode ChooseJobNode(const std::string& root, const npm::Project& project,
                      absl::string_view configured, int remembered,
                      const std::vector<NodeRuntime>& runtimes, int default_major,
                      absl::Time today);

// What the job does with a checkout, decided before any of its code runs.
struct CheckoutPlan {
  ovvoc::v1::Plan plan;
  npm::Project project;
  // Chosen when PlanInputs::runtimes is not empty.
  std::optional<JobNode> node;
  // Which of the chosen image's npms runs (npm/npm_choice.h); set with `node`.
  std::optional<npm::NpmChoice> npm;
  // `.ovvoc.yml`'s commands for the root directory; empty: the project's npm scripts.
  std::vector<std::string> test;
  std::vector<std::string> build;
};

// Reads the project and policy at `root`, chooses its node and plans it. Errors: the root
// package.json cannot be read, or `inputs.policy_file` cannot; every other problem is a line
// in the plan.
absl::StatusOr<CheckoutPlan> PlanCheckout(const std::string& root, npm::PackumentSource& source,
                                          const PlanInputs& inputs);

}  // namespace ovvoc::agent

#endif  // OVVOC_AGENT_PIPELINE_PLAN_STEP_H_
