#include "agent/registry/endpoint.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/registry/request_head.h"
#include "common/crypto.h"
#include "common/status_macros.h"

namespace ovvoc::agent::registry {
namespace {

constexpr size_t kMaxNameLength = 214;  // npm's own limit
constexpr size_t kMaxReportedPath = 200;

absl::Status Refused(absl::string_view reason) { return absl::PermissionDeniedError(reason); }

// A package name's characters as they appear in a registry URL: today's lowercase names and
// the legacy ones (capitals, ~'!()*), never starting with '.' or '_'.
bool IsNameSegment(absl::string_view s) {
  if (s.empty() || s.size() > kMaxNameLength || s[0] == '.' || s[0] == '_') return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) &&
        absl::string_view("-._~'!()*").find(c) == absl::string_view::npos) {
      return false;
    }
  }
  return true;
}

bool IsTarballFile(absl::string_view s) {
  if (!absl::EndsWith(s, ".tgz") || s.size() <= 4 || s.size() > 2 * kMaxNameLength) return false;
  if (s[0] == '.') return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) &&
        absl::string_view("-._~+").find(c) == absl::string_view::npos) {
      return false;
    }
  }
  return true;
}

bool IsScope(absl::string_view s) { return absl::StartsWith(s, "@") && IsNameSegment(s.substr(1)); }

}  // namespace

namespace {
// The URL as it may be shown: never a password it carries.
std::string Shown(absl::string_view url) {
  const size_t scheme = url.find("://");
  const size_t start = scheme == absl::string_view::npos ? 0 : scheme + 3;
  const size_t end = url.find_first_of("/?#", start);
  const absl::string_view authority = url.substr(start, end - start);
  const size_t at = authority.rfind('@');
  if (at == absl::string_view::npos) return std::string(url);
  return absl::StrCat(url.substr(0, start), "[credentials]@", url.substr(start + at + 1));
}
}  // namespace

absl::StatusOr<RegistryEndpoint> RegistryEndpoint::FromProto(const ovvoc::v1::Registry& registry,
                                                             bool allow_internal) {
  const std::string shown = Shown(registry.url());
  absl::string_view url = registry.url();
  RegistryEndpoint out;
  absl::string_view rest;
  if (absl::StartsWithIgnoreCase(url, "https://")) {
    rest = url.substr(8);
  } else if (absl::StartsWithIgnoreCase(url, "http://")) {
    rest = url.substr(7);
    out.https = false;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("registry URL \"", shown, "\" is not http(s)"));
  }
  const size_t slash = rest.find_first_of("/?#");
  absl::string_view path = slash == absl::string_view::npos ? "/" : rest.substr(slash);
  if (absl::StrContains(path, "?") || absl::StrContains(path, "#") ||
      absl::StrContains(path, "..") || absl::StrContains(path, "%") ||
      absl::StrContains(path, "//")) {
    return absl::InvalidArgumentError(
        absl::StrCat("registry URL \"", shown, "\" has a query, a fragment or an unusual path"));
  }
  absl::StatusOr<Authority> authority = ParseAuthority(rest.substr(0, slash), out.https ? 443 : 80);
  if (!authority.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("registry URL \"", shown, "\": ", authority.status().message()));
  }
  out.host = authority->host;
  out.port = authority->port;
  out.path = absl::EndsWith(path, "/") ? std::string(path) : absl::StrCat(path, "/");
  out.url = absl::StrCat(out.origin(), out.path);
  if (!registry.scope().empty() && !IsScope(registry.scope())) {
    return absl::InvalidArgumentError(absl::StrCat("registry scope \"", registry.scope(),
                                                   "\" is not @name"));
  }
  out.scope = registry.scope();
  out.allow_internal = allow_internal;
  out.credential = registry.credential();
  return out;
}

std::string RegistryEndpoint::origin() const {
  const bool default_port = port == (https ? 443 : 80);
  std::string host_text = absl::StrContains(host, ':') ? absl::StrCat("[", host, "]") : host;
  return absl::StrCat(https ? "https://" : "http://", host_text,
                      default_port ? "" : absl::StrCat(":", port));
}

