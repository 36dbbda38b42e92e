// package-lock.json / npm-shrinkwrap.json for the project model (agent/npm/project.h).
#include <algorithm>
#include <initializer_list>
#include <map>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/npm/internal/bounded_json.h"
#include "agent/npm/project.h"
#include "agent/npm/semver.h"
#include "common/json_fields.h"
#include "nlohmann/json.hpp"

namespace ovvoc::agent::npm {
namespace {

using Json = nlohmann::json;  // a map: lockfiles are looked up by key, and large

// As agent/registry/prefetch.cc: npm's lockfiles nest a few levels in v2/v3 and two per
// dependency level in v1; a 50,000-package lockfile holds about two million values.
constexpr int kMaxLockfileDepth = 600;
constexpr size_t kMaxLockfileValues = 8'000'000;
// npm 5 and 6 (lockfileVersion 1) dedupe: their trees nest a handful of levels, rarely 30.
constexpr int kMaxV1Levels = 64;
// A v1 entry's key repeats its parent's ("node_modules/a/node_modules/b"), so a file of short
// entries under a long chain (or one long name) makes keys hundreds of times its size: 6.5 MB
// made 4.7 GiB. A real entry spends 150 bytes and more on its version, resolved and integrity
// against a key of tens of bytes, so real keys stay under the file's size; twice the size, plus
// a floor for small files, is well within the DOM's own cost.
constexpr size_t kV1KeyBytesPerInputByte = 2;
constexpr size_t kMinV1KeyBytes = 1 << 20;

using json_fields::IsTrue;
using json_fields::StringOr;

std::string NameFromKey(absl::string_view key) {
  const size_t at = key.rfind("node_modules/");
  return std::string(at == absl::string_view::npos ? "" : key.substr(at + 13));
}

// A place outside every node_modules folder: a workspace member, a link's target.
bool OutsideNodeModules(absl::string_view key) {
  return !absl::StartsWith(key, "node_modules/") && !absl::StrContains(key, "/node_modules/");
}

// Appends the keys of each of `sections` of `entry` that is an object: the names it depends on.
// Their number is bounded by the document's values (kMaxLockfileValues).
void AppendNames(const Json& entry, std::initializer_list<const char*> sections,
                 std::vector<std::string>& names) {
  for (const char* section : sections) {
    auto it = entry.find(section);
    if (it == entry.end() || !it->is_object()) continue;
    for (auto name = it->begin(); name != it->end(); ++name) names.push_back(name.key());
  }
}

class LockReader {
 public:
  LockReader(Lockfile& out, size_t max_key_bytes) : out_(out), key_bytes_left_(max_key_bytes) {}

  // lockfileVersion 2 and 3: "packages", keyed by install path.
  void Packages(const Json& packages) {
    for (const auto& [key, entry] : packages.items()) {
      if (key.empty()) {  // the project itself
        if (entry.is_object()) {
          AppendNames(
              entry,
              {"dependencies", "devDependencies", "optionalDependencies", "peerDependencies"},
              out_.root_dependencies);
        }
        continue;
      }
      if (!entry.is_object()) {
        ++skipped_;
        continue;
      }
      LockedEntry e;
      e.key = key;
      e.name = StringOr(entry, "name");
      if (e.name.empty()) e.name = NameFromKey(key);
      e.version = StringOr(entry, "version");
      e.resolved = StringOr(entry, "resolved");
      e.integrity = StringOr(entry, "integrity");
      e.dev = IsTrue(entry, "dev");
      e.optional = IsTrue(entry, "optional");
      e.dev_optional = IsTrue(entry, "devOptional");
      e.peer = IsTrue(entry, "peer");
      e.has_install_script = IsTrue(entry, "hasInstallScript");
      e.deprecated = StringOr(entry, "deprecated").substr(0, kMaxLockedDeprecation);
      e.link = IsTrue(entry, "link");
      e.in_bundle = IsTrue(entry, "inBundle");
      AppendNames(entry, {"dependencies", "optionalDependencies", "peerDependencies"},
                  e.dependencies);
      if (OutsideNodeModules(key)) AppendNames(entry, {"devDependencies"}, e.dependencies);
      out_.packages.push_back(std::move(e));
    }
  }

