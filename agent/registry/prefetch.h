// Before dependency code runs, the agent itself fetches every tarball the job's lockfile names
// (through RegistryClient, checking each against its lockfile integrity), so that the gateway
// can then run in script mode: serving exactly those, and sending nothing upstream.
#ifndef OVVOC_AGENT_REGISTRY_PREFETCH_H_
#define OVVOC_AGENT_REGISTRY_PREFETCH_H_

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/registry/client.h"
#include "agent/registry/endpoint.h"
#include "agent/registry/integrity.h"

namespace ovvoc::agent::registry {

// One package of a lockfile that npm fetches from a registry.
struct LockedPackage {
  std::string name;     // "name" or "@scope/name" (an alias's target, not its alias)
  std::string version;  // exact
  // The URL npm will fetch it from: the lockfile's `resolved`, with npm's default
  // replace-registry-host rule applied (a registry.npmjs.org URL moves to the package's
  // configured registry); "" when the lockfile has no `resolved`, and npm asks the packument.
  std::string url;
  Integrity integrity;
};

struct LockfilePackages {
  std::vector<LockedPackage> packages;
  // What npm cannot get from a registry (git, file:, remote tarballs on other hosts, entries
  // without integrity), one line each: they fail in script mode, and the job says why.
  std::vector<std::string> unsupported;
  // The names of packages that come in another's bundle (`inBundle`): npm installs them from
  // their parent's tarball, but asks for a packument when the bundle does not satisfy itself.
  std::set<std::string> bundled;
};

// Reads a package-lock.json or npm-shrinkwrap.json (lockfileVersion 1, 2 or 3). Untrusted input:
// InvalidArgument for anything that is not such a lockfile.
absl::StatusOr<LockfilePackages> ReadLockfile(absl::string_view lockfile,
                                              const std::vector<RegistryEndpoint>& registries);

// What the gateway may serve in script mode.
struct Prefetched {
  std::map<std::string, Integrity> tarballs;  // by URL, as GatewayOptions::tarballs
  std::set<std::string> packages;             // packuments fetched (entries without `resolved`)
  int fetched = 0;                            // tarballs that were not cached before
};

// Fetches (or finds cached) every package's tarball, `parallel` at a time. The first failure
// ends it: DataLoss naming the package when a registry's bytes do not match the lockfile,
// the registry's error otherwise.
absl::StatusOr<Prefetched> Prefetch(RegistryClient& client,
                                    const std::vector<RegistryEndpoint>& registries,
                                    const std::vector<LockedPackage>& packages, int parallel,
                                    const RegistryClient::Cancelled& cancelled);

// The packuments of `names` (LockfilePackages::bundled), in both of npm's forms, fetched or found
// cached, at most `max` names, `parallel` at a time: the names whose packuments were read. Best
// effort: a name no job registry serves, or whose read fails, is left out (npm's request for it
// is then refused in script mode, and the install says so).
std::set<std::string> PrefetchPackuments(RegistryClient& client,
                                         const std::vector<RegistryEndpoint>& registries,
                                         const std::set<std::string>& names, size_t max,
                                         int parallel, const RegistryClient::Cancelled& cancelled);

// The registry whose URL `url` is under (the longest such URL), or null.
const RegistryEndpoint* RegistryServing(const std::vector<RegistryEndpoint>& registries,
                                        absl::string_view url);

// The registry that serves `package` (its scope's, else the default one); null when none.
const RegistryEndpoint* RegistryFor(const std::vector<RegistryEndpoint>& registries,
                                    absl::string_view package);

}  // namespace ovvoc::agent::registry

#endif  // OVVOC_AGENT_REGISTRY_PREFETCH_H_
