#include "agent/npm/manifest.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/npm/internal/bounded_json.h"
#include "nlohmann/json.hpp"

namespace ovvoc::agent::npm {
namespace {

using Json = nlohmann::ordered_json;  // keeps the file's key order

constexpr size_t kMaxNameLength = 214;  // npm's own limit

constexpr std::pair<const char*, ovvoc::v1::DependencyKind> kSections[] = {
    {"dependencies", ovvoc::v1::DEPENDENCY_KIND_PROD},
    {"devDependencies", ovvoc::v1::DEPENDENCY_KIND_DEV},
    {"optionalDependencies", ovvoc::v1::DEPENDENCY_KIND_OPTIONAL},
    {"peerDependencies", ovvoc::v1::DEPENDENCY_KIND_PEER},
};

absl::Status Malformed(absl::string_view path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}

}  // namespace

absl::StatusOr<Manifest> ParseManifest(absl::string_view text, absl::string_view path) {
  // Measured before it is built: depth, values and key comparisons (bounded_json.h).
  absl::StatusOr<Json> parsed =
      internal::ParseBoundedJson<Json>(text, internal::kMaxManifestDepth,
                                       internal::kMaxManifestValues,
                                       internal::kMaxManifestKeyWork);
  if (!parsed.ok()) return Malformed(path, parsed.status().message());
  const Json& json = *parsed;
  if (!json.is_object()) return Malformed(path, "the top level must be an object");

  Manifest manifest;
  if (auto it = json.find("name"); it != json.end() && it->is_string()) {
    manifest.name = it->get<std::string>();
  }
  if (auto it = json.find("version"); it != json.end() && it->is_string()) {
    manifest.version = it->get<std::string>();
  }
  // npm ignores scripts that are not strings, and a "scripts" that is not an object.
  if (auto it = json.find("scripts"); it != json.end() && it->is_object()) {
    for (const auto& [name, script] : it->items()) {
      if (script.is_string()) manifest.scripts[name] = script.get<std::string>();
    }
  }
  for (const auto& [section, kind] : kSections) {
    auto it = json.find(section);
    if (it == json.end() || it->is_null()) continue;
    if (!it->is_object())
      return Malformed(path, absl::StrCat("\"", section, "\" must be an object"));
    for (const auto& [name, spec] : it->items()) {
      if (name.empty() || name.size() > kMaxNameLength) {
        return Malformed(path, absl::StrCat("\"", section, "\" has an invalid package name"));
      }
      if (!spec.is_string()) {
        return Malformed(path, absl::StrCat("\"", section, "\".\"", name, "\" must be a string"));
      }
      ovvoc::v1::Dependency dependency;
      dependency.set_name(name);
      dependency.set_spec(spec.get<std::string>());
      dependency.set_kind(kind);
      dependency.set_manifest_path(std::string(path));
      manifest.dependencies.push_back(std::move(dependency));
    }
  }
  return manifest;
}

}  // namespace ovvoc::agent::npm
