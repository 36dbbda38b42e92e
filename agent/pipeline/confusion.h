// Dependency confusion (issue 12): an unscoped package that a proposal brings into the tree, or
// updates, from the job's default registry, while a private registry configured for the job (a
// scoped one) or for the agent (one it holds credentials for) serves a package of the same name
// with versions the default registry does not have, or has with other bytes. That is the
// internal package the project may mean, and the public one may be its impostor (Alex Birsan,
// "Dependency Confusion", 2021). A private registry that proxies the public one serves the
// public versions too, with the same bytes: those alone are no finding.
#ifndef OVVOC_AGENT_PIPELINE_CONFUSION_H_
#define OVVOC_AGENT_PIPELINE_CONFUSION_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/pipeline/sandbox_session.h"
#include "agent/registry/client.h"
#include "agent/registry/endpoint.h"
#include "ovvoc/v1/job.pb.h"

namespace ovvoc::agent {

// The job's private registries: its scoped ones and those the agent holds credentials for,
// each once, but the default registry (JobEndpoints' unscoped one).
std::vector<registry::RegistryEndpoint> PrivateRegistries(
    const std::vector<registry::RegistryEndpoint>& job_endpoints, const SandboxSettings& settings);

// What one registry serves of a name: version -> integrity (npm::PackumentVersion::integrity).
// NotFound when it serves no such package; another error when it could not say.
using RegistryView = std::function<absl::StatusOr<std::map<std::string, std::string>>(
    const registry::RegistryEndpoint& registry, const std::string& name)>;

// A RegistryView through the agent's registry client (its cache, its credentials).
RegistryView ClientView(registry::RegistryClient& client,
                        registry::RegistryClient::Cancelled cancelled = {});

struct ConfusionInputs {
  std::vector<std::string> names;  // new to the tree, and updated; only unscoped ones are asked
  registry::RegistryEndpoint public_registry;  // the job's default
  std::vector<registry::RegistryEndpoint> private_registries;
  RegistryView view;
  size_t max_names = 50;  // names asked about at most (two reads each per private registry)
};

// One "dependency-confusion" finding (HIGH) per name a private registry serves with versions the
// public one lacks or holds with other bytes. A registry that cannot answer is no finding.
std::vector<ovvoc::v1::SecurityFinding> ConfusionFindings(const ConfusionInputs& in);

}  // namespace ovvoc::agent

#endif  // OVVOC_AGENT_PIPELINE_CONFUSION_H_
