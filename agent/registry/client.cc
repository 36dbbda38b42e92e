#include "agent/registry/client.h"

#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/registry/address_policy.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace ovvoc::agent::registry {
namespace {

// A JSON object, checked without building it (a packument can be tens of MiB).
bool IsJsonObject(absl::string_view body) {
  const size_t first = body.find_first_not_of(" \t\r\n");
  if (first == absl::string_view::npos || body[first] != '{') return false;
  return nlohmann::json::accept(body.begin(), body.end());
}

// A header value a registry sent, if it is printable ASCII: the only kind worth keeping and
// sending on (as a validator, or to the container); anything else is as if it were absent.
std::optional<std::string> AsciiHeader(const http::Response& response, absl::string_view name) {
  std::optional<std::string> value = response.Header(name);
  if (!value) return std::nullopt;
  for (char c : *value) {
    if (c < 0x20 || c > 0x7e) return std::nullopt;
  }
  return value;
}

std::string CacheKey(const RegistryEndpoint& endpoint, absl::string_view path, bool corgi) {
  return absl::StrCat(corgi ? "corgi " : "full ", endpoint.CacheScope(), " ", endpoint.origin(),
                      path);
}

// A path libcurl would send as it is (CURLOPT_PATH_AS_IS) and a server could not resolve to
// somewhere else: no dot segments, no encoded dots or slashes but a scoped name's one "%2f".
bool PlainPath(absl::string_view path) {
  const std::string lower = absl::AsciiStrToLower(path);
  if (!absl::StartsWith(lower, "/") || absl::StrContains(lower, "%2e") ||
      absl::StrContains(lower, "%5c") || absl::StrContains(lower, "\\") ||
      absl::StrContains(lower, "?") || absl::StrContains(lower, "#")) {
    return false;
  }
  for (absl::string_view segment : absl::StrSplit(lower, '/')) {
    if (segment == "." || segment == "..") return false;
  }
  return true;
}

absl::Status CheckPublic(const struct sockaddr* address, size_t length) {
  std::optional<IpAddress> ip = IpAddress::FromSockaddr(address, length);
  if (!ip) return absl::PermissionDeniedError("an address of an unknown family");
  if (std::optional<BlockedRange> range = FindBlockedRange(*ip)) {
    return absl::PermissionDeniedError(absl::StrCat("resolves to a non-public address ",
                                                    ip->ToString(), " (", range->Describe(), ")"));
  }
  return absl::OkStatus();
}

absl::Status UpstreamStatus(const http::Request& request, const http::Response& response) {
  return absl::UnavailableError(
      absl::StrCat(request.method, " ", request.url, ": the registry answered ", response.status));
}

}  // namespace

bool WantsCorgi(absl::string_view accept) {
  return absl::StrContains(absl::AsciiStrToLower(accept), "application/vnd.npm.install-v1+json");
}

RegistryClient::RegistryClient(http::Client& http, RegistryCache& cache, const Clock& clock,
                               RegistryClientOptions options)
    : http_(http), cache_(cache), clock_(clock), options_(std::move(options)) {}

http::Request RegistryClient::MakeRequest(const RegistryEndpoint& endpoint,
                                          absl::string_view path,
                                          const Cancelled& cancelled) const {
  http::Request request;
  request.cancelled = cancelled;
  request.url = absl::StrCat(endpoint.origin(), path);
  request.timeout = options_.timeout;
  // Only the registry's own URLs get its credential; `path` is under endpoint.path by the
  // callers' ClassifyRead, and checked again here.
  if (absl::StartsWith(path, endpoint.path)) {
    if (std::string authorization = endpoint.Authorization(); !authorization.empty()) {
      request.headers.emplace_back("Authorization", std::move(authorization));
    }
  }
  if (!endpoint.allow_internal) request.check_address = CheckPublic;
  return request;
}

absl::StatusOr<http::Response> RegistryClient::Get(const http::Request& request) {
  // A path that is not plain never leaves (the callers' paths are; this is the last check).
  const size_t slash = request.url.find('/', request.url.find("://") + 3);
  if (slash == std::string::npos || !PlainPath(absl::string_view(request.url).substr(slash))) {
    return absl::InvalidArgumentError(absl::StrCat("not a plain registry path: ", request.url));
  }
  return http::SendWithRetries(http_, request, options_.retry);
}