  // lockfileVersion 1: nested "dependencies"; keys are given the v2 shape.
  void Dependencies(const Json& dependencies, const std::string& parent, int level) {
    if (level > kMaxV1Levels) {
      too_deep_ = true;
      return;
    }
    for (const auto& [name, entry] : dependencies.items()) {
      if (!entry.is_object()) {
        ++skipped_;
        continue;
      }
      const size_t key_bytes = parent.size() + 1 + 13 + name.size();
      if (too_many_key_bytes_ || key_bytes > key_bytes_left_) {
        too_many_key_bytes_ = true;
        return;
      }
      key_bytes_left_ -= key_bytes;
      LockedEntry e;
      e.key = absl::StrCat(parent, parent.empty() ? "" : "/", "node_modules/", name);
      e.name = name;
      e.version = StringOr(entry, "version");
      if (absl::StartsWith(e.version, "npm:")) {  // an alias: "npm:real-name@1.2.3"
        const size_t at = e.version.rfind('@');
        if (at != std::string::npos && at > 4) {
          e.name = e.version.substr(4, at - 4);
          e.version = e.version.substr(at + 1);
        }
      }
      e.resolved = StringOr(entry, "resolved");
      e.integrity = StringOr(entry, "integrity");
      e.dev = IsTrue(entry, "dev");
      e.optional = IsTrue(entry, "optional");
      e.in_bundle = IsTrue(entry, "bundled");
      AppendNames(entry, {"requires"}, e.dependencies);
      const std::string key = e.key;
      out_.packages.push_back(std::move(e));
      if (auto nested = entry.find("dependencies"); nested != entry.end() && nested->is_object()) {
        Dependencies(*nested, key, level + 1);
      }
    }
  }

  int skipped() const { return skipped_; }
  bool too_deep() const { return too_deep_; }
  bool too_many_key_bytes() const { return too_many_key_bytes_; }

