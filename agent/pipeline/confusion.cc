#include "agent/pipeline/confusion.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "agent/npm/packument.h"
#include "agent/pipeline/plan_step.h"

namespace ovvoc::agent {
namespace {

constexpr size_t kVersionsNamed = 3;

}  // namespace

std::vector<registry::RegistryEndpoint> PrivateRegistries(
    const std::vector<registry::RegistryEndpoint>& job_endpoints, const SandboxSettings& settings) {
  std::string public_url;
  for (const registry::RegistryEndpoint& e : job_endpoints) {
    if (e.scope.empty()) public_url = e.url;
  }
  std::vector<registry::RegistryEndpoint> out;
  auto add = [&](registry::RegistryEndpoint endpoint) {
    if (endpoint.url == public_url) return;
    for (const registry::RegistryEndpoint& known : out) {
      if (known.url == endpoint.url) return;
    }
    out.push_back(std::move(endpoint));
  };
  for (const registry::RegistryEndpoint& e : job_endpoints) {
    if (!e.scope.empty()) add(e);
  }
  for (const ovvoc::v1::Registry& configured : settings.credentials) {
    absl::StatusOr<registry::RegistryEndpoint> endpoint =
        registry::RegistryEndpoint::FromProto(configured, false);
    if (!endpoint.ok()) continue;
    endpoint->allow_internal = AgentAllowsInternal(settings, *endpoint);
    endpoint->credential = configured.credential();
    endpoint->scope.clear();
    add(*std::move(endpoint));
  }
  return out;
}

RegistryView ClientView(registry::RegistryClient& client,
                        registry::RegistryClient::Cancelled cancelled) {
  return [&client, cancelled](
             const registry::RegistryEndpoint& endpoint,
             const std::string& name) -> absl::StatusOr<std::map<std::string, std::string>> {
    if (!registry::IsPackageName(name)) return absl::InvalidArgumentError("not a package name");
    const std::string path = endpoint.path + absl::StrReplaceAll(name, {{"/", "%2f"}});
    absl::StatusOr<registry::CachedPackument> body =
        client.Packument(endpoint, path, registry::kAcceptFull, cancelled);
    if (!body.ok()) return body.status();
    absl::StatusOr<npm::Packument> packument = npm::ParsePackument(body->body);
    if (!packument.ok()) return packument.status();
    std::map<std::string, std::string> versions;
    for (const npm::PackumentVersion& v : packument->versions) versions[v.version] = v.integrity;
    return versions;
  };
}

std::vector<ovvoc::v1::SecurityFinding> ConfusionFindings(const ConfusionInputs& in) {
  std::vector<ovvoc::v1::SecurityFinding> findings;
  if (in.private_registries.empty() || !in.view) return findings;
  std::vector<std::string> names;
  for (const std::string& name : in.names) {
    if (name.empty() || name[0] == '@') continue;  // scoped: its scope names its registry
    if (std::find(names.begin(), names.end(), name) != names.end()) continue;
    if (names.size() == in.max_names) break;
    names.push_back(name);
  }
  for (const std::string& name : names) {
    absl::StatusOr<std::map<std::string, std::string>> public_view =
        in.view(in.public_registry, name);
    if (!public_view.ok()) continue;  // not from the public registry, or it cannot say
    for (const registry::RegistryEndpoint& private_registry : in.private_registries) {
      absl::StatusOr<std::map<std::string, std::string>> private_view =
          in.view(private_registry, name);
      if (!private_view.ok()) continue;
      std::vector<std::string> own;
      for (const auto& [version, integrity] : *private_view) {
        auto same = public_view->find(version);
        if (same == public_view->end() || same->second != integrity) own.push_back(version);
      }
      if (own.empty()) continue;  // a proxy of the public registry: nothing of its own
      const size_t shown = std::min(own.size(), kVersionsNamed);
      ovvoc::v1::SecurityFinding& finding = findings.emplace_back();
      finding.set_kind("dependency-confusion");
      finding.set_severity(ovvoc::v1::SEVERITY_HIGH);
      finding.set_package(name);
      finding.set_detail(absl::StrCat(
          name, " comes from ", in.public_registry.url, ", and ", private_registry.url,
          " (a private registry of this job) serves a package of that name with ", own.size(),
          " version(s) the public one lacks or holds with other bytes (",
          absl::StrJoin(own.begin(), own.begin() + shown, ", "), own.size() > shown ? ", ..." : "",
          "): the public package may be impersonating the private one"));
      break;
    }
  }
  return findings;
}

}  // namespace ovvoc::agent
