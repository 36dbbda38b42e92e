#include "agent/npm/project.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/npm/internal/project_parts.h"
#include "agent/npm/spec.h"
#include "tests/support/temp_dir.h"

namespace ovvoc::agent::npm {
namespace {

namespace fs = std::filesystem;
using ovvoc::testing::TempDir;

// Each row was checked once against the job image's npm-package-arg 13.0.2:
// `npa.resolve(name, spec)` (type, alias target's name and type, fetchSpec, or the error).
// kUnsupported rows are npm's EUNSUPPORTEDPROTOCOL; kInvalid rows every other throw.
struct SpecCase {
  const char* name;
  const char* spec;
  SpecKind kind;
  bool alias;
  const char* registry_name;  // registry kinds only
  const char* fetch_spec;     // registry kinds only
};

TEST_CASE("specs are classified as npm-package-arg classifies them") {
  const SpecCase cases[] = {
      {"x", "1.2.3", SpecKind::kVersion, false, "x", "1.2.3"},
      {"x", "v1.2.3", SpecKind::kVersion, false, "x", "v1.2.3"},
      {"x", "=1.2.3", SpecKind::kVersion, false, "x", "=1.2.3"},
      {"x", "^1.2", SpecKind::kRange, false, "x", "^1.2"},
      {"x", "~>1", SpecKind::kRange, false, "x", "~>1"},
      {"x", "x", SpecKind::kRange, false, "x", "x"},
      {"x", "*", SpecKind::kRange, false, "x", "*"},
      {"x", "", SpecKind::kRange, false, "x", ""},
      {"x", "  ^1.2.3  ", SpecKind::kRange, false, "x", "^1.2.3"},
      {"x", "latest", SpecKind::kTag, false, "x", "latest"},
      {"x", "next", SpecKind::kTag, false, "x", "next"},
      {"x", "1.2.3 - 2.0.0", SpecKind::kRange, false, "x", "1.2.3 - 2.0.0"},
      {"x", ">=1 <2 || 3.x", SpecKind::kRange, false, "x", ">=1 <2 || 3.x"},
      {"x", "a b", SpecKind::kInvalid, false, "", ""},
      {"x", "tag%20x", SpecKind::kInvalid, false, "", ""},
      {"x", "beta!", SpecKind::kTag, false, "x", "beta!"},
      {"x", "01.2.3", SpecKind::kVersion, false, "x", "01.2.3"},
      {"x", "1.2.3beta", SpecKind::kVersion, false, "x", "1.2.3beta"},
      {"x", "github:user/repo", SpecKind::kGit, false, "", ""},
      {"x", "github:user/repo#v1.0.0", SpecKind::kGit, false, "", ""},
      {"x", "user/repo", SpecKind::kGit, false, "", ""},
      {"x", "user/repo#semver:^1.0.0", SpecKind::kGit, false, "", ""},
      {"x", "gitlab:user/repo", SpecKind::kGit, false, "", ""},
      {"x", "bitbucket:user/repo", SpecKind::kGit, false, "", ""},
      {"x", "gist:abc123", SpecKind::kGit, false, "", ""},
      {"x", "git+ssh://git@github.com:user/repo.git", SpecKind::kGit, false, "", ""},
      {"x", "git+ssh://git@example.com:user/repo.git#main", SpecKind::kGit, false, "", ""},
      {"x", "git+https://example.com/user/repo.git", SpecKind::kGit, false, "", ""},
      {"x", "git://example.com/repo.git", SpecKind::kGit, false, "", ""},
      {"x", "git@github.com:user/repo.git", SpecKind::kGit, false, "", ""},
      {"x", "https://github.com/user/repo", SpecKind::kGit, false, "", ""},
      {"x", "https://github.com/user/repo/archive/v1.tar.gz", SpecKind::kRemote, false, "", ""},
      {"x", "https://example.com/x-1.0.0.tgz", SpecKind::kRemote, false, "", ""},
      {"x", "http://example.com/pkg", SpecKind::kRemote, false, "", ""},
      {"x", "git+ssh://host:1234/repo.git", SpecKind::kGit, false, "", ""},
      {"x", "sourcehut:~user/repo", SpecKind::kGit, false, "", ""},
      {"x", "github.com/user/repo", SpecKind::kDirectory, false, "", ""},
      {"x", "file:../lib", SpecKind::kDirectory, false, "", ""},
      {"x", "file:x.tgz", SpecKind::kFile, false, "", ""},
      {"x", "./lib", SpecKind::kDirectory, false, "", ""},
      {"x", "../lib", SpecKind::kDirectory, false, "", ""},
      {"x", "/abs/lib", SpecKind::kDirectory, false, "", ""},
      {"x", "~/lib", SpecKind::kDirectory, false, "", ""},
      {"x", "./x.tar.gz", SpecKind::kFile, false, "", ""},
      {"x", "lib/sub", SpecKind::kGit, false, "", ""},
      {"x", "x.tgz", SpecKind::kFile, false, "", ""},
      {"x", "c:foo", SpecKind::kDirectory, false, "", ""},
      {"x", "link:../foo", SpecKind::kUnsupported, false, "", ""},
      {"x", "workspace:*", SpecKind::kUnsupported, false, "", ""},
      {"x", "workspace:^1.0.0", SpecKind::kUnsupported, false, "", ""},
      {"x", "catalog:", SpecKind::kUnsupported, false, "", ""},
      {"x", "portal:../x", SpecKind::kUnsupported, false, "", ""},
      {"x", "ftp://host/x.tgz", SpecKind::kUnsupported, false, "", ""},
      {"x", "npm:y@^1.0.0", SpecKind::kRange, true, "y", "^1.0.0"},
      {"x", "npm:@s/y@1.2.3", SpecKind::kVersion, true, "@s/y", "1.2.3"},
      {"x", "npm:y", SpecKind::kRange, true, "y", "*"},
      {"x", "npm:y@latest", SpecKind::kTag, true, "y", "latest"},
      {"x", "npm:npm:z@1", SpecKind::kInvalid, false, "", ""},
      {"x", "npm:y@github:a/b", SpecKind::kInvalid, false, "", ""},
      {"x", "npm:^1.0.0", SpecKind::kInvalid, false, "", ""},
      {"x", "npm:github:a/b", SpecKind::kInvalid, false, "", ""},
      {"x", "NPM:y@1", SpecKind::kRange, true, "y", "1"},
      {"x", "npm:y@", SpecKind::kRange, true, "y", "*"},
      {"x", "npm:@s/y", SpecKind::kRange, true, "@s/y", "*"},
      {"x", "npm:y@a b", SpecKind::kInvalid, false, "", ""},
      {"x", "npm:.bad@1", SpecKind::kInvalid, false, "", ""},
      {".bad", "1.0.0", SpecKind::kInvalid, false, "", ""},
      {"@s/x", "^1", SpecKind::kRange, false, "@s/x", "^1"},
      {"_x", "1", SpecKind::kInvalid, false, "", ""},
      {"node_modules", "1", SpecKind::kInvalid, false, "", ""},
      {"X", "1", SpecKind::kRange, false, "X", "1"},
      {"a b", "1", SpecKind::kInvalid, false, "", ""},
      {"x", " ./lib", SpecKind::kDirectory, false, "", ""},
      {"x", "1.2.3\t", SpecKind::kVersion, false, "x", "1.2.3"},
      {"x",
       "\xC2\xA0"
       "^1\xC2\xA0"
       "",
       SpecKind::kRange, false, "x", "^1"},
      {"x", "semver:^1", SpecKind::kUnsupported, false, "", ""},
      {"x", "github:user/repo#semver:^1.0.0::path:sub", SpecKind::kGit, false, "", ""},
      {"x", "github:user/repo#a::b", SpecKind::kInvalid, false, "", ""},
  };
  for (const SpecCase& c : cases) {
    INFO("name " << c.name << " spec '" << c.spec << "'");
    Spec spec = ClassifySpec(c.name, c.spec);
    CHECK(SpecKindName(spec.kind) == SpecKindName(c.kind));
    CHECK(spec.alias == c.alias);
    if (spec.registry()) {
      CHECK(spec.name == c.registry_name);
      CHECK(spec.fetch_spec == c.fetch_spec);
    }
    // Everything the agent will not update says why; versions and ranges need no reason.
    const bool updatable = c.kind == SpecKind::kVersion || c.kind == SpecKind::kRange;
    CHECK(spec.reason.empty() == updatable);
  }
}

TEST_CASE("git specs keep their committish or semver range") {
  CHECK(ClassifySpec("x", "github:user/repo#v1.0.0").git_committish == "v1.0.0");
  CHECK(ClassifySpec("x", "user/repo#semver:^1.0.0").git_range == "^1.0.0");
  CHECK(ClassifySpec("x", "git+ssh://git@example.com:user/repo.git#main").git_committish == "main");
  CHECK(ClassifySpec("x", "github:user/repo").reason ==
        "a git dependency (github:user/repo): not from a registry");
  CHECK(absl::StrContains(ClassifySpec("x", "workspace:*").reason, "workspace:"));
}

TEST_CASE("a hostile spec is bounded in the reason and never crashes") {
  const std::string huge(1 << 20, 'a');
  Spec spec = ClassifySpec("x", "git+https://h/" + huge);
  CHECK(spec.kind == SpecKind::kGit);
  CHECK(spec.reason.size() < 300);
  for (const char* odd : {"%", "#", "@", ":", "//", "npm:", "npm:@", "git+ssh://", "https://",
                          "github:", "a/b#%zz", "\xff\xfe", "[", "{"}) {
    (void)ClassifySpec("x", odd);
  }
}

// ---- Project reading on temporary checkouts

void Write(const TempDir& dir, const std::string& relative, const std::string& text) {
  const fs::path path = fs::path(dir.path()) / relative;
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

std::string Messages(const std::vector<ProjectDiagnostic>& diagnostics) {
  std::vector<std::string> lines;
  for (const ProjectDiagnostic& d : diagnostics) lines.push_back(d.file + ": " + d.message);
  return absl::StrJoin(lines, "\n");
}

const DeclaredDependency* Find(const PackageJson& manifest, const std::string& name) {
  for (const DeclaredDependency& d : manifest.dependencies) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

TEST_CASE("package.json: every section in file order, classified, with its extras") {
  TempDir dir;
  Write(dir, "package.json", R"({
    "name": "app", "version": "1.0.0",
    "devDependencies": {"jest": "^29"},
    "dependencies": {"zod": "^3.0.0", "lib": "file:../lib", "alias": "npm:real@^2",
                     "both": "1.0.0", "bundled": "^1"},
    "optionalDependencies": {"both": "^1", "fsevents": "*"},
    "peerDependencies": {"react": ">=18", "vue": "^3"},
    "peerDependenciesMeta": {"vue": {"optional": true}, "react": {"optional": "yes"}},
    "bundleDependencies": ["bundled"],
    "overrides": {"foo": "1.0.0", "@s/bar@^2": {"baz": "3", ".": "2.1.0"}},
    "workspaces": {"packages": []},
    "engines": {"node": ">=20", "npm": 11},
    "packageManager": "npm@11.0.0",
    "devEngines": {"runtime": {"name": "node"}}
  })");
  absl::StatusOr<Project> project = ReadProject(dir.path());
  REQUIRE(project.ok());
  const PackageJson& root = project->root;
  CHECK(root.parsed);
  CHECK(root.name == "app");
  std::vector<std::string> names;
  for (const DeclaredDependency& d : root.dependencies) names.push_back(d.name);
  // File order; "both" only as optional, as npm's normalize leaves it.
  CHECK(names == std::vector<std::string>{"jest", "zod", "lib", "alias", "bundled", "both",
                                          "fsevents", "react", "vue"});
  CHECK(Find(root, "jest")->kind == ovvoc::v1::DEPENDENCY_KIND_DEV);
  CHECK(Find(root, "both")->kind == ovvoc::v1::DEPENDENCY_KIND_OPTIONAL);
  CHECK(Find(root, "lib")->classified.kind == SpecKind::kDirectory);
  CHECK(Find(root, "alias")->classified.alias);
  CHECK(Find(root, "alias")->classified.name == "real");
  CHECK(Find(root, "vue")->peer_optional);
  CHECK_FALSE(Find(root, "react")->peer_optional);  // a string is not true
  CHECK(Find(root, "bundled")->bundled);
  CHECK(root.overridden == std::vector<std::string>{"foo", "@s/bar", "baz"});
  CHECK(absl::StrContains(root.overrides_json, "\"@s/bar@^2\""));
  CHECK(root.engines == std::vector<std::pair<std::string, std::string>>{{"node", ">=20"}});
  CHECK(root.package_manager == "npm@11.0.0");
  CHECK(root.dev_engines_json == R"({"runtime":{"name":"node"}})");
  CHECK(Find(root, "zod")->manifest_path == "package.json");
}

constexpr const char* kAppManifest =
    R"({"name": "app", "dependencies": {"a": "^1.0.0", "b": "~2.0.0", "al": "npm:real@^3"},
        "devDependencies": {"d": "1.0.0"}})";

TEST_CASE("lockfile v3: installed versions and every field, type-checked") {
  TempDir dir;
  Write(dir, "package.json", kAppManifest);
  Write(dir, "package-lock.json", R"({"lockfileVersion": 3, "packages": {
    "": {"name": "app"},
    "node_modules/a": {"version": "1.4.0", "resolved": "https://r/a-1.4.0.tgz",
                       "integrity": "sha512-x", "hasInstallScript": true},
    "node_modules/b": {"version": "2.0.7", "dev": "true", "optional": 1, "link": "yes"},
    "node_modules/al": {"name": "real", "version": "3.1.0", "peer": true},
    "node_modules/d": {"version": "1.0.0", "dev": true, "devOptional": true, "inBundle": true},
    "node_modules/junk": 7
  }})");
  absl::StatusOr<Project> project = ReadProject(dir.path());
  REQUIRE(project.ok());
  REQUIRE(project->lockfile);
  CHECK(project->lockfile->path == "package-lock.json");
  CHECK(project->lockfile->lockfile_version == 3);
  // In key order, as npm writes them.
  const std::vector<LockedEntry>& packages = project->lockfile->packages;
  REQUIRE(packages.size() == 4);
  CHECK(packages[0].key == "node_modules/a");
  CHECK(packages[0].name == "a");
  CHECK(packages[0].resolved == "https://r/a-1.4.0.tgz");
  CHECK(packages[0].integrity == "sha512-x");
  CHECK(packages[0].has_install_script);
  CHECK(packages[1].key == "node_modules/al");
  CHECK(packages[1].name == "real");
  CHECK(packages[1].peer);
  CHECK(packages[2].key == "node_modules/b");
  CHECK_FALSE(packages[2].dev);  // "true" (a string) is not true
  CHECK_FALSE(packages[2].optional);
  CHECK_FALSE(packages[2].link);
  CHECK(packages[3].dev);
  CHECK(packages[3].dev_optional);
  CHECK(packages[3].in_bundle);
  CHECK(*Find(project->root, "a")->installed_version == "1.4.0");
  CHECK(*Find(project->root, "al")->installed_version == "3.1.0");
  CHECK(Find(project->root, "a")->lock_key == "node_modules/a");
  CHECK_THAT(Messages(project->diagnostics), Catch::Contains("1 package entries are not objects"));
  CHECK_FALSE(absl::StrContains(Messages(project->diagnostics), "is locked at"));
}

