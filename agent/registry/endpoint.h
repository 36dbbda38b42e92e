// A registry a job may read from, and which requests count as reading it.
//
// A registry is a URL: "https://registry.npmjs.org/", "https://host/npm/". Reading it is GET or
// HEAD of a packument or a tarball under that URL's path, nothing else:
//   <path>name                      <path>@scope%2fname   <path>@scope/name     packuments
//   <path>name/-/file.tgz           <path>@scope/name/-/file.tgz               tarballs
// No query string, no "-/..." API (publish, login, search, tokens, dist-tags, audit), no other
// method. Pure values and functions, thread-safe.
#ifndef OVVOC_AGENT_REGISTRY_ENDPOINT_H_
#define OVVOC_AGENT_REGISTRY_ENDPOINT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/http.h"
#include "ovvoc/v1/job.pb.h"

namespace ovvoc::agent::registry {

struct RegistryEndpoint {
  std::string url;    // normalized: scheme://host[:port]/path/ (always ends with '/')
  std::string scope;  // "@acme", or "" for the default registry
  bool https = true;
  std::string host;  // NormalizeHost() form
  int port = 443;
  std::string path = "/";  // begins and ends with '/'
  // May resolve to private or loopback addresses: only the agent's own configuration says so.
  bool allow_internal = false;
  ovvoc::v1::RegistryCredential credential;

  // Parses `registry.url()`; `allow_internal` is the agent's decision, not the job's.
  static absl::StatusOr<RegistryEndpoint> FromProto(const ovvoc::v1::Registry& registry,
                                                    bool allow_internal);
  // "https://host[:port]", the URL's origin: what a request's path is appended to.
  std::string origin() const;
  bool SameOrigin(bool https, absl::string_view host, int port) const;
  // The Authorization header the credential asks for, or "" without one.
  std::string Authorization() const;
  // Whose cache entries this registry's reads may use (RegistryCache): "" without a
  // credential, else a hash of the credential and the registry.
  std::string CacheScope() const;
};

// Whether `name` is a package name as it appears in a registry URL: "name" or "@scope/name",
// today's characters and the legacy ones, no "." or "_" first, no path tricks.
bool IsPackageName(absl::string_view name);

enum class ReadKind { kPackument, kTarball };

struct RegistryRead {
  ReadKind kind = ReadKind::kPackument;
  std::string package;  // "name" or "@scope/name"
  std::string path;     // origin-form, as asked: "/npm/@scope%2fname"
};

// What `method target` (target origin-form) reads from `endpoint`; PermissionDenied with the
// reason when it is not a read of a package on it.
absl::StatusOr<RegistryRead> ClassifyRead(const RegistryEndpoint& endpoint,
                                          absl::string_view method, absl::string_view target);

// The target with its query string cut and its length bounded: what a finding may name.
std::string PathForReport(absl::string_view target);

}  // namespace ovvoc::agent::registry

#endif  // OVVOC_AGENT_REGISTRY_ENDPOINT_H_
