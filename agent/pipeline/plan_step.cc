#include "agent/pipeline/plan_step.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "agent/npm/node_choice.h"
#include "agent/npm/policy.h"
#include "agent/npm/project.h"
#include "agent/npm/semver.h"
#include "agent/pipeline/sandbox_session.h"
#include "common/status_macros.h"
#include "common/time_util.h"

namespace ovvoc::agent {

bool AgentAllowsInternal(const SandboxSettings& settings,
                         const registry::RegistryEndpoint& endpoint) {
  const std::string host_port = absl::StrCat(endpoint.host, ":", endpoint.port);
  return std::find(settings.allow_internal.begin(), settings.allow_internal.end(), host_port) !=
         settings.allow_internal.end();
}

absl::StatusOr<std::vector<registry::RegistryEndpoint>> JobEndpoints(
    const ovvoc::v1::JobSpec& spec, const SandboxSettings& settings) {
  std::vector<registry::RegistryEndpoint> endpoints;
  for (const ovvoc::v1::Registry& registry : JobRegistries(spec, settings.registry_override)) {
    // Only the agent's own configuration may open internal addresses, never the job.
    OVVOC_ASSIGN_OR_RETURN(registry::RegistryEndpoint endpoint,
                           registry::RegistryEndpoint::FromProto(registry, false));
    endpoint.allow_internal = AgentAllowsInternal(settings, endpoint);
    for (const ovvoc::v1::Registry& configured : settings.credentials) {
      absl::StatusOr<registry::RegistryEndpoint> same =
          registry::RegistryEndpoint::FromProto(configured, false);
      if (same.ok() && same->url == endpoint.url) endpoint.credential = configured.credential();
    }
    endpoints.push_back(std::move(endpoint));
  }
  return endpoints;
}

RegistryPackuments::RegistryPackuments(registry::RegistryClient& client,
                                       std::vector<registry::RegistryEndpoint> endpoints,
                                       Stop stop, size_t max_held_bytes)
    : client_(client),
      endpoints_(std::move(endpoints)),
      stop_(std::move(stop)),
      max_held_bytes_(max_held_bytes),
      cancelled_([this] { return !Stopped().empty(); }) {}

npm::PackumentSource::Fetched RegistryPackuments::FetchOne(const std::string& name) {
  Fetched fetched;
  const registry::RegistryEndpoint* endpoint = nullptr;
  const std::string scope = name.size() > 1 && name[0] == '@' ? name.substr(0, name.find('/')) : "";
  for (const registry::RegistryEndpoint& e : endpoints_) {
    if (!scope.empty() && e.scope == scope) endpoint = &e;
  }
  for (const registry::RegistryEndpoint& e : endpoints_) {
    if (endpoint == nullptr && e.scope.empty()) endpoint = &e;
  }
  if (endpoint == nullptr) {
    fetched.packument = absl::FailedPreconditionError("no registry is configured for it");
    return fetched;
  }
  fetched.registry = endpoint->url;
  if (!registry::IsPackageName(name)) {
    fetched.packument = absl::InvalidArgumentError("not a package name a registry serves");
    return fetched;
  }
  if (std::string why = Stopped(); !why.empty()) {
    fetched.packument = absl::DeadlineExceededError(why);
    return fetched;
  }
  // npm's own form of a scoped packument's path: @scope%2fname.
  const std::string path = endpoint->path + absl::StrReplaceAll(name, {{"/", "%2f"}});
  absl::StatusOr<registry::CachedPackument> body =
      client_.Packument(*endpoint, path, registry::kAcceptFull, cancelled_);
  if (!body.ok()) {
    std::string why = absl::IsCancelled(body.status()) ? Stopped() : "";
    fetched.packument = why.empty() ? body.status() : absl::DeadlineExceededError(why);
    return fetched;
  }
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* parsing) { return *parsing < kParallelParses; }, &parsing_));
    ++parsing_;
  }
  fetched.packument = npm::ParsePackument(body->body);
  absl::MutexLock lock(&mu_);
  --parsing_;
  if (fetched.packument.ok()) {
    held_bytes_ += fetched.packument->ApproximateBytes();
    if (held_bytes_ > max_held_bytes_) {
      held_bytes_ -= fetched.packument->ApproximateBytes();
      fetched.packument = absl::ResourceExhaustedError(absl::StrCat(
          "not kept: this plan's registry metadata passed ", max_held_bytes_ >> 20, " MiB"));
    }
  }
  return fetched;
}

std::vector<npm::PackumentSource::Fetched> RegistryPackuments::Fetch(
    const std::vector<std::string>& names) {
  std::vector<Fetched> out(names.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < names.size(); i = next++) out[i] = FetchOne(names[i]);
  };
  std::vector<std::thread> threads;
  const size_t n = std::min<size_t>(kParallel, names.size());
  for (size_t i = 1; i < n; ++i) threads.emplace_back(work);
  work();
  for (std::thread& t : threads) t.join();
  return out;
}