TEST_CASE("lockfile v2 reads packages, v1 reads nested dependencies and aliases") {
  TempDir v2;
  Write(v2, "package.json", kAppManifest);
  Write(v2, "package-lock.json", R"({"lockfileVersion": 2,
    "packages": {"node_modules/a": {"version": "1.0.1"}, "node_modules/b": {"version": "2.0.0"},
                 "node_modules/al": {"name": "real", "version": "3.0.0"},
                 "node_modules/d": {"version": "1.0.0"}},
    "dependencies": {"a": {"version": "9.9.9"}}})");
  absl::StatusOr<Project> two = ReadProject(v2.path());
  REQUIRE(two.ok());
  CHECK(*Find(two->root, "a")->installed_version == "1.0.1");
  CHECK(two->diagnostics.empty());

  TempDir v1;
  Write(v1, "package.json", kAppManifest);
  Write(v1, "package-lock.json", R"({"lockfileVersion": 1, "dependencies": {
    "a": {"version": "1.2.0", "resolved": "https://r/a.tgz", "integrity": "sha1-x",
          "dependencies": {"inner": {"version": "0.1.0", "dev": true}}},
    "b": {"version": "2.0.3", "optional": true},
    "al": {"version": "npm:real@3.2.1"},
    "d": {"version": "1.0.0", "bundled": true}}})");
  absl::StatusOr<Project> one = ReadProject(v1.path());
  REQUIRE(one.ok());
  REQUIRE(one->lockfile);
  CHECK(one->lockfile->lockfile_version == 1);
  CHECK(*Find(one->root, "a")->installed_version == "1.2.0");
  CHECK(*Find(one->root, "al")->installed_version == "3.2.1");
  bool inner = false;
  for (const LockedEntry& e : one->lockfile->packages) {
    if (e.key == "node_modules/a/node_modules/inner") inner = e.dev && e.version == "0.1.0";
    if (e.key == "node_modules/al") CHECK(e.name == "real");
    if (e.key == "node_modules/d") CHECK(e.in_bundle);
  }
  CHECK(inner);
  CHECK(one->diagnostics.empty());
}

