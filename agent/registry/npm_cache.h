// Seeding a job's npm cache with the tarballs the agent fetched and checked, so that `npm ci`
// finds every package by its integrity (pacote looks in cacache's content-v2 store by digest
// before it asks the network) and asks the gateway for nothing.
#ifndef OVVOC_AGENT_REGISTRY_NPM_CACHE_H_
#define OVVOC_AGENT_REGISTRY_NPM_CACHE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include <vector>

#include "agent/registry/client.h"
#include "agent/registry/endpoint.h"
#include "agent/registry/prefetch.h"

namespace ovvoc::agent::registry {

// Makes a fresh directory named `name` directly in `parent` (which must not be a symlink; the
// name must not exist) and fills it as an npm cache (cacache: _cacache/content-v2/ALGO/aa/bb/
// REST) with every tarball of `prefetched`, copied out of the agent's cache (as `client` may
// read it for the registry serving each URL of `registries`); everything owned by
// `uid`:`uid`. Nothing is followed or written through: only what this call created is written.
// Returns the number of tarballs seeded.
absl::StatusOr<int> SeedNpmCache(RegistryClient& client,
                                 const std::vector<RegistryEndpoint>& registries,
                                 const Prefetched& prefetched, const std::string& parent,
                                 const std::string& name, uint32_t uid);

}  // namespace ovvoc::agent::registry

#endif  // OVVOC_AGENT_REGISTRY_NPM_CACHE_H_
