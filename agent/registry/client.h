// RegistryClient: how the agent itself reads registries: packuments and tarballs, over the
// agent's HTTP client (libcurl), through the agent's RegistryCache. The gateway uses it for what
// a job's npm asks for; the lockfile prefetch and the update planner use it directly.
//
// - Credentials (RegistryEndpoint::credential) go only to URLs under their registry's URL, and
//   only with plain paths (no dot segments or encoded dots, sent as they are).
// - What one credential fetched is cached for that credential alone (CacheScope()).
// - Every address dialled is checked against address_policy.h unless the registry is
//   allow_internal, after resolution (no rebinding between check and connect).
// - Packuments must be JSON objects and tarballs must match their integrity before they are
//   returned or cached; a registry that lies fails the read with DataLoss saying so.
// - Retries: transport failures, 429 and 5xx, with backoff and Retry-After (http.h).
//
// Thread-safe: one per agent, shared by its jobs.
#ifndef OVVOC_AGENT_REGISTRY_CLIENT_H_
#define OVVOC_AGENT_REGISTRY_CLIENT_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/registry/cache.h"
#include "agent/registry/endpoint.h"
#include "agent/registry/integrity.h"
#include "common/clock.h"
#include "common/http.h"
#include "common/unique_fd.h"

namespace ovvoc::agent::registry {

// npm's Accept for install-time packuments ("corgi"), and the full document.
inline constexpr char kAcceptCorgi[] =
    "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";
inline constexpr char kAcceptFull[] = "application/json";

struct RegistryClientOptions {
  // A packument without validators is used this long before it is fetched again; one with
  // validators is revalidated after it (a 304 costs no body).
  absl::Duration packument_ttl = absl::Minutes(5);
  size_t max_packument_bytes = 128 << 20;
  size_t max_tarball_bytes = 512 << 20;
  absl::Duration timeout = absl::Minutes(2);
  http::RetryPolicy retry;
};

class RegistryClient {
 public:
  // Polled while a read waits on the registry: true abandons it with CANCELLED.
  using Cancelled = std::function<bool()>;

  // Borrows all three; they must outlive it.
  RegistryClient(http::Client& http, RegistryCache& cache, const Clock& clock,
                 RegistryClientOptions options = {});

  // The packument at `path` (origin-form, under endpoint.path) in the form `accept` asks for
  // (kAcceptCorgi when it names npm's install format, else the full one). From the cache while
  // fresh; revalidated or fetched otherwise. NotFound when the registry says 404.
  absl::StatusOr<CachedPackument> Packument(const RegistryEndpoint& endpoint, absl::string_view path,
                                            absl::string_view accept,
                                            const Cancelled& cancelled = {});
  // Only what the cache holds, however old; NotFound otherwise. Never goes upstream.
  absl::StatusOr<CachedPackument> CachedOnly(const RegistryEndpoint& endpoint,
                                             absl::string_view path, absl::string_view accept);
  // The same, as a file to stream (script mode: what a job asks for need not fit in memory).
  absl::StatusOr<RegistryCache::PackumentFile> CachedOnlyFile(const RegistryEndpoint& endpoint,
                                                              absl::string_view path,
                                                              absl::string_view accept);

  // The tarball at `path` with `integrity`, opened for reading from the cache, fetched and
  // checked first when it is not there. DataLoss when the registry's bytes do not match.
  absl::StatusOr<UniqueFd> Tarball(const RegistryEndpoint& endpoint, absl::string_view path,
                                   const Integrity& integrity, const Cancelled& cancelled = {});

  // Only what the cache holds for this registry's credential scope; never goes upstream.
  absl::StatusOr<UniqueFd> CachedTarball(const RegistryEndpoint& endpoint,
                                         const Integrity& integrity);
  bool HasCachedTarball(const RegistryEndpoint& endpoint, const Integrity& integrity);

  // A tarball whose integrity is not known (resolve mode): fetched, not cached.
  absl::StatusOr<http::Response> Uncached(const RegistryEndpoint& endpoint, absl::string_view path,
                                          const Cancelled& cancelled = {});


 private:
  http::Request MakeRequest(const RegistryEndpoint& endpoint, absl::string_view path,
                            const Cancelled& cancelled) const;
  absl::StatusOr<http::Response> Get(const http::Request& request);

  http::Client& http_;
  RegistryCache& cache_;
  const Clock& clock_;
  const RegistryClientOptions options_;
};

// Whether `accept` asks for npm's install format.
bool WantsCorgi(absl::string_view accept);

}  // namespace ovvoc::agent::registry

#endif  // OVVOC_AGENT_REGISTRY_CLIENT_H_
