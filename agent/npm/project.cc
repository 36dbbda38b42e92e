#include "agent/npm/project.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/npm/internal/bounded_json.h"
#include "agent/npm/internal/project_parts.h"
#include "agent/workspace/beneath.h"
#include "nlohmann/json.hpp"

namespace ovvoc::agent::npm {
namespace {

using Json = nlohmann::ordered_json;  // package.json keeps its key order

// The same for all of a project's workspace members: up to kMaxWorkspaces of them, each near
// the bound above, would take minutes again. A real member costs thousands.
constexpr size_t kMaxMembersKeyWork = 64'000'000;

constexpr std::pair<const char*, ovvoc::v1::DependencyKind> kSections[] = {
    {"dependencies", ovvoc::v1::DEPENDENCY_KIND_PROD},
    {"devDependencies", ovvoc::v1::DEPENDENCY_KIND_DEV},
    {"optionalDependencies", ovvoc::v1::DEPENDENCY_KIND_OPTIONAL},
    {"peerDependencies", ovvoc::v1::DEPENDENCY_KIND_PEER},
};

std::string Compact(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// "an object", "a number": for messages about a value of the wrong type.
std::string AType(const Json& value) {
  const absl::string_view name = value.type_name();
  return absl::StrCat(name[0] == 'o' || name[0] == 'a' ? "an " : "a ", name);
}

// The package an `overrides` key names: "foo", "foo@^1", "@s/foo@1" -> "foo", "@s/foo".
std::string OverrideName(const std::string& key) {
  const size_t at = key.find('@', key.empty() || key[0] != '@' ? 0 : 1);
  return key.substr(0, at);
}

void CollectOverrides(const Json& object, std::vector<std::string>& names,
                      std::set<std::string>& seen) {
  for (const auto& [key, value] : object.items()) {
    if (key == ".") continue;  // the parent's own version
    std::string name = OverrideName(key);
    if (!name.empty() && seen.insert(name).second) names.push_back(name);
    if (value.is_object()) CollectOverrides(value, names, seen);
  }
}

class ManifestReader {
 public:
  ManifestReader(PackageJson& out, std::vector<ProjectDiagnostic>& diagnostics)
      : out_(out), diagnostics_(diagnostics) {}

  void Problem(std::string message) {
    diagnostics_.push_back(ProjectDiagnostic{out_.manifest_path, std::move(message)});
  }

  void Read(const Json& json) {
    out_.name = String(json, "name");
    out_.version = String(json, "version");
    out_.package_manager = String(json, "packageManager");
    if (auto it = json.find("private"); it != json.end()) {
      out_.is_private = !it->is_null() && *it != false;
    }
    for (const auto& [key, value] : json.items()) {
      for (const auto& [section, kind] : kSections) {
        if (key == section) Section(section, kind, value);
      }
    }
    DropProdRepeatedAsOptional();
    PeerMeta(json);
    Bundled(json);
    if (auto it = json.find("overrides"); it != json.end()) {
      out_.overrides_json = Compact(*it);
      std::set<std::string> seen;
      if (it->is_object()) {
        CollectOverrides(*it, out_.overridden, seen);
      } else {
        Problem(absl::StrCat("\"overrides\" is ", AType(*it), ", not an object"));
      }
    }
    Workspaces(json);
    if (auto it = json.find("engines"); it != json.end() && it->is_object()) {
      for (const auto& [engine, range] : it->items()) {
        if (range.is_string()) out_.engines.emplace_back(engine, range.get<std::string>());
      }
    }
    if (auto it = json.find("devEngines"); it != json.end()) out_.dev_engines_json = Compact(*it);
    if (auto it = json.find("volta"); it != json.end() && it->is_object()) {
      if (auto node = it->find("node"); node != it->end() && node->is_string()) {
        out_.volta_node = node->get<std::string>();
      }
    }
  }

 private:
  std::string String(const Json& json, const char* key) {
    auto it = json.find(key);
    if (it == json.end() || it->is_null()) return "";
    if (it->is_string()) return it->get<std::string>();
    Problem(absl::StrCat("\"", key, "\" is ", AType(*it), ", not a string"));
    return "";
  }

  void Section(const char* section, ovvoc::v1::DependencyKind kind, const Json& value) {
    if (value.is_null()) return;
    if (!value.is_object()) {
      Problem(absl::StrCat("\"", section, "\" is ", AType(value), ", not an object"));
      return;
    }
    for (const auto& [name, spec] : value.items()) {
      if (!spec.is_string()) {
        Problem(absl::StrCat("\"", section, "\".\"", name, "\" is ", AType(spec),
                             ", not a string: skipped"));
        continue;
      }
      if (name.empty()) {
        Problem(absl::StrCat("\"", section, "\" has an entry without a name: skipped"));
        continue;
      }
      DeclaredDependency dependency;
      dependency.name = name;
      dependency.spec = spec.get<std::string>();
      dependency.kind = kind;
      dependency.classified = ClassifySpec(name, dependency.spec);
      dependency.manifest_path = out_.manifest_path;
      out_.dependencies.push_back(std::move(dependency));
    }
  }

  // npm's normalize drops a "dependencies" entry that optionalDependencies repeats, whichever
  // section comes first in the file.
  void DropProdRepeatedAsOptional() {
    std::set<std::string> optional;
    for (const DeclaredDependency& d : out_.dependencies) {
      if (d.kind == ovvoc::v1::DEPENDENCY_KIND_OPTIONAL) optional.insert(d.name);
    }
    if (optional.empty()) return;
    std::erase_if(out_.dependencies, [&](const DeclaredDependency& d) {
      return d.kind == ovvoc::v1::DEPENDENCY_KIND_PROD && optional.count(d.name) > 0;
    });
  }

  void PeerMeta(const Json& json) {
    auto it = json.find("peerDependenciesMeta");
    if (it == json.end() || !it->is_object()) return;
    for (DeclaredDependency& d : out_.dependencies) {
      if (d.kind != ovvoc::v1::DEPENDENCY_KIND_PEER) continue;
      auto meta = it->find(d.name);
      if (meta == it->end() || !meta->is_object()) continue;
      auto optional = meta->find("optional");
      d.peer_optional = optional != meta->end() && optional->is_boolean() && optional->get<bool>();
    }
  }

  void Bundled(const Json& json) {
    for (const char* key : {"bundleDependencies", "bundledDependencies"}) {
      auto it = json.find(key);
      if (it == json.end() || it->is_null()) continue;
      if (it->is_boolean()) {
        if (!it->get<bool>()) continue;
        for (const DeclaredDependency& d : out_.dependencies) {  // `true`: every dependency
          if (d.kind == ovvoc::v1::DEPENDENCY_KIND_PROD) out_.bundle_dependencies.push_back(d.name);
        }
      } else if (it->is_array()) {
        for (const Json& name : *it) {
          if (name.is_string()) out_.bundle_dependencies.push_back(name.get<std::string>());
        }
      } else {
        Problem(absl::StrCat("\"", key, "\" is ", AType(*it), ", not an array"));
      }
    }
    const std::set<std::string> bundled(out_.bundle_dependencies.begin(),
                                        out_.bundle_dependencies.end());
    for (DeclaredDependency& d : out_.dependencies) {
      d.bundled = d.kind == ovvoc::v1::DEPENDENCY_KIND_PROD && bundled.count(d.name) > 0;
    }
  }

  void Workspaces(const Json& json) {
    auto it = json.find("workspaces");
    if (it == json.end() || it->is_null()) return;
    const Json* list = &*it;
    if (it->is_object()) {
      auto packages = it->find("packages");
      list = packages != it->end() && packages->is_array() ? &*packages : nullptr;
    }
    if (list == nullptr || !list->is_array()) {
      Problem("\"workspaces\" is not an array (nor an object with a \"packages\" array)");
      return;
    }
    for (const Json& pattern : *list) {
      if (pattern.is_string()) {
        out_.workspaces.push_back(pattern.get<std::string>());
      } else {
        Problem(absl::StrCat("\"workspaces\" holds ", AType(pattern), ": skipped"));
      }
    }
  }

  PackageJson& out_;
  std::vector<ProjectDiagnostic>& diagnostics_;
};

std::string ManifestPath(absl::string_view dir) {
  return dir.empty() ? "package.json" : absl::StrCat(dir, "/package.json");
}

// ParsePackageJson, adding to `key_work` the key comparisons its parse counted.
PackageJson ParseCounted(absl::string_view text, absl::string_view dir,
                         std::vector<ProjectDiagnostic>& diagnostics, size_t& key_work) {
  PackageJson out;
  out.dir = std::string(dir);
  out.manifest_path = ManifestPath(dir);
  size_t spent = 0;
  absl::StatusOr<Json> json = internal::ParseBoundedJson<Json>(
      text, internal::kMaxManifestDepth, internal::kMaxManifestValues,
      internal::kMaxManifestKeyWork, &spent);
  key_work += spent;
  if (!json.ok()) {
    diagnostics.push_back(
        ProjectDiagnostic{out.manifest_path, std::string(json.status().message())});
    return out;
  }
  if (!json->is_object()) {
    diagnostics.push_back(ProjectDiagnostic{out.manifest_path, "the top level is not an object"});
    return out;
  }
  ManifestReader(out, diagnostics).Read(*json);
  out.parsed = true;
  return out;
}

// Reads `dir`'s package.json; a diagnostic when it cannot be read.
PackageJson ReadPackageJson(const std::string& root, const std::string& dir,
                            std::vector<ProjectDiagnostic>& diagnostics, size_t& key_work) {
  absl::StatusOr<std::string> text = ReadFileBeneath(root, ManifestPath(dir), kMaxManifestBytes);
  if (!text.ok()) {
    diagnostics.push_back(ProjectDiagnostic{
        ManifestPath(dir), absl::StrCat("cannot be read: ", text.status().message())});
    PackageJson missing;
    missing.dir = dir;
    missing.manifest_path = ManifestPath(dir);
    return missing;
  }
  return ParseCounted(*text, dir, diagnostics, key_work);
}

// npm's name for a member without one: its folder ("@scope/name" under a scope folder).
std::string NameFromFolder(const std::string& dir) {
  const size_t slash = dir.rfind('/');
  if (slash == std::string::npos) return dir;
  const size_t parent = dir.rfind('/', slash - 1);
  const std::string up = dir.substr(parent == std::string::npos ? 0 : parent + 1);
  return up[0] == '@' ? up : dir.substr(slash + 1);
}

void ReadWorkspaces(const std::string& root, Project& project) {
  if (project.root.workspaces.empty()) return;
  std::vector<std::string> dirs =
      internal::ExpandWorkspaces(root, project.root.workspaces, project.diagnostics);
  std::set<std::string> names;
  size_t key_work = 0;
  for (const std::string& dir : dirs) {
    if (project.workspaces.size() >= kMaxWorkspaces) {
      project.diagnostics.push_back(ProjectDiagnostic{
          "package.json",
          absl::StrCat("more than ", kMaxWorkspaces, " workspaces: the rest skipped")});
      break;
    }
    if (key_work > kMaxMembersKeyWork) {
      project.diagnostics.push_back(ProjectDiagnostic{
          "package.json", absl::StrCat("workspace manifests take more than ", kMaxMembersKeyWork,
                                       " key comparisons to read: the rest skipped")});
      break;
    }
    PackageJson member = ReadPackageJson(root, dir, project.diagnostics, key_work);
    const std::string name = member.name.empty() ? NameFromFolder(dir) : member.name;
    if (!names.insert(name).second) {
      project.diagnostics.push_back(
          ProjectDiagnostic{member.manifest_path, absl::StrCat("a second workspace named \"", name,
                                                               "\": npm refuses the project "
                                                               "(EDUPLICATEWORKSPACE)")});
    }
    project.workspaces.push_back(std::move(member));
  }
}

void ReadLockfileOf(const std::string& root, Project& project) {
  for (const char* path : {"npm-shrinkwrap.json", "package-lock.json"}) {
    absl::StatusOr<std::string> text = ReadFileBeneath(root, path, kMaxLockfileBytes);
    if (absl::IsNotFound(text.status())) continue;
    if (!text.ok()) {
      project.diagnostics.push_back(
          ProjectDiagnostic{path, absl::StrCat("cannot be read: ", text.status().message())});
      continue;
    }
    project.lockfile = ParseLockfile(*text, path, project.diagnostics);
    if (project.lockfile) break;  // npm-shrinkwrap.json wins, as in npm
  }
  if (project.lockfile && project.lockfile->path == "npm-shrinkwrap.json" &&
      CheckRegularFileBeneath(root, "package-lock.json").ok()) {
    project.diagnostics.push_back(ProjectDiagnostic{
        "package-lock.json", "ignored: npm-shrinkwrap.json takes precedence, as in npm"});
  }
  if (!project.lockfile) return;
  std::vector<PackageJson*> manifests = {&project.root};
  for (PackageJson& member : project.workspaces) manifests.push_back(&member);
  MatchLockfile(*project.lockfile, manifests, project.diagnostics);
}

void ReadNpmrcOf(const std::string& root, Project& project) {
  absl::StatusOr<std::string> text = ReadFileBeneath(root, ".npmrc", kMaxNpmrcBytes);
  if (absl::IsNotFound(text.status())) return;
  if (!text.ok()) {
    project.diagnostics.push_back(
        ProjectDiagnostic{".npmrc", absl::StrCat("cannot be read: ", text.status().message())});
    return;
  }
  project.npmrc = ParseNpmrc(*text, project.diagnostics);
}

void NoteOtherLockfiles(const std::string& root, Project& project) {
  static constexpr std::pair<const char*, const char*> kOthers[] = {
      {"yarn.lock", "yarn"}, {"pnpm-lock.yaml", "pnpm"}, {"bun.lockb", "bun"}, {"bun.lock", "bun"}};
  for (const auto& [file, tool] : kOthers) {
    if (absl::IsNotFound(CheckRegularFileBeneath(root, file))) continue;
    project.diagnostics.push_back(ProjectDiagnostic{
        file, absl::StrCat("not supported yet (npm's package-lock.json is): ", tool,
                           "'s lockfile is neither read nor updated")});
  }
}

}  // namespace

PackageJson ParsePackageJson(absl::string_view text, absl::string_view dir,
                             std::vector<ProjectDiagnostic>& diagnostics) {
  size_t key_work = 0;
  return ParseCounted(text, dir, diagnostics, key_work);
}

absl::StatusOr<Project> ReadProject(const std::string& root) {
  Project project;
  absl::StatusOr<std::string> text = ReadFileBeneath(root, "package.json", kMaxManifestBytes);
  if (absl::IsNotFound(text.status()) || absl::IsPermissionDenied(text.status())) {
    return absl::Status(text.status().code(),
                        absl::StrCat("package.json: ", text.status().message()));
  }
  if (text.ok()) {
    project.root = ParsePackageJson(*text, "", project.diagnostics);
  } else {
    project.root.manifest_path = "package.json";
    project.diagnostics.push_back(ProjectDiagnostic{
        "package.json", absl::StrCat("cannot be read: ", text.status().message())});
  }
  ReadWorkspaces(root, project);
  ReadLockfileOf(root, project);
  ReadNpmrcOf(root, project);
  NoteOtherLockfiles(root, project);
  return project;
}

}  // namespace ovvoc::agent::npm
