#include "agent/registry/prefetch.h"

#include <atomic>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "common/executor.h"
#include "common/json_fields.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace ovvoc::agent::registry {
namespace {

using nlohmann::json;

constexpr absl::string_view kPublicTarballs = "https://registry.npmjs.org/";

// npm's own lockfiles nest a few levels in v2/v3 and two per dependency level in v1 (whose
// dependency levels ReadDependencies bounds at 256); a 50,000-package lockfile holds about two
// million values.
constexpr int kMaxLockfileDepth = 600;
constexpr size_t kMaxLockfileValues = 8'000'000;

absl::Status Invalid(absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat("the lockfile ", reason));
}

using json_fields::IsTrue;
using json_fields::StringOr;

// A SAX handler that only keeps count: how deep the document nests and how many values it
// holds. It stops the parse (returns false) past either limit, so a document can be measured
// before a DOM is built from it, without building one.
class Measure : public nlohmann::json_sax<json> {
 public:
  Measure(int max_depth, size_t max_values) : max_depth_(max_depth), max_values_(max_values) {}
  bool too_deep() const { return too_deep_; }
  bool too_many() const { return too_many_; }

  bool null() override { return Value(); }
  bool boolean(bool) override { return Value(); }
  bool number_integer(number_integer_t) override { return Value(); }
  bool number_unsigned(number_unsigned_t) override { return Value(); }
  bool number_float(number_float_t, const string_t&) override { return Value(); }
  bool string(string_t&) override { return Value(); }
  bool binary(binary_t&) override { return Value(); }
  bool start_object(std::size_t) override { return Open(); }
  bool key(string_t&) override { return true; }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t) override { return Open(); }
  bool end_array() override { return Close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 protected:
  int depth() const { return depth_; }
  bool Value() {
    too_many_ = ++values_ > max_values_;
    return !too_many_;
  }
  bool Open() {
    too_deep_ = ++depth_ > max_depth_;
    return !too_deep_ && Value();
  }
  virtual bool Close() {
    --depth_;
    return true;
  }

 private:
  const int max_depth_;
  const size_t max_values_;
  int depth_ = 0;
  size_t values_ = 0;
  bool too_deep_ = false;
  bool too_many_ = false;
};

// Finds versions[version].dist.tarball in a packument without building it: a packument is
// tens of MiB at most, its DOM many times that (a lying registry's `[[],[],...]` 20 times).
// Where keys repeat, the last one counts, as in npm's JSON.parse.
class FindTarball final : public Measure {
 public:
  explicit FindTarball(std::string version)
      : Measure(/*max_depth=*/256, /*max_values=*/SIZE_MAX), version_(std::move(version)) {}
  const std::optional<std::string>& url() const { return url_; }

  bool key(string_t& key) override {
    static const char* const kPath[] = {"versions", nullptr /* the version */, "dist", "tarball"};
    const int at = depth() - 1;        // this key's place in the path
    if (matched_ > at) matched_ = at;  // a sibling of a key that matched ends that match
    if (at < 4 && matched_ == at && (kPath[at] != nullptr ? key == kPath[at] : key == version_)) {
      matched_ = at + 1;
    }
    return true;
  }
  bool string(string_t& value) override {
    if (matched_ == 4 && depth() == 4) url_ = value;
    return Value();
  }

 private:
  bool Close() override {
    // The keys inside the closing object stop matching with it.
    if (matched_ > depth() - 1) matched_ = depth() - 1;
    return Measure::Close();
  }

  const std::string version_;
  int matched_ = 0;  // how many keys of kPath lead to where the parse is
  std::optional<std::string> url_;
};

class Reader {
 public:
  explicit Reader(const std::vector<RegistryEndpoint>& registries) : registries_(registries) {}