bool RegistryEndpoint::SameOrigin(bool https_in, absl::string_view host_in, int port_in) const {
  return https == https_in && host == host_in && port == port_in;
}

std::string RegistryEndpoint::Authorization() const {
  if (!credential.token().empty()) return absl::StrCat("Bearer ", credential.token());
  if (!credential.username().empty() || !credential.password().empty()) {
    return absl::StrCat("Basic ", crypto::Base64Encode(absl::StrCat(credential.username(), ":",
                                                                    credential.password())));
  }
  return "";
}

std::string RegistryEndpoint::CacheScope() const {
  const std::string authorization = Authorization();
  if (authorization.empty()) return "";
  return crypto::HexEncode(crypto::Sha256(absl::StrCat(url, "\n", authorization))).substr(0, 32);
}

bool IsPackageName(absl::string_view name) {
  if (absl::StartsWith(name, "@")) {
    const size_t slash = name.find('/');
    return slash != absl::string_view::npos && IsScope(name.substr(0, slash)) &&
           IsNameSegment(name.substr(slash + 1));
  }
  return IsNameSegment(name) && name != "-";
}

absl::StatusOr<RegistryRead> ClassifyRead(const RegistryEndpoint& endpoint,
                                          absl::string_view method, absl::string_view target) {
  if (method != "GET" && method != "HEAD") return Refused("only GET and HEAD read a registry");
  if (absl::StrContains(target, "?") || absl::StrContains(target, "#")) {
    return Refused("a query string is not a package read");
  }
  absl::string_view rest = target;
  if (!absl::ConsumePrefix(&rest, endpoint.path)) return Refused("outside the registry's path");
  std::vector<absl::string_view> parts = absl::StrSplit(rest, '/');
  if (parts[0] == "-") return Refused("the registry's API is not a package read");
  RegistryRead read;
  read.path = std::string(target);
  auto tarball = [&](absl::string_view package, absl::string_view dash,
                     absl::string_view file) -> absl::StatusOr<RegistryRead> {
    if (dash != "-" || !IsTarballFile(file)) return Refused("not a package read");
    read.kind = ReadKind::kTarball;
    read.package = std::string(package);
    return read;
  };
  if (parts.size() == 1) {
    absl::string_view name = parts[0];
    // "@scope%2fname", any case of the escape.
    if (absl::StartsWith(name, "@")) {
      const size_t escape = absl::AsciiStrToLower(name).find("%2f");
      if (escape == std::string::npos || !IsScope(name.substr(0, escape)) ||
          !IsNameSegment(name.substr(escape + 3))) {
        return Refused("not a package read");
      }
      read.package = absl::StrCat(name.substr(0, escape), "/", name.substr(escape + 3));
    } else {
      if (!IsNameSegment(name)) return Refused("not a package read");
      read.package = std::string(name);
    }
    return read;
  }
  if (parts.size() == 2 && IsScope(parts[0]) && IsNameSegment(parts[1])) {
    read.package = absl::StrCat(parts[0], "/", parts[1]);
    return read;
  }
  if (parts.size() == 3 && IsNameSegment(parts[0])) return tarball(parts[0], parts[1], parts[2]);
  if (parts.size() == 4 && IsScope(parts[0]) && IsNameSegment(parts[1])) {
    return tarball(absl::StrCat(parts[0], "/", parts[1]), parts[2], parts[3]);
  }
  return Refused("not a package read");
}

std::string PathForReport(absl::string_view target) {
  const size_t query = target.find_first_of("?#");
  std::string path(target.substr(0, query));
  if (path.size() > kMaxReportedPath) path = absl::StrCat(path.substr(0, kMaxReportedPath), "...");
  for (char& c : path) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  if (query != absl::string_view::npos) {
    absl::StrAppend(&path, " (with a query of ", target.size() - query, " bytes, not shown)");
  }
  return path;
}

}  // namespace ovvoc::agent::registry