 private:
  Lockfile& out_;
  size_t key_bytes_left_;
  int skipped_ = 0;
  bool too_deep_ = false;
  bool too_many_key_bytes_ = false;
};

// What the lockfile has installed for `dependency` of `manifest`; null when nothing.
const LockedEntry* Installed(const std::map<absl::string_view, const LockedEntry*>& by_key,
                             const PackageJson& manifest, const DeclaredDependency& dependency) {
  std::vector<std::string> keys;
  if (!manifest.dir.empty()) {
    keys.push_back(absl::StrCat(manifest.dir, "/node_modules/", dependency.name));
  }
  keys.push_back(absl::StrCat("node_modules/", dependency.name));
  for (const std::string& key : keys) {
    auto it = by_key.find(key);
    if (it == by_key.end()) continue;
    const LockedEntry* entry = it->second;
    if (entry->link) {  // a workspace member or a file: directory: its own entry has the version
      auto target = by_key.find(entry->resolved);
      if (target != by_key.end()) return target->second;
    }
    return entry;
  }
  return nullptr;
}

// Whether `version` is what `spec` asks for, as arborist's dep-valid.js decides (loose).
bool Satisfied(const Spec& spec, const std::string& version) {
  std::string range;
  if (spec.kind == SpecKind::kVersion || spec.kind == SpecKind::kRange) range = spec.fetch_spec;
  if (spec.kind == SpecKind::kGit) range = spec.git_range;
  if (range.empty() && spec.kind == SpecKind::kGit) return true;
  if (spec.kind != SpecKind::kVersion && spec.kind != SpecKind::kRange &&
      spec.kind != SpecKind::kGit) {
    return true;  // tags, files, links: nothing to compare
  }
  if (range == "*") return true;
  absl::StatusOr<bool> ok = Satisfies(version, range, Options{.loose = true});
  return ok.ok() && *ok;
}

}  // namespace

std::optional<Lockfile> ParseLockfile(absl::string_view text, absl::string_view path,
                                      std::vector<ProjectDiagnostic>& diagnostics) {
  const std::string file(path);
  absl::StatusOr<Json> doc =
      internal::ParseBoundedJson<Json>(text, kMaxLockfileDepth, kMaxLockfileValues);
  if (!doc.ok()) {
    diagnostics.push_back(ProjectDiagnostic{file, std::string(doc.status().message())});
    return std::nullopt;
  }
  if (!doc->is_object()) {
    diagnostics.push_back(ProjectDiagnostic{file, "the top level is not an object"});
    return std::nullopt;
  }
  auto version = doc->find("lockfileVersion");
  if (version == doc->end() || !version->is_number_integer() || version->get<int64_t>() < 1 ||
      version->get<int64_t>() > 3) {
    diagnostics.push_back(ProjectDiagnostic{file, "has no lockfileVersion 1, 2 or 3"});
    return std::nullopt;
  }
  Lockfile out;
  out.path = file;
  out.lockfile_version = static_cast<int>(version->get<int64_t>());
  const size_t max_key_bytes = std::max(kMinV1KeyBytes, kV1KeyBytesPerInputByte * text.size());
  LockReader reader(out, max_key_bytes);
  auto packages = doc->find("packages");
  auto dependencies = doc->find("dependencies");
  if (out.lockfile_version >= 2 && packages != doc->end() && packages->is_object()) {
    reader.Packages(*packages);
  } else if (dependencies != doc->end() && dependencies->is_object()) {
    reader.Dependencies(*dependencies, "", 0);
  } else if (out.lockfile_version >= 2 && packages != doc->end()) {
    diagnostics.push_back(ProjectDiagnostic{file, "\"packages\" is not an object"});
  }
  if (reader.skipped() > 0) {
    diagnostics.push_back(ProjectDiagnostic{
        file, absl::StrCat(reader.skipped(), " package entries are not objects: skipped")});
  }
  if (reader.too_deep()) {
    diagnostics.push_back(ProjectDiagnostic{
        file,
        absl::StrCat("nests dependencies more than ", kMaxV1Levels, " levels: the rest skipped")});
  }
  if (reader.too_many_key_bytes()) {
    diagnostics.push_back(ProjectDiagnostic{
        file, absl::StrCat("nests dependencies whose install paths add up to more than ",
                           max_key_bytes, " bytes: the rest skipped")});
  }
  return out;
}

void MatchLockfile(const Lockfile& lockfile, std::vector<PackageJson*> manifests,
                   std::vector<ProjectDiagnostic>& diagnostics) {
  // Views of the entries' keys: a copy would double what the lockfile holds.
  std::map<absl::string_view, const LockedEntry*> by_key;
  for (const LockedEntry& entry : lockfile.packages) by_key[entry.key] = &entry;
  for (PackageJson* manifest : manifests) {
    for (DeclaredDependency& dependency : manifest->dependencies) {
      const LockedEntry* entry = Installed(by_key, *manifest, dependency);
      if (entry == nullptr) {
        // npm leaves an optional peer uninstalled; everything else it locks.
        if (dependency.peer_optional) continue;
        diagnostics.push_back(ProjectDiagnostic{
            manifest->manifest_path,
            absl::StrCat(dependency.name, " (", dependency.spec, ") is not in ", lockfile.path)});
        continue;
      }
      dependency.installed_version = entry->version;
      dependency.lock_key = entry->key;
      if (!Satisfied(dependency.classified, entry->version)) {
        diagnostics.push_back(ProjectDiagnostic{
            manifest->manifest_path,
            absl::StrCat(dependency.name, " is locked at ", entry->version, " in ", lockfile.path,
                         ", which its spec ", dependency.spec, " does not allow")});
      }
    }
  }
}

}  // namespace ovvoc::agent::npm
