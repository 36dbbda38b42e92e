#include "agent/pipeline/plan_step.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "agent/npm/node_choice.h"
#include "agent/npm/policy.h"
#include "agent/npm/project.h"
#include "agent/pipeline/sandbox_session.h"
#include "common/status_macros.h"
#include "common/time_util.h"

namespace ovvoc::agent {

absl::StatusOr<std::vector<registry::RegistryEndpoint>> JobEndpoints(
    const ovvoc::v1::JobSpec& spec, const SandboxSettings& settings) {
  std::vector<registry::RegistryEndpoint> endpoints;
  for (const ovvoc::v1::Registry& registry : JobRegistries(spec, settings.registry_override)) {
    // Only the agent's own configuration may open internal addresses, never the job.
    OVVOC_ASSIGN_OR_RETURN(registry::RegistryEndpoint endpoint,
                           registry::RegistryEndpoint::FromProto(registry, false));
    const std::string host_port = absl::StrCat(endpoint.host, ":", endpoint.port);
    endpoint.allow_internal =
        std::find(settings.allow_internal.begin(), settings.allow_internal.end(), host_port) !=
        settings.allow_internal.end();
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

ovvoc::v1::NodeChoice ChooseJobNode(const std::string& root, const npm::Project& project,
                                    absl::string_view image_node, absl::Time today) {
  ovvoc::v1::NodeChoice out;
  out.set_ran(std::string(image_node));
  const npm::NodeChoice choice =
      npm::ChooseNode(root, project,
                      std::vector<int>(std::begin(kSupportedNodeMajors),
                                       std::end(kSupportedNodeMajors)),
                      /*configured=*/"", today);
  out.set_wanted_major(choice.major);
  out.set_source(choice.source);
  out.set_reason(choice.reason);
  int image_major = 0;
  if (choice.source == "default" &&
      absl::SimpleAtoi(image_node.substr(0, image_node.find('.')), &image_major)) {
    // Nothing asks for another: the image's own node is the one to use.
    out.set_wanted_major(image_major);
    out.set_reason("the project names no node version: the job image's");
  }
  for (const std::string& line : choice.considered) out.add_considered(line);
  return out;
}

absl::StatusOr<ovvoc::v1::Plan> PlanCheckout(const std::string& root, npm::PackumentSource& source,
                                             const PlanInputs& inputs,
                                             npm::Project* project_out) {
  const absl::Time start = absl::Now();
  OVVOC_ASSIGN_OR_RETURN(npm::Project project, npm::ReadProject(root));
  npm::PolicyOptions policy_options;
  policy_options.policy_file = inputs.policy_file;
  OVVOC_ASSIGN_OR_RETURN(npm::Policy policy, npm::LoadPolicy(root, policy_options));
  npm::PlanOptions options;
  options.now = inputs.now;
  options.node_version = inputs.node_version;
  options.npm_version = inputs.npm_version;
  options.work_deadline =
      start + std::min(inputs.time_left, kPlanFetchBudget + npm::kPlanWorkBudget);
  ovvoc::v1::Plan plan = npm::MakePlan(project, policy, source, options);
  *plan.mutable_duration() = ToProto(absl::Now() - start);
  if (project_out != nullptr) *project_out = std::move(project);
  return plan;
}

}  // namespace ovvoc::agent