  // One locked package: kept, or said to be unsupported.
  void Add(std::string name, std::string version, const std::string& resolved,
           const std::string& integrity_text) {
    if (!IsPackageName(name)) {
      out_.unsupported.push_back("a package whose name npm would not publish");
      return;
    }
    const std::string what = absl::StrCat(name, "@", version);
    if (!resolved.empty() && !absl::StartsWith(resolved, "https://") &&
        !absl::StartsWith(resolved, "http://")) {
      const std::string scheme = resolved.substr(0, std::min(resolved.find(':'), size_t{16}));
      out_.unsupported.push_back(absl::StrCat(what, " comes from ", scheme, ":, not a registry"));
      return;
    }
    absl::StatusOr<Integrity> integrity = ParseIntegrity(integrity_text);
    if (!integrity.ok()) {
      out_.unsupported.push_back(absl::StrCat(what, " has no usable integrity in the lockfile"));
      return;
    }
    std::string url = resolved;
    const RegistryEndpoint* home = RegistryFor(registries_, name);
    // npm's replace-registry-host=npmjs: the public registry's URLs go to the configured one.
    if (home != nullptr && absl::StartsWith(url, kPublicTarballs) && home->url != kPublicTarballs) {
      url = absl::StrCat(home->url, url.substr(kPublicTarballs.size()));
    }
    if (!url.empty() && RegistryServing(registries_, url) == nullptr) {
      out_.unsupported.push_back(
          absl::StrCat(what, " is fetched from a URL outside the job's registries"));
      return;
    }
    out_.packages.push_back(
        LockedPackage{std::move(name), std::move(version), std::move(url), *std::move(integrity)});
  }

  // lockfileVersion 2 and 3: "packages", keyed by install path.
  absl::Status ReadPackages(const json& packages) {
    for (const auto& [path, entry] : packages.items()) {
      if (path.empty()) continue;  // the project itself
      if (!entry.is_object()) return Invalid("has a package entry that is not an object");
      // Links, bundled packages and the directories links point at (a workspace member
      // "packages/a", a file: dependency "../lib": keys outside node_modules/) come with the
      // repository or with their parent, not from a registry.
      if (IsTrue(entry, "link") || !absl::StrContains(path, "node_modules/")) continue;
      std::string name = StringOr(entry, "name");
      if (name.empty()) {
        const size_t at = path.rfind("node_modules/");
        name = at == std::string::npos ? path : path.substr(at + 13);
      }
      if (IsTrue(entry, "inBundle")) {
        if (IsPackageName(name)) out_.bundled.insert(std::move(name));
        continue;
      }
      const std::string version = StringOr(entry, "version");
      if (version.empty()) return Invalid(absl::StrCat("entry ", path, " has no version"));
      Add(std::move(name), version, StringOr(entry, "resolved"), StringOr(entry, "integrity"));
    }
    return absl::OkStatus();
  }

  // lockfileVersion 1: nested "dependencies".
  absl::Status ReadDependencies(const json& dependencies, int depth) {
    if (depth > 256) return Invalid("nests dependencies too deeply");
    for (const auto& [key, entry] : dependencies.items()) {
      if (!entry.is_object()) return Invalid("has a dependency that is not an object");
      if (!IsTrue(entry, "bundled")) {
        std::string name = key;
        std::string version = StringOr(entry, "version");
        // An alias: "npm:real-name@1.2.3".
        if (absl::StartsWith(version, "npm:")) {
          const size_t at = version.rfind('@');
          if (at == std::string::npos || at <= 4) return Invalid("has a malformed alias");
          name = version.substr(4, at - 4);
          version = version.substr(at + 1);
        }
        if (version.empty()) return Invalid(absl::StrCat("entry ", key, " has no version"));
        // A file: or link: dependency is a directory of the repository.
        if (!absl::StartsWith(version, "file:") && !absl::StartsWith(version, "link:")) {
          Add(std::move(name), version, StringOr(entry, "resolved"), StringOr(entry, "integrity"));
        }
      }
      if (auto nested = entry.find("dependencies"); nested != entry.end()) {
        if (!nested->is_object()) return Invalid("has dependencies that are not an object");
        OVVOC_RETURN_IF_ERROR(ReadDependencies(*nested, depth + 1));
      }
    }
    return absl::OkStatus();
  }