JobNode ChooseJobNode(const std::string& root, const npm::Project& project,
                      absl::string_view configured, int remembered,
                      const std::vector<NodeRuntime>& runtimes, int default_major,
                      absl::Time today) {
  JobNode out;
  ovvoc::v1::NodeChoice& record = out.record;
  const npm::NodeChoice choice = npm::ChooseNode(
      root, project,
      std::vector<int>(std::begin(kSupportedNodeMajors), std::end(kSupportedNodeMajors)),
      configured, today);
  record.set_wanted_major(choice.major);
  record.set_source(choice.source);
  record.set_reason(choice.reason);
  if (choice.source == "default" && default_major != 0) {
    // Nothing asks for another: the agent's default is the one to use.
    record.set_wanted_major(default_major);
    record.set_reason("the project names no node version: the agent's default");
  }
  const bool supported =
      std::find(std::begin(kSupportedNodeMajors), std::end(kSupportedNodeMajors), remembered) !=
      std::end(kSupportedNodeMajors);
  if (configured.empty() && remembered != 0 && supported) {
    record.set_wanted_major(remembered);
    record.set_source("remembered");
    record.set_reason(
        absl::StrCat("this repository's last baseline passed on node ", remembered));
    record.add_considered(absl::StrCat("remembered: node ", remembered));
  }
  for (const std::string& line : choice.considered) record.add_considered(line);
  const NodeRuntime* fallback = nullptr;
  for (const NodeRuntime& runtime : runtimes) {
    if (runtime.major == static_cast<int>(record.wanted_major())) out.runtime = runtime;
    if (runtime.major == default_major) fallback = &runtime;
  }
  if (out.runtime.major == 0 && fallback != nullptr) out.runtime = *fallback;
  record.set_ran(out.runtime.node_version);

  // What the project allows, for a failing baseline's retries.
  std::string allowed(configured);
  for (const auto& [engine, range] : project.root.engines) {
    if (allowed.empty() && engine == "node") allowed = range;
  }
  std::vector<NodeRuntime> below, above;
  for (const NodeRuntime& runtime : runtimes) {
    if (runtime.major == out.runtime.major || runtime.node_version.empty()) continue;
    if (!allowed.empty()) {
      absl::StatusOr<bool> meets =
          npm::Satisfies(runtime.node_version, allowed, npm::Options{.loose = true});
      if (!meets.ok() || !*meets) continue;
    }
    (runtime.major < out.runtime.major ? below : above).push_back(runtime);
  }
  auto by_major = [](const NodeRuntime& a, const NodeRuntime& b) { return a.major < b.major; };
  std::sort(below.begin(), below.end(), [&](auto& a, auto& b) { return by_major(b, a); });
  std::sort(above.begin(), above.end(), by_major);
  out.alternatives = std::move(below);
  out.alternatives.insert(out.alternatives.end(), above.begin(), above.end());
  return out;
}

absl::StatusOr<CheckoutPlan> PlanCheckout(const std::string& root, npm::PackumentSource& source,
                                          const PlanInputs& inputs) {
  const absl::Time start = absl::Now();
  CheckoutPlan out;
  OVVOC_ASSIGN_OR_RETURN(out.project, npm::ReadProject(root));
  npm::PolicyOptions policy_options;
  policy_options.policy_file = inputs.policy_file;
  OVVOC_ASSIGN_OR_RETURN(npm::Policy policy, npm::LoadPolicy(root, policy_options));
  const npm::PolicyEntry* entry = npm::EntryFor(policy, "/");
  npm::PlanOptions options;
  options.now = inputs.now;
  options.node_version = inputs.node_version;
  options.npm_version = inputs.npm_version;
  if (!inputs.runtimes.empty()) {
    out.node = ChooseJobNode(root, out.project, entry != nullptr ? entry->node : "",
                             inputs.remembered_major, inputs.runtimes, inputs.default_major,
                             inputs.now);
    if (out.node->runtime.major != 0) {
      options.node_version = "v" + out.node->runtime.node_version;
      out.npm = npm::ChooseNpm(out.project, out.node->runtime.npm_version, out.node->runtime.npms);
      options.npm_version = out.npm->version;
    }
  }
  if (entry != nullptr) {
    out.test = entry->test;
    out.build = entry->build;
  }
  options.work_deadline =
      start + std::min(inputs.time_left, kPlanFetchBudget + npm::kPlanWorkBudget);
  out.plan = npm::MakePlan(out.project, policy, source, options);
  *out.plan.mutable_duration() = ToProto(absl::Now() - start);
  return out;
}

}  // namespace ovvoc::agent