absl::StatusOr<CachedPackument> RegistryClient::Packument(const RegistryEndpoint& endpoint,
                                                          absl::string_view path,
                                                          absl::string_view accept,
                                                          const Cancelled& cancelled) {
  const bool corgi = WantsCorgi(accept);
  const std::string key = CacheKey(endpoint, path, corgi);
  std::optional<CachedPackument> cached = cache_.GetPackument(key);
  const absl::Time now = clock_.Now();
  if (cached && now - cached->fetched < options_.packument_ttl) return *std::move(cached);

  http::Request request = MakeRequest(endpoint, path, cancelled);
  request.headers.emplace_back("Accept", corgi ? kAcceptCorgi : kAcceptFull);
  request.max_body_bytes = options_.max_packument_bytes;
  if (cached && !cached->etag.empty()) request.headers.emplace_back("If-None-Match", cached->etag);
  if (cached && !cached->last_modified.empty()) {
    request.headers.emplace_back("If-Modified-Since", cached->last_modified);
  }
  OVVOC_ASSIGN_OR_RETURN(http::Response response, Get(request));
  if (response.status == 304 && cached) {
    cached->fetched = now;
    if (absl::Status s = cache_.PutPackument(key, *cached); !s.ok()) log::Warning("%s", s.ToString());
    return *std::move(cached);
  }
  if (response.status == 404) {
    return absl::NotFoundError(absl::StrCat("GET ", request.url, ": the registry has no such package"));
  }
  if (response.status != 200) return UpstreamStatus(request, response);
  if (!IsJsonObject(response.body)) {
    return absl::DataLossError(absl::StrCat("GET ", request.url,
                                            ": the registry sent a packument that is not a JSON object"));
  }
  CachedPackument fresh;
  fresh.body = std::move(response.body);
  fresh.content_type = AsciiHeader(response, "content-type").value_or("application/json");
  fresh.etag = AsciiHeader(response, "etag").value_or("");
  fresh.last_modified = AsciiHeader(response, "last-modified").value_or("");
  fresh.fetched = now;
  if (absl::Status s = cache_.PutPackument(key, fresh); !s.ok()) log::Warning("%s", s.ToString());
  return fresh;
}

absl::StatusOr<CachedPackument> RegistryClient::CachedOnly(const RegistryEndpoint& endpoint,
                                                           absl::string_view path,
                                                           absl::string_view accept) {
  std::optional<CachedPackument> cached =
      cache_.GetPackument(CacheKey(endpoint, path, WantsCorgi(accept)));
  if (!cached) return absl::NotFoundError(absl::StrCat(endpoint.origin(), path, " is not cached"));
  return *std::move(cached);
}

absl::StatusOr<RegistryCache::PackumentFile> RegistryClient::CachedOnlyFile(
    const RegistryEndpoint& endpoint, absl::string_view path, absl::string_view accept) {
  return cache_.OpenPackument(CacheKey(endpoint, path, WantsCorgi(accept)));
}

absl::StatusOr<UniqueFd> RegistryClient::Tarball(const RegistryEndpoint& endpoint,
                                                 absl::string_view path,
                                                 const Integrity& integrity,
                                                 const Cancelled& cancelled) {
  const std::string scope = endpoint.CacheScope();
  if (absl::StatusOr<UniqueFd> cached = cache_.OpenTarball(scope, integrity); cached.ok()) {
    return cached;
  }
  // Streamed to the cache's file and hashed on the way: never held in memory.
  OVVOC_ASSIGN_OR_RETURN(std::unique_ptr<RegistryCache::TarballWriter> writer,
                         cache_.NewTarball(scope, integrity));
  http::Request request = MakeRequest(endpoint, path, cancelled);
  request.max_body_bytes = options_.max_tarball_bytes;
  request.body_sink = writer.get();
  OVVOC_ASSIGN_OR_RETURN(http::Response response, Get(request));
  if (response.status != 200) return UpstreamStatus(request, response);
  if (absl::Status kept = writer->Commit(); !kept.ok()) {
    if (absl::IsDataLoss(kept)) {
      return absl::DataLossError(absl::StrCat("GET ", request.url,
                                              ": the registry sent a tarball that does not match "
                                              "its integrity (",
                                              kept.message(), ")"));
    }
    return kept;
  }
  return cache_.OpenTarball(scope, integrity);
}

absl::StatusOr<UniqueFd> RegistryClient::CachedTarball(const RegistryEndpoint& endpoint,
                                                       const Integrity& integrity) {
  return cache_.OpenTarball(endpoint.CacheScope(), integrity);
}

bool RegistryClient::HasCachedTarball(const RegistryEndpoint& endpoint,
                                      const Integrity& integrity) {
  return cache_.HasTarball(endpoint.CacheScope(), integrity);
}

absl::StatusOr<http::Response> RegistryClient::Uncached(const RegistryEndpoint& endpoint,
                                                        absl::string_view path,
                                                        const Cancelled& cancelled) {
  http::Request request = MakeRequest(endpoint, path, cancelled);
  request.max_body_bytes = options_.max_tarball_bytes;
  return Get(request);
}

}  // namespace ovvoc::agent::registry
