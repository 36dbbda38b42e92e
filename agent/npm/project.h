// The npm project model: everything the plan reads from a checkout, read once. The root
// package.json, npm workspaces (globs expanded as @npmcli/map-workspaces does), the lockfile
// (npm-shrinkwrap.json over package-lock.json, lockfileVersion 1-3) and the project's .npmrc.
//
// The checkout is untrusted: every file is read through ReadFileBeneath (no symlink is
// followed, nothing outside the checkout is read) with a size cap, every JSON value is
// type-checked, and every malformed or surprising file becomes a ProjectDiagnostic while the rest
// is still read. Credentials in .npmrc are never kept: only their key names.
//
// Value types; ReadProject is safe to call from any thread.
#ifndef OVVOC_AGENT_NPM_PROJECT_H_
#define OVVOC_AGENT_NPM_PROJECT_H_

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/npm/spec.h"
#include "ovvoc/v1/job.pb.h"

namespace ovvoc::agent::npm {

// One line for the plan's "problems" section: which file, what is wrong.
struct ProjectDiagnostic {
  std::string file;  // relative to the checkout: "package.json", "packages/a/package.json"
  std::string message;
};

// One entry of a dependency section of a package.json, in file order.
struct DeclaredDependency {
  std::string name;  // the key: for an alias, the alias's name
  std::string spec;  // as written
  ovvoc::v1::DependencyKind kind = ovvoc::v1::DEPENDENCY_KIND_UNSPECIFIED;
  bool peer_optional = false;  // peerDependenciesMeta[name].optional === true
  bool bundled = false;        // named by bundleDependencies (or it is `true`)
  Spec classified;             // ClassifySpec(name, spec)
  std::string manifest_path;   // "package.json", "packages/a/package.json"
  // From the lockfile: the installed version (the alias target's), and the key it was found at
  // ("node_modules/x", "packages/a/node_modules/x"); nullopt when the lockfile lacks it.
  std::optional<std::string> installed_version;
  std::string lock_key;
};

struct PackageJson {
  std::string dir;            // "" for the root, "packages/a" for a workspace member
  std::string manifest_path;  // "package.json", "packages/a/package.json"
  bool parsed = false;        // false: missing or malformed, see the diagnostics
  std::string name;
  std::string version;
  bool is_private = false;  // "private" set to anything but null or false
  std::vector<DeclaredDependency> dependencies;  // every section, in file order
  std::vector<std::string> bundle_dependencies;  // names, as listed
  std::string overrides_json;                    // "overrides", compact JSON; "" when absent
  std::vector<std::string> overridden;           // every package name it overrides, flat
  std::vector<std::string> workspaces;           // patterns, as written
  std::vector<std::pair<std::string, std::string>> engines;  // string values, in file order
  std::string package_manager;                               // "packageManager"
  std::string dev_engines_json;                              // "devEngines", compact JSON
  std::string volta_node;                                    // "volta": {"node": ...}
};

// One package of the lockfile.
struct LockedEntry {
  std::string key;   // v2/v3 "packages" key: "node_modules/a/node_modules/b"; v1: the same shape
  std::string name;  // "name", else from the key; an alias's target in v1
  std::string version;
  std::string resolved;  // for a link: the target's key ("packages/a")
  std::string integrity;
  bool dev = false;
  bool optional = false;
  bool dev_optional = false;
  bool peer = false;
  bool has_install_script = false;
  // npm's copy of the registry's deprecation message (v2/v3 "deprecated"), cut to
  // kMaxLockedDeprecation bytes; empty when not deprecated.
  std::string deprecated;
  bool link = false;
  bool in_bundle = false;
  // The names it depends on, as its node_modules lookup sees them (an alias by its own name), in
  // file order: v2/v3 "dependencies", "optionalDependencies", "peerDependencies", and for an
  // entry outside any node_modules folder (a workspace member, a link's target)
  // "devDependencies" too, since npm installs those; v1 "requires".
  std::vector<std::string> dependencies;
};

struct Lockfile {
  std::string path;  // "npm-shrinkwrap.json" or "package-lock.json"
  int lockfile_version = 0;
  std::vector<LockedEntry> packages;  // by key (npm writes them sorted); the root ("") left out
  // v2/v3: the names the root ("") entry depends on, every section, in file order. v1 does not
  // say (npm 6 writes `"requires": true` there): empty.
  std::vector<std::string> root_dependencies;
};

// The project's .npmrc as npm reads it (the `ini` module, npm 11's keys). Unset stays nullopt:
// npm's own default applies.
struct Npmrc {
  std::optional<std::string> registry;
  std::map<std::string, std::string> scoped_registries;  // "@scope" -> URL
  std::optional<bool> package_lock;
  std::optional<bool> ignore_scripts;
  std::optional<double> min_release_age_days;
  std::optional<bool> save_exact;
  std::optional<std::string> save_prefix;
  std::optional<bool> engine_strict;
  std::optional<bool> legacy_peer_deps;
  // Every other key: its value as text ("true" for a bare key; `${ENV}` never expanded; keys
  // under an ini [section] as "section.key"). `key[]=` values, in order, are in `lists`.
  std::map<std::string, std::string> other;
  std::map<std::string, std::vector<std::string>> lists;
  // Credential keys (`_authToken`, `_auth`, `_password`, `username`, `//host/:...`, ...): the
  // names only. Their values are never stored anywhere.
  std::vector<std::string> credential_keys;
};

struct Project {
  PackageJson root;
  std::vector<PackageJson> workspaces;  // members, in npm's order
  std::optional<Lockfile> lockfile;
  Npmrc npmrc;
  std::vector<ProjectDiagnostic> diagnostics;
};

// Size caps on what is read.
inline constexpr size_t kMaxManifestBytes = 4 << 20;
inline constexpr size_t kMaxLockfileBytes = 256 << 20;
inline constexpr size_t kMaxNpmrcBytes = 1 << 20;
inline constexpr size_t kMaxWorkspaces = 2000;
inline constexpr size_t kMaxLockedDeprecation = 300;

// Reads the project at `root` (a checkout directory). NotFound or PermissionDenied when the
// root package.json cannot be read at all (it is missing, or a symlink); everything else,
// a malformed root package.json included, is a ProjectDiagnostic in the result.
absl::StatusOr<Project> ReadProject(const std::string& root);

// The pieces, for tests and for callers that hold the text already. `path` names the file in
// diagnostics and manifest paths; `dir` is the member directory ("" for the root).
PackageJson ParsePackageJson(absl::string_view text, absl::string_view dir,
                             std::vector<ProjectDiagnostic>& diagnostics);
std::optional<Lockfile> ParseLockfile(absl::string_view text, absl::string_view path,
                                      std::vector<ProjectDiagnostic>& diagnostics);
Npmrc ParseNpmrc(absl::string_view text, std::vector<ProjectDiagnostic>& diagnostics);

// Fills each dependency's installed_version from `lockfile`, and says where they disagree.
void MatchLockfile(const Lockfile& lockfile, std::vector<PackageJson*> manifests,
                   std::vector<ProjectDiagnostic>& diagnostics);

}  // namespace ovvoc::agent::npm

#endif  // OVVOC_AGENT_NPM_PROJECT_H_