  LockfilePackages Take() { return std::move(out_); }

 private:
  const std::vector<RegistryEndpoint>& registries_;
  LockfilePackages out_;
};

// The tarball URL a packument gives for `version` (npm's choice when the lockfile has none).
absl::StatusOr<std::string> TarballFromPackument(const std::string& body,
                                                 const std::string& version) {
  FindTarball find(version);
  json::sax_parse(body, &find, json::input_format_t::json, /*strict=*/true);
  if (find.too_deep()) return absl::DataLossError("the registry sent a packument nested too deep");
  if (!find.url()) {
    return absl::NotFoundError(absl::StrCat("the registry lists no tarball for version ", version));
  }
  return *find.url();
}

}  // namespace

const RegistryEndpoint* RegistryServing(const std::vector<RegistryEndpoint>& registries,
                                        absl::string_view url) {
  const RegistryEndpoint* best = nullptr;
  for (const RegistryEndpoint& endpoint : registries) {
    if (absl::StartsWith(url, endpoint.url) &&
        (best == nullptr || endpoint.url.size() > best->url.size())) {
      best = &endpoint;
    }
  }
  return best;
}

const RegistryEndpoint* RegistryFor(const std::vector<RegistryEndpoint>& registries,
                                    absl::string_view package) {
  const RegistryEndpoint* fallback = nullptr;
  for (const RegistryEndpoint& endpoint : registries) {
    if (endpoint.scope.empty()) {
      fallback = &endpoint;
    } else if (absl::StartsWith(package, absl::StrCat(endpoint.scope, "/"))) {
      return &endpoint;
    }
  }
  return fallback;
}

absl::StatusOr<LockfilePackages> ReadLockfile(absl::string_view lockfile,
                                              const std::vector<RegistryEndpoint>& registries) {
  // Measured first: a DOM costs up to ~80 bytes per byte of `[[[[...` or `[],[],...`.
  Measure measure(kMaxLockfileDepth, kMaxLockfileValues);
  const bool parsed = json::sax_parse(lockfile.begin(), lockfile.end(), &measure);
  if (measure.too_deep()) return Invalid(absl::StrCat("nests deeper than ", kMaxLockfileDepth));
  if (measure.too_many()) {
    return Invalid(absl::StrCat("holds more than ", kMaxLockfileValues, " JSON values"));
  }
  if (!parsed) return Invalid("is not a JSON object");
  json doc = json::parse(lockfile.begin(), lockfile.end(), nullptr, false);
  if (!doc.is_object()) return Invalid("is not a JSON object");
  const json& version = doc["lockfileVersion"];
  if (!version.is_number_integer() || version.get<int>() < 1 || version.get<int>() > 3) {
    return Invalid("has no lockfileVersion 1, 2 or 3");
  }
  Reader reader(registries);
  if (auto packages = doc.find("packages"); packages != doc.end() && version.get<int>() >= 2) {
    if (!packages->is_object()) return Invalid("has \"packages\" that is not an object");
    OVVOC_RETURN_IF_ERROR(reader.ReadPackages(*packages));
  } else if (auto dependencies = doc.find("dependencies"); dependencies != doc.end()) {
    if (!dependencies->is_object()) return Invalid("has \"dependencies\" that is not an object");
    OVVOC_RETURN_IF_ERROR(reader.ReadDependencies(*dependencies, 0));
  }
  return reader.Take();
}

// Where npm reads `name`'s packument: the registry that serves it and the path there; null
// when no job registry does, or the path would not read as that package's packument.
std::pair<const RegistryEndpoint*, std::string> PackumentOf(
    const std::vector<RegistryEndpoint>& registries, const std::string& name) {
  const RegistryEndpoint* home = RegistryFor(registries, name);
  if (home == nullptr) return {nullptr, ""};
  std::string path = absl::StrCat(home->path, absl::StrReplaceAll(name, {{"/", "%2f"}}));
  absl::StatusOr<RegistryRead> read = ClassifyRead(*home, "GET", path);
  if (!read.ok() || read->kind != ReadKind::kPackument || read->package != name) {
    return {nullptr, ""};
  }
  return {home, std::move(path)};
}