TEST_CASE("npm-shrinkwrap.json wins over package-lock.json") {
  TempDir dir;
  Write(dir, "package.json", R"({"dependencies": {"a": "^1"}})");
  Write(dir, "package-lock.json",
        R"({"lockfileVersion": 3, "packages": {"node_modules/a": {"version": "1.0.0"}}})");
  Write(dir, "npm-shrinkwrap.json",
        R"({"lockfileVersion": 3, "packages": {"node_modules/a": {"version": "1.5.0"}}})");
  absl::StatusOr<Project> project = ReadProject(dir.path());
  REQUIRE(project.ok());
  REQUIRE(project->lockfile);
  CHECK(project->lockfile->path == "npm-shrinkwrap.json");
  CHECK(*Find(project->root, "a")->installed_version == "1.5.0");
  CHECK_THAT(Messages(project->diagnostics), Catch::Contains("package-lock.json: ignored"));
}

TEST_CASE("a lockfile that disagrees with its manifest: one diagnostic per dependency") {
  TempDir dir;
  Write(dir, "package.json", R"({"dependencies": {"a": "^2.0.0", "gone": "^1", "t": "latest",
    "g": "github:u/r#semver:^1.0.0", "loose": "~1.2"},
    "peerDependencies": {"opt": "^1"}, "peerDependenciesMeta": {"opt": {"optional": true}}})");
  Write(dir, "package-lock.json", R"({"lockfileVersion": 3, "packages": {
    "node_modules/a": {"version": "1.9.0"}, "node_modules/t": {"version": "0.0.1"},
    "node_modules/g": {"version": "2.0.0"}, "node_modules/loose": {"version": "1.2.9"}}})");
  absl::StatusOr<Project> project = ReadProject(dir.path());
  REQUIRE(project.ok());
  const std::string messages = Messages(project->diagnostics);
  CHECK_THAT(messages,
             Catch::Contains("a is locked at 1.9.0 in package-lock.json, which its spec ^2.0.0"));
  CHECK_THAT(messages, Catch::Contains("gone (^1) is not in package-lock.json"));
  CHECK_THAT(messages, Catch::Contains("g is locked at 2.0.0"));
  CHECK_FALSE(absl::StrContains(messages, "opt"));  // an optional peer may be absent
  CHECK_FALSE(absl::StrContains(messages, "loose"));
  CHECK_FALSE(absl::StrContains(messages, "t is locked"));
  CHECK(project->diagnostics.size() == 3);
}