absl::StatusOr<Prefetched> Prefetch(RegistryClient& client,
                                    const std::vector<RegistryEndpoint>& registries,
                                    const std::vector<LockedPackage>& packages, int parallel,
                                    const RegistryClient::Cancelled& cancelled) {
  absl::Mutex mu;
  Prefetched out;
  absl::Status first_error;
  std::atomic<bool> failed{false};
  auto stop = [&] { return failed.load() || (cancelled && cancelled()); };
  auto fetch_one = [&](const LockedPackage& package) -> absl::Status {
    const std::string what = absl::StrCat(package.name, "@", package.version);
    std::string url = package.url;
    if (url.empty()) {
      if (RegistryFor(registries, package.name) == nullptr) {
        return absl::FailedPreconditionError(absl::StrCat(what, ": no registry"));
      }
      const auto [home, path] = PackumentOf(registries, package.name);
      if (home == nullptr) {
        return absl::FailedPreconditionError(absl::StrCat(what, ": not a package name"));
      }
      OVVOC_ASSIGN_OR_RETURN(CachedPackument packument,
                             client.Packument(*home, path, kAcceptCorgi, stop));
      OVVOC_ASSIGN_OR_RETURN(url, TarballFromPackument(packument.body, package.version));
      absl::MutexLock lock(&mu);
      out.packages.insert(package.name);
    }
    const RegistryEndpoint* endpoint = RegistryServing(registries, url);
    if (endpoint == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, ": its tarball is outside the job's registries"));
    }
    // The agent reads what npm would read, nothing else: a tarball path, never the API.
    const std::string path = url.substr(endpoint->origin().size());
    absl::StatusOr<RegistryRead> read = ClassifyRead(*endpoint, "GET", path);
    if (!read.ok() || read->kind != ReadKind::kTarball) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, ": its tarball URL is not a package tarball of the registry"));
    }
    const bool cached = client.HasCachedTarball(*endpoint, package.integrity);
    absl::StatusOr<UniqueFd> file = client.Tarball(*endpoint, path, package.integrity, stop);
    if (!file.ok()) {
      return absl::Status(file.status().code(), absl::StrCat(what, ": ", file.status().message()));
    }
    absl::MutexLock lock(&mu);
    out.tarballs.emplace(url, package.integrity);
    if (!cached) ++out.fetched;
    return absl::OkStatus();
  };
  {
    Executor pool(std::max(1, parallel));
    for (const LockedPackage& package : packages) {
      (void)pool.Post([&, package] {
        if (stop()) return;
        absl::Status s = fetch_one(package);
        if (s.ok()) return;
        absl::MutexLock lock(&mu);
        if (first_error.ok()) first_error = s;
        failed.store(true);
      });
    }
  }  // joins: every task has run
  if (!first_error.ok()) return first_error;
  if (cancelled && cancelled()) return absl::CancelledError("the job was cancelled");
  return out;
}

std::set<std::string> PrefetchPackuments(RegistryClient& client,
                                         const std::vector<RegistryEndpoint>& registries,
                                         const std::set<std::string>& names, size_t max,
                                         int parallel, const RegistryClient::Cancelled& cancelled) {
  absl::Mutex mu;
  std::set<std::string> read;
  {
    Executor pool(std::max(1, parallel));
    size_t posted = 0;
    for (const std::string& name : names) {
      if (posted++ >= max) break;
      (void)pool.Post([&, name] {
        if (cancelled && cancelled()) return;
        const auto [home, path] = PackumentOf(registries, name);
        if (home == nullptr) return;
        // Both forms: which one npm asks for depends on what it is doing.
        if (client.Packument(*home, path, kAcceptCorgi, cancelled).ok() &&
            client.Packument(*home, path, kAcceptFull, cancelled).ok()) {
          absl::MutexLock lock(&mu);
          read.insert(name);
        }
      });
    }
  }  // joins: every task has run
  return read;
}

}  // namespace ovvoc::agent::registry