TEST_CASE("workspaces: globs, negation, member lockfile lookup, symlinks not followed") {
  TempDir dir;
  TempDir outside;
  Write(outside, "evil/package.json", R"({"name": "evil", "dependencies": {"x": "1"}})");
  Write(dir, "package.json", R"({"name": "root", "workspaces": ["packages/*", "!packages/skip",
    "tools/**", "./apps/web", "libs/{one,two}"]})");
  Write(dir, "packages/a/package.json",
        R"({"name": "a", "dependencies": {"dep": "^1", "b": "^1"}})");
  Write(dir, "packages/b/package.json", R"({"name": "b", "version": "1.0.0"})");
  Write(dir, "packages/skip/package.json", R"({"name": "skip"})");
  Write(dir, "packages/empty/README.md", "no manifest");
  Write(dir, "packages/.hidden/package.json", R"({"name": "hidden"})");
  Write(dir, "tools/deep/er/package.json", R"({"name": "deeper"})");
  Write(dir, "tools/node_modules/nm/package.json", R"({"name": "nm"})");
  Write(dir, "apps/web/package.json", R"({"name": "web"})");
  Write(dir, "libs/one/package.json", R"({"name": "one"})");
  Write(dir, "libs/two/package.json", R"({"name": "two"})");
  fs::create_directory_symlink(outside.Sub("evil"), dir.Sub("packages/evil"));
  // Positive control: a reader that follows links would find a member there.
  REQUIRE(fs::is_regular_file(dir.Sub("packages/evil/package.json")));
  Write(dir, "package-lock.json", R"({"lockfileVersion": 3, "packages": {
    "packages/a/node_modules/dep": {"version": "1.1.0"},
    "node_modules/dep": {"version": "1.0.0"},
    "node_modules/b": {"link": true, "resolved": "packages/b"},
    "packages/b": {"name": "b", "version": "1.0.0"}}})");
  absl::StatusOr<Project> project = ReadProject(dir.path());
  REQUIRE(project.ok());
  std::vector<std::string> dirs;
  for (const PackageJson& member : project->workspaces) dirs.push_back(member.dir);
  CHECK(dirs == std::vector<std::string>{"packages/a", "packages/b", "tools/deep/er", "apps/web",
                                         "libs/one", "libs/two"});
  const PackageJson& a = project->workspaces[0];
  CHECK(Find(a, "dep")->manifest_path == "packages/a/package.json");
  CHECK(*Find(a, "dep")->installed_version == "1.1.0");  // the member's own node_modules first
  CHECK(*Find(a, "b")->installed_version == "1.0.0");    // through the workspace link
  CHECK_THAT(Messages(project->diagnostics),
             Catch::Contains("packages/evil: a workspace that is a symlink: not followed"));
}

TEST_CASE("workspace patterns match as minimatch does") {
  using internal::MatchWorkspacePattern;
  CHECK(MatchWorkspacePattern("packages/a", "packages/*"));
  CHECK_FALSE(MatchWorkspacePattern("packages/a/b", "packages/*"));
  CHECK(MatchWorkspacePattern("packages/a/b", "packages/**"));
  CHECK(MatchWorkspacePattern("packages", "packages/**"));
  CHECK_FALSE(MatchWorkspacePattern("packages/.x", "packages/*"));
  CHECK(MatchWorkspacePattern("packages/.x", "packages/.*"));
  CHECK(MatchWorkspacePattern("p/a1", "p/a[0-9]"));
  CHECK_FALSE(MatchWorkspacePattern("p/ab", "p/a[!b]"));
  CHECK(MatchWorkspacePattern("p/two", "p/{one,two}"));
  CHECK(MatchWorkspacePattern("p/x-y", "p/x?y"));
}

TEST_CASE("malformed files are diagnostics and the rest is still read") {
  TempDir dir;
  Write(dir, "package.json", R"({"name": "app", "dependencies": {"a": 1, "b": "^1"},
    "devDependencies": [], "workspaces": "packages/*", "overrides": "x", "version": 3})");
  Write(dir, "package-lock.json", "{\"lockfileVersion\": 3, \"packages\": ");
  Write(dir, ".npmrc", "ignore-scripts=maybe\nmin-release-age=soon\nsave-exact=true\n");
  absl::StatusOr<Project> project = ReadProject(dir.path());
  REQUIRE(project.ok());
  const std::string messages = Messages(project->diagnostics);
  CHECK_THAT(messages, Catch::Contains("\"dependencies\".\"a\" is a number"));
  CHECK_THAT(messages, Catch::Contains("\"devDependencies\" is an array"));
  CHECK_THAT(messages, Catch::Contains("\"workspaces\" is not an array"));
  CHECK_THAT(messages, Catch::Contains("\"version\" is a number"));
  CHECK_THAT(messages, Catch::Contains("package-lock.json: is not valid JSON"));
  CHECK_THAT(messages, Catch::Contains(".npmrc: ignore-scripts: not true or false"));
  CHECK_THAT(messages, Catch::Contains(".npmrc: min-release-age: not a number"));
  CHECK(Find(project->root, "b") != nullptr);
  CHECK_FALSE(project->lockfile);
  CHECK(project->npmrc.save_exact == true);

  TempDir broken;
  Write(broken, "package.json", "{\"name\": ");
  Write(broken, "package-lock.json", R"({"lockfileVersion": 7})");
  absl::StatusOr<Project> b = ReadProject(broken.path());
  REQUIRE(b.ok());
  CHECK_FALSE(b->root.parsed);
  CHECK_THAT(Messages(b->diagnostics), Catch::Contains("package.json: is not valid JSON"));
  CHECK_THAT(Messages(b->diagnostics), Catch::Contains("has no lockfileVersion 1, 2 or 3"));
}

// {"a": {"a": ... "1" ... }}, `depth` objects deep.
std::string Nested(int depth) {
  std::string text;
  for (int i = 0; i < depth; ++i) text += "{\"a\": ";
  return text + "\"1\"" + std::string(depth, '}');
}

TEST_CASE("hostile shapes: deep nesting, wrong types everywhere, symlinked files") {
  TempDir dir;
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  Write(dir, "package.json",
        R"({"name": ["x"], "dependencies": {"a": "^1"},
    "peerDependenciesMeta": {"a": 3}, "bundleDependencies": {"x": 1}, "engines": [1],
    "overrides": {"deep": )" +
            Nested(100) + "}}");
  Write(dir, "package-lock.json", R"({"lockfileVersion": "3", "packages": {}})");
  absl::StatusOr<Project> project = ReadProject(dir.path());
  REQUIRE(project.ok());
  CHECK_THAT(Messages(project->diagnostics), Catch::Contains("package.json: nests deeper than"));

  TempDir types;
  Write(types, "package.json", R"({"name": ["x"], "dependencies": {"a": "^1"},
    "peerDependenciesMeta": {"a": 3}, "bundleDependencies": {"x": 1}, "engines": [1]})");
  Write(types, "package-lock.json", "{\"lockfileVersion\": 3, \"packages\": " + deep + "}");
  absl::StatusOr<Project> t = ReadProject(types.path());
  REQUIRE(t.ok());
  CHECK(t->root.parsed);
  CHECK(t->root.name.empty());
  CHECK_THAT(Messages(t->diagnostics), Catch::Contains("package-lock.json: nests deeper than"));
  CHECK_THAT(Messages(t->diagnostics), Catch::Contains("\"bundleDependencies\" is an object"));

  TempDir links;
  Write(links, "package.json", R"({"dependencies": {}})");
  Write(dir, "secret.npmrc", "_authToken=s3cr3t");
  fs::create_symlink(dir.Sub("secret.npmrc"), links.Sub(".npmrc"));
  fs::create_symlink(dir.Sub("package-lock.json"), links.Sub("package-lock.json"));
  absl::StatusOr<Project> l = ReadProject(links.path());
  REQUIRE(l.ok());
  CHECK(l->npmrc.credential_keys.empty());
  CHECK_FALSE(l->lockfile);
  CHECK_THAT(Messages(l->diagnostics), Catch::Contains(".npmrc: cannot be read"));
  CHECK_THAT(Messages(l->diagnostics), Catch::Contains("symlink"));

  TempDir root_link;
  fs::create_symlink(dir.Sub("package.json"), root_link.Sub("package.json"));
  CHECK(absl::IsPermissionDenied(ReadProject(root_link.path()).status()));
  TempDir empty;
  CHECK(absl::IsNotFound(ReadProject(empty.path()).status()));
}

TEST_CASE(".npmrc: npm's ini, the keys the plan needs, credentials by name only") {
  std::vector<ProjectDiagnostic> diagnostics;
  Npmrc rc = ParseNpmrc(R"(; a comment
# another
registry = https://npm.example.com/  ; trailing comment
@corp:registry="https://corp.example.com/"
//npm.example.com/:_authToken=${NPM_TOKEN}
//corp.example.com/:_auth=dXNlcjpwYXNz
_authToken=plain-secret
@corp:_password=hunter2
username=bob
package-lock=false
ignore-scripts
save-exact=true
save-prefix='~'
engine-strict=false
legacy-peer-deps=true
min-release-age=3
cache=${HOME}/.npm
ca[]=first
ca[]=second
[section]
inner=1
)",
                        diagnostics);
  CHECK(diagnostics.empty());
  CHECK(rc.registry == "https://npm.example.com/");
  CHECK(rc.scoped_registries ==
        std::map<std::string, std::string>{{"@corp", "https://corp.example.com/"}});
  CHECK(rc.package_lock == false);
  CHECK(rc.ignore_scripts == true);
  CHECK(rc.save_exact == true);
  CHECK(rc.save_prefix == "~");
  CHECK(rc.engine_strict == false);
  CHECK(rc.legacy_peer_deps == true);
  CHECK(rc.min_release_age_days == 3.0);
  CHECK(rc.other.at("cache") == "${HOME}/.npm");  // never expanded
  CHECK(rc.lists.at("ca") == std::vector<std::string>{"first", "second"});
  CHECK(rc.credential_keys == std::vector<std::string>{"//npm.example.com/:_authToken",
                                                       "//corp.example.com/:_auth", "_authToken",
                                                       "@corp:_password", "username"});
  // No credential's value survives anywhere in the result.
  std::string everything;
  for (const auto& [k, v] : rc.other) everything += k + "=" + v + "\n";
  for (const auto& [k, v] : rc.lists) everything += k + "=" + absl::StrJoin(v, ",") + "\n";
  for (const char* secret : {"NPM_TOKEN", "dXNlcjpwYXNz", "plain-secret", "hunter2", "bob"}) {
    CHECK_FALSE(absl::StrContains(everything, secret));
  }
}

TEST_CASE(".npmrc: credentials in sections, without '=' and in URLs are dropped too") {
  std::vector<ProjectDiagnostic> diagnostics;
  Npmrc rc = ParseNpmrc(R"([x]
_authToken=SECRET1
[]
_authToken: SECRET2
//host/:_authToken SECRET3
//host/:_password SECRET4=x
registry=https://user:SECRET5@npm.example.com/path
@s:registry=https://SECRET6@s.example.com/
)",
                        diagnostics);
  std::string everything = rc.registry.value_or("");
  for (const auto& [k, v] : rc.scoped_registries) everything += k + "=" + v + "\n";
  for (const auto& [k, v] : rc.other) everything += k + "=" + v + "\n";
  for (const std::string& k : rc.credential_keys) everything += k + "\n";
  for (const ProjectDiagnostic& d : diagnostics) everything += d.message + "\n";
  for (int i = 1; i <= 6; ++i) CHECK_FALSE(absl::StrContains(everything, absl::StrCat("SECRET", i)));
  CHECK(rc.registry == "https://***@npm.example.com/path");
  CHECK(rc.credential_keys.size() == 4);
}

TEST_CASE("npm's normalize: no nameless dependency, optional wins over production in any order") {
  std::vector<ProjectDiagnostic> diagnostics;
  PackageJson manifest = ParsePackageJson(
      R"({"optionalDependencies": {"a": "^1.0.0"}, "dependencies": {"a": "^2.0.0", "": "^1.0.0",
          "b": "^1.0.0"}})",
      "", diagnostics);
  REQUIRE(manifest.dependencies.size() == 2);
  CHECK(manifest.dependencies[0].name == "a");
  CHECK(manifest.dependencies[0].kind == ovvoc::v1::DEPENDENCY_KIND_OPTIONAL);
  CHECK(manifest.dependencies[1].name == "b");
  CHECK_THAT(Messages(diagnostics), Catch::Contains("without a name"));
}

TEST_CASE("nested npm: aliases are refused without recursing into each") {
  std::string spec;
  for (int i = 0; i < 20000; ++i) spec += "npm:x@";
  spec += "1.0.0";
  const Spec nested = ClassifySpec("x", spec);
  CHECK(nested.kind == SpecKind::kInvalid);
  CHECK(nested.reason.size() < 400);
}

TEST_CASE("yarn, pnpm and bun lockfiles: not supported yet, said clearly") {
  TempDir dir;
  Write(dir, "package.json", "{}");
  Write(dir, "yarn.lock", "# yarn\n");
  Write(dir, "pnpm-lock.yaml", "lockfileVersion: '9.0'\n");
  Write(dir, "bun.lockb", "\x01");
  absl::StatusOr<Project> project = ReadProject(dir.path());
  REQUIRE(project.ok());
  const std::string messages = Messages(project->diagnostics);
  CHECK_THAT(messages,
             Catch::Contains("yarn.lock: not supported yet (npm's package-lock.json is)"));
  CHECK_THAT(messages, Catch::Contains("pnpm-lock.yaml: not supported yet"));
  CHECK_THAT(messages, Catch::Contains("bun.lockb: not supported yet"));
}

// ---- Denial of service: inputs whose cost the reader must bound

std::string Repeat(absl::string_view text, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) absl::StrAppend(&out, text);
  return out;
}

// lockfileVersion 1: `levels` nested packages with `name_bytes`-byte names, and `leaves` empty
// packages under the last. Each leaf's key repeats the whole chain.
std::string V1KeyBomb(int levels, size_t name_bytes, int leaves) {
  std::string text = R"({"lockfileVersion": 1, "dependencies": )";
  for (int i = 0; i < levels; ++i) {
    absl::StrAppend(&text, "{\"", std::string(name_bytes, 'a' + i % 26), "\": {\"dependencies\": ");
  }
  text += "{";
  for (int i = 0; i < leaves; ++i) absl::StrAppend(&text, i == 0 ? "" : ",", "\"", i, "\":{}");
  text += "}";
  for (int i = 0; i < levels; ++i) text += "}}";
  return text + "}";
}

TEST_CASE("lockfile v1: nested keys cannot outgrow the file (4 GB of keys from 1 MB)") {
  const std::string bomb = V1KeyBomb(/*levels=*/40, /*name_bytes=*/1000, /*leaves=*/100'000);
  // Positive control: unbounded, the leaves' keys alone would be thousands of times the file.
  const size_t unbounded = size_t{100'000} * (40 * (1000 + 14) + 20);
  REQUIRE(unbounded > 3000 * bomb.size());
  std::vector<ProjectDiagnostic> diagnostics;
  std::optional<Lockfile> lock = ParseLockfile(bomb, "package-lock.json", diagnostics);
  REQUIRE(lock);
  size_t key_bytes = 0;
  for (const LockedEntry& e : lock->packages) key_bytes += e.key.size();
  CHECK(key_bytes <= 2 * bomb.size());
  CHECK(lock->packages.size() < 100'000);
  CHECK_THAT(Messages(diagnostics),
             Catch::Contains("nests dependencies whose install paths add up to more than") &&
                 Catch::Contains("the rest skipped"));
  // MatchLockfile still works on what was read.
  PackageJson root;
  root.manifest_path = "package.json";
  root.dependencies.push_back(DeclaredDependency{.name = std::string(1000, 'a'), .spec = "*"});
  MatchLockfile(*lock, {&root}, diagnostics);
  CHECK(root.dependencies[0].installed_version.has_value());

  // Deeper than a deduped npm 6 tree ever nests: cut, and said.
  diagnostics.clear();
  lock = ParseLockfile(V1KeyBomb(70, 1, 1), "package-lock.json", diagnostics);
  REQUIRE(lock);
  CHECK(lock->packages.size() == 65);
  CHECK_THAT(Messages(diagnostics), Catch::Contains("nests dependencies more than 64 levels"));
}

TEST_CASE("lockfile v1: a large real-shaped tree is read whole") {
  std::string text = R"({"lockfileVersion": 1, "dependencies": {)";
  for (int i = 0; i < 3000; ++i) {
    const std::string entry = absl::StrCat(
        R"("version": "1.2.3", "resolved": "https://registry.npmjs.org/p/-/p-1.2.3.tgz", )",
        R"("integrity": "sha512-)", std::string(86, 'x'), "==\"");
    absl::StrAppend(&text, i == 0 ? "" : ",", "\"package-name-", i, "\": {", entry,
                    R"(, "dependencies": {"nested-dependency": {)", entry,
                    R"(, "dependencies": {"deeper-dependency": {)", entry, "}}}}}");
  }
  text += "}}";
  std::vector<ProjectDiagnostic> diagnostics;
  std::optional<Lockfile> lock = ParseLockfile(text, "package-lock.json", diagnostics);
  REQUIRE(lock);
  CHECK(lock->packages.size() == 9000);
  CHECK(diagnostics.empty());
}

TEST_CASE("workspace patterns: globstars match in polynomial time (was exponential)") {
  using internal::MatchWorkspacePattern;
  const std::string path = Repeat("a/", 40) + "b";
  // Recursing on each "**" tried every split of 41 segments among 40 globstars: ~1e23 paths.
  CHECK_FALSE(MatchWorkspacePattern(path, Repeat("**/", 40) + "x"));
  CHECK(MatchWorkspacePattern(path, Repeat("**/", 40) + "b"));
  CHECK_FALSE(MatchWorkspacePattern(path, Repeat("**/a/", 20) + "x"));
  CHECK(MatchWorkspacePattern(path, Repeat("**/a/", 20) + "**/b"));
  CHECK_FALSE(MatchWorkspacePattern(path, Repeat("**/a/", 42) + "**"));
  // Globstar still matches no dot-named segment, however many there are.
  CHECK_FALSE(MatchWorkspacePattern("a/.b/c", "**/c"));
  CHECK_FALSE(MatchWorkspacePattern("a/.b/c", "**/**/**/c"));
  CHECK(MatchWorkspacePattern("a/.b/c", "**/.b/**/c"));
  CHECK(MatchWorkspacePattern("a/.b/c", "a/.b/**"));
  CHECK(MatchWorkspacePattern("a", "a/**/**"));
  CHECK(MatchWorkspacePattern("x/a/b", "**/{a,c}/**/b"));

  // The same patterns as negations, matched against every pattern before any walk.
  TempDir dir;
  Write(dir, "package.json", "{}");
  std::vector<ProjectDiagnostic> diagnostics;
  CHECK(internal::ExpandWorkspaces(dir.path(), {"!" + Repeat("**/", 40) + "x", path}, diagnostics)
            .empty());
  CHECK(diagnostics.empty());
}

TEST_CASE("workspace walk: consecutive globstars walk each directory once") {
  TempDir dir;
  const std::string deep = Repeat("d/", 10) + "x";
  Write(dir, "package.json", "{}");
  Write(dir, deep + "/package.json", R"({"name": "x"})");
  std::vector<ProjectDiagnostic> diagnostics;
  // 30 globstars over 11 directories: C(41, 11) ways to reach the last, where each counted
  // toward the 20,000 visits.
  const std::vector<std::string> members =
      internal::ExpandWorkspaces(dir.path(), {Repeat("**/", 30) + "x"}, diagnostics);
  CHECK(members == std::vector<std::string>{deep});
  CHECK(Messages(diagnostics).empty());
}

// A checkout whose one workspace member is "pkg".
void WritePkg(const TempDir& dir) {
  Write(dir, "package.json", "{}");
  Write(dir, "pkg/package.json", R"({"name": "pkg"})");
}

TEST_CASE("workspace patterns: a thousand read (40000 were matched pairwise)") {
  TempDir dir;
  WritePkg(dir);
  // Negations between the patterns: each pattern matched against every negation before it,
  // 200 million matches.
  std::vector<std::string> many = {"pkg"};
  for (int i = 0; i < 20'000; ++i) {
    many.push_back(absl::StrCat("!n", i, "/*"));
    many.push_back(absl::StrCat("p", i));
  }
  std::vector<ProjectDiagnostic> diagnostics;
  CHECK(internal::ExpandWorkspaces(dir.path(), many, diagnostics) ==
        std::vector<std::string>{"pkg"});
  CHECK(Messages(diagnostics) ==
        "package.json: more than 1000 workspace patterns: the rest skipped");
}

TEST_CASE("workspace patterns: one longer than 1024 bytes is skipped (brace bomb)") {
  TempDir dir;
  WritePkg(dir);
  // 60,000 brace groups (360 KB): a level of recursion each, each level a copy of the pattern.
  std::vector<ProjectDiagnostic> diagnostics;
  CHECK(internal::ExpandWorkspaces(dir.path(), {Repeat("{a,b}/", 60'000), "pkg"}, diagnostics) ==
        std::vector<std::string>{"pkg"});
  CHECK(Messages(diagnostics) ==
        "package.json: 1 workspace patterns longer than 1024 bytes: skipped");
}

TEST_CASE("workspace patterns: matching stops at its step budget") {
  TempDir dir;
  WritePkg(dir);
  // Few enough and short enough, yet each pattern against the one negation's 256 expansions
  // takes ~30 million steps (it fails only at the "c" in the middle), 999 times.
  const std::string negation =
      "!**/" + Repeat("a/", 230) + Repeat("{a,a}/", 8) + "c/" + Repeat("a/", 230) + "**";
  std::vector<std::string> costly = {negation};
  for (int i = 0; i < 999; ++i) costly.push_back(Repeat("a/", 499) + "a");
  REQUIRE(negation.size() <= 1024);
  REQUIRE(costly[1].size() <= 1024);
  std::vector<ProjectDiagnostic> diagnostics;
  CHECK(internal::ExpandWorkspaces(dir.path(), costly, diagnostics).empty());
  CHECK(Messages(diagnostics) ==
        "package.json: workspace patterns take more than 100000000 steps to match: the rest "
        "skipped");
}

// {"dependencies": {"k0": "1", ...}} with `keys` keys.
std::string ManyKeys(int keys) {
  std::string text = R"({"name": "app", "dependencies": {)";
  for (int i = 0; i < keys; ++i) absl::StrAppend(&text, i == 0 ? "" : ",", "\"k", i, "\":\"1\"");
  return text + "}}";
}

TEST_CASE("package.json: an object of 300000 keys is refused at once (was 134 s)") {
  std::vector<ProjectDiagnostic> diagnostics;
  const std::string hostile = ManyKeys(300'000);
  REQUIRE(hostile.size() <= kMaxManifestBytes);
  PackageJson refused = ParsePackageJson(hostile, "", diagnostics);
  CHECK_FALSE(refused.parsed);
  CHECK_THAT(Messages(diagnostics), Catch::Contains("package.json: has an object with too many "
                                                    "keys: reading it takes more than"));
  // A large real manifest is unaffected.
  diagnostics.clear();
  PackageJson large = ParsePackageJson(ManyKeys(4000), "", diagnostics);
  CHECK(large.parsed);
  CHECK(large.dependencies.size() == 4000);
  CHECK(diagnostics.empty());
  // The lockfile's DOM is a std::map: no such bound there.
  std::string lock = R"({"lockfileVersion": 3, "packages": {)";
  for (int i = 0; i < 20'000; ++i) {
    absl::StrAppend(&lock, i == 0 ? "" : ",", "\"node_modules/k", i, "\":{\"version\":\"1.0.0\"}");
  }
  lock += "}}";
  std::optional<Lockfile> read = ParseLockfile(lock, "package-lock.json", diagnostics);
  REQUIRE(read);
  CHECK(read->packages.size() == 20'000);
  CHECK(diagnostics.empty());
}

TEST_CASE("package.json: workspace members share one bound on key comparisons") {
  // Each member near the bound of one manifest: 2,000 of them would take minutes. A repeated
  // key is counted as a new one (ordered_json may scan as far for it), which keeps this quick.
  std::string member = R"({"x": {"a": 1)";
  for (int i = 1; i < 7999; ++i) member += R"(, "a": 1)";
  member += "}}";
  TempDir dir;
  Write(dir, "package.json", R"({"workspaces": ["m/*"]})");
  for (int i = 0; i < 5; ++i) Write(dir, absl::StrCat("m/", i, "/package.json"), member);
  absl::StatusOr<Project> project = ReadProject(dir.path());
  REQUIRE(project.ok());
  CHECK(project->workspaces.size() == 3);
  for (const PackageJson& m : project->workspaces) CHECK(m.parsed);
  CHECK(Messages(project->diagnostics) ==
        "package.json: workspace manifests take more than 64000000 key comparisons to read: the "
        "rest skipped");
}

}  // namespace
}  // namespace ovvoc::agent::npm
