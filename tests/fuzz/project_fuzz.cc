// Fuzz harness for the npm project model's parsers of checkout files (agent/npm/project.h) and
// for npm-package-arg's reading of a dependency spec (agent/npm/spec.h). The same bytes go to
// each parser: as a package.json, as a lockfile, as an .npmrc with a credential line planted in
// it, and as a dependency's name and spec. Split at "\n---\n" (which JSON text cannot hold),
// they are a root manifest, a lockfile and a workspace member's manifest, matched by
// MatchLockfile. Besides "no crash, no UB", it checks what the headers promise: no credential
// value of an .npmrc survives anywhere in the result, every dependency is classified as
// ClassifySpec classifies it and carries a reason when the agent will not update it, what
// MatchLockfile fills in is in the lockfile, and diagnostics grow at most with the input.
// Built as a libFuzzer target with OVVOC_BUILD_FUZZERS (clang), and into project_fuzz_smoke,
// which runs it over corpus/project plus deterministic mutations in every build.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "agent/npm/project.h"
#include "agent/npm/semver.h"
#include "agent/npm/spec.h"

namespace ovvoc::agent::npm {
namespace {

using ovvoc::v1::DEPENDENCY_KIND_DEV;
using ovvoc::v1::DEPENDENCY_KIND_OPTIONAL;
using ovvoc::v1::DEPENDENCY_KIND_PEER;
using ovvoc::v1::DEPENDENCY_KIND_PROD;

constexpr absl::string_view kSeparator = "\n---\n";
constexpr absl::string_view kMemberDir = "packages/a";
constexpr absl::string_view kLockPath = "package-lock.json";

// The credential planted in every .npmrc. Nothing in the dictionary or the corpus spells it.
constexpr absl::string_view kSecret = "s3cr3t-0vv0c-fuzz";

// Credential lines as people write them: `prefix kSecret suffix`, and the key npm reads.
struct Credential {
  absl::string_view prefix, suffix, key;
};
constexpr Credential kCredentials[] = {
    {"_authToken=", "", "_authToken"},
    {"//registry.npmjs.org/:_authToken=", "", "//registry.npmjs.org/:_authToken"},
    {"@corp:_password = \"", "\"", "@corp:_password"},
    {"  //corp.example.com/:_auth = '", "' ; base64", "//corp.example.com/:_auth"},
    {"username=", "", "username"},
    {"_password[]=", "", "_password"},
    {"\"//npm.pkg.github.com/:_authToken\"=", "", "//npm.pkg.github.com/:_authToken"},
    {"EMAIL=", " # who", "EMAIL"},
    {"//h:8443/path/:certfile=", "", "//h:8443/path/:certfile"},
    {"_AUTH\t=\t", "\\;more", "_AUTH"},
};

[[noreturn]] void Broken(const char* invariant, absl::string_view input) {
  std::fprintf(stderr, "project invariant broken: %s\ninput (%zu bytes):", invariant, input.size());
  for (unsigned char c : input) std::fprintf(stderr, " %02x", c);
  std::fprintf(stderr, "\n");
  std::abort();
}

#define OVVOC_FUZZ_CHECK(condition, input)       \
  do {                                           \
    if (!(condition)) Broken(#condition, input); \
  } while (false)

// Diagnostics since `before`: at most one per byte of input, each naming its file and
// repeating at most the input plus a sentence. nlohmann's parse errors quote the last token
// with each control character as "<U+000A>": up to 8 bytes a byte (README.md, "Known gaps").
void CheckDiagnostics(const std::vector<ProjectDiagnostic>& diagnostics, size_t before,
                      absl::string_view input) {
  OVVOC_FUZZ_CHECK(diagnostics.size() - before <= input.size() + 1, input);
  for (size_t i = before; i < diagnostics.size(); ++i) {
    OVVOC_FUZZ_CHECK(!diagnostics[i].file.empty() && !diagnostics[i].message.empty(), input);
    OVVOC_FUZZ_CHECK(diagnostics[i].message.size() <= 8 * input.size() + 512, input);
  }
}

bool Updatable(SpecKind kind) { return kind == SpecKind::kVersion || kind == SpecKind::kRange; }

bool SameSpec(const Spec& a, const Spec& b) {
  return a.kind == b.kind && a.alias == b.alias && a.name == b.name &&
         a.fetch_spec == b.fetch_spec && a.git_committish == b.git_committish &&
         a.git_range == b.git_range && a.reason == b.reason;
}

// encodeURIComponent(s) === s, as npm requires of a dist-tag.
bool UriSafe(absl::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isalnum(c) || absl::StrContains("-_.!~*'()", c);
  });
}

void CheckSpec(absl::string_view name, absl::string_view raw, const Spec& spec,
               absl::string_view input) {
  OVVOC_FUZZ_CHECK(SameSpec(spec, ClassifySpec(name, raw)), input);  // a pure function
  // Everything the agent will not update says why; versions and ranges need no reason.
  OVVOC_FUZZ_CHECK(spec.reason.empty() == Updatable(spec.kind), input);
  // Each reason quotes at most 120 bytes of the spec; an alias's reason can hold its target's.
  OVVOC_FUZZ_CHECK(spec.reason.size() <= 64 * (name.size() + raw.size()) + 512, input);
  if (spec.registry()) {
    // The package fetched: the alias's target (a valid name), else the dependency itself, whose
    // name npm checked.
    OVVOC_FUZZ_CHECK(spec.alias ? ValidPackageName(spec.name) : spec.name == name, input);
    OVVOC_FUZZ_CHECK(name.empty() || ValidPackageName(name), input);
    OVVOC_FUZZ_CHECK(spec.fetch_spec == "*" || absl::StrContains(raw, spec.fetch_spec), input);
    // What the planner reads as a range is one.
    if (Updatable(spec.kind)) {
      OVVOC_FUZZ_CHECK(ValidRange(spec.fetch_spec, Options{.loose = true}).has_value(), input);
    } else {
      OVVOC_FUZZ_CHECK(!spec.fetch_spec.empty() && UriSafe(spec.fetch_spec), input);
    }
  } else {
    OVVOC_FUZZ_CHECK(!spec.alias && spec.name.empty() && spec.fetch_spec.empty(), input);
  }
  if (spec.kind == SpecKind::kGit) {
    OVVOC_FUZZ_CHECK(spec.git_committish.empty() || spec.git_range.empty(), input);
  } else {
    OVVOC_FUZZ_CHECK(spec.git_committish.empty() && spec.git_range.empty(), input);
  }
}

// Not checked, though npm holds it (see README.md, "Known gaps"): that every dependency has a
// name, and that no name is both in dependencies and optionalDependencies.
void CheckManifest(const PackageJson& m, absl::string_view dir, absl::string_view input) {
  OVVOC_FUZZ_CHECK(m.dir == dir, input);
  OVVOC_FUZZ_CHECK(
      m.manifest_path == (dir.empty() ? "package.json" : absl::StrCat(dir, "/package.json")),
      input);
  if (!m.parsed) {
    OVVOC_FUZZ_CHECK(m.dependencies.empty() && m.name.empty() && m.workspaces.empty(), input);
  }
  for (const DeclaredDependency& d : m.dependencies) {
    OVVOC_FUZZ_CHECK(d.manifest_path == m.manifest_path, input);
    OVVOC_FUZZ_CHECK(d.kind == DEPENDENCY_KIND_PROD || d.kind == DEPENDENCY_KIND_DEV ||
                         d.kind == DEPENDENCY_KIND_OPTIONAL || d.kind == DEPENDENCY_KIND_PEER,
                     input);
    OVVOC_FUZZ_CHECK(!d.peer_optional || d.kind == DEPENDENCY_KIND_PEER, input);
    OVVOC_FUZZ_CHECK(!d.bundled || (d.kind == DEPENDENCY_KIND_PROD &&
                                    std::count(m.bundle_dependencies.begin(),
                                               m.bundle_dependencies.end(), d.name) > 0),
                     input);
    OVVOC_FUZZ_CHECK(!d.installed_version && d.lock_key.empty(), input);  // no lockfile yet
    CheckSpec(d.name, d.spec, d.classified, input);
  }
  for (size_t i = 0; i < m.overridden.size(); ++i) {
    OVVOC_FUZZ_CHECK(!m.overridden[i].empty(), input);
    OVVOC_FUZZ_CHECK(std::count(m.overridden.begin(), m.overridden.end(), m.overridden[i]) == 1,
                     input);
  }
  OVVOC_FUZZ_CHECK(m.overrides_json.size() <= 2 * input.size() + 16, input);
}

void CheckLockfile(const std::optional<Lockfile>& lock, size_t diagnostics_added,
                   absl::string_view input) {
  if (!lock) {
    OVVOC_FUZZ_CHECK(diagnostics_added > 0, input);  // it says why
    return;
  }
  OVVOC_FUZZ_CHECK(lock->path == kLockPath, input);
  OVVOC_FUZZ_CHECK(lock->lockfile_version >= 1 && lock->lockfile_version <= 3, input);
  OVVOC_FUZZ_CHECK(lock->packages.size() <= input.size(), input);
  for (const LockedEntry& e : lock->packages) {
    OVVOC_FUZZ_CHECK(!e.key.empty(), input);  // the root ("") is left out
    if (lock->lockfile_version == 1) {
      OVVOC_FUZZ_CHECK(absl::StartsWith(e.key, "node_modules/"), input);
    }
  }
}

// A key npm reads as a credential (project.h): whatever its value was, it must not be here.
bool LooksLikeCredential(absl::string_view key) {
  if (absl::StartsWith(key, "//")) return true;
  const size_t colon = key.rfind(':');
  const absl::string_view last = colon == absl::string_view::npos ? key : key.substr(colon + 1);
  for (absl::string_view secret : {"_authToken", "_auth", "_password", "username"}) {
    if (absl::EqualsIgnoreCase(last, secret)) return true;
  }
  return false;
}

// The .npmrc `input` with a credential planted before it, on a line of its own: its value must
// appear nowhere in what ParseNpmrc keeps or says, and its key must be among credential_keys.
void FuzzNpmrc(absl::string_view input) {
  const Credential& planted =
      kCredentials[(input.empty() ? 0 : static_cast<unsigned char>(input[0])) %
                   (sizeof(kCredentials) / sizeof(kCredentials[0]))];
  const std::string text = absl::StrCat(planted.prefix, kSecret, planted.suffix, "\n", input);
  std::vector<ProjectDiagnostic> diagnostics;
  const Npmrc rc = ParseNpmrc(text, diagnostics);
  CheckDiagnostics(diagnostics, 0, text);

  OVVOC_FUZZ_CHECK(!rc.credential_keys.empty() && rc.credential_keys[0] == planted.key, input);
  std::string everything =
      absl::StrCat(rc.registry.value_or(""), "\n", rc.save_prefix.value_or(""));
  for (const auto& [scope, url] : rc.scoped_registries) {
    OVVOC_FUZZ_CHECK(absl::StartsWith(scope, "@"), input);
    absl::StrAppend(&everything, "\n", scope, "=", url);
  }
  for (const auto& [key, value] : rc.other) {
    OVVOC_FUZZ_CHECK(!LooksLikeCredential(key) && key != "__proto__", input);
    absl::StrAppend(&everything, "\n", key, "=", value);
  }
  for (const auto& [key, values] : rc.lists) {
    OVVOC_FUZZ_CHECK(!LooksLikeCredential(key), input);
    absl::StrAppend(&everything, "\n", key, "=", absl::StrJoin(values, ","));
  }
  for (const std::string& key : rc.credential_keys) absl::StrAppend(&everything, "\n", key);
  for (const ProjectDiagnostic& d : diagnostics) absl::StrAppend(&everything, "\n", d.message);
  if (!absl::StrContains(input, kSecret)) {
    OVVOC_FUZZ_CHECK(!absl::StrContains(everything, kSecret), input);
  }
  if (rc.min_release_age_days) {
    OVVOC_FUZZ_CHECK(std::isfinite(*rc.min_release_age_days) && *rc.min_release_age_days >= 0,
                     input);
  }
}

// Where MatchLockfile may have found `d` of `m`: the member's own node_modules, the root's, or
// the target of a link at either.
bool FoundWhereNpmLooks(const Lockfile& lock, const PackageJson& m, const DeclaredDependency& d) {
  std::vector<std::string> keys = {absl::StrCat("node_modules/", d.name)};
  if (!m.dir.empty()) keys.push_back(absl::StrCat(m.dir, "/node_modules/", d.name));
  for (const std::string& key : keys) {
    if (d.lock_key == key) return true;
    for (const LockedEntry& e : lock.packages) {
      if (e.key == key && e.link && e.resolved == d.lock_key) return true;
    }
  }
  return false;
}

// "manifest\n---\nlockfile[\n---\nmember manifest]".
void FuzzMatch(absl::string_view input) {
  std::vector<absl::string_view> parts = absl::StrSplit(input, absl::MaxSplits(kSeparator, 2));
  if (parts.size() < 2) return;
  std::vector<ProjectDiagnostic> diagnostics;
  PackageJson root = ParsePackageJson(parts[0], "", diagnostics);
  std::optional<Lockfile> lock = ParseLockfile(parts[1], kLockPath, diagnostics);
  PackageJson member =
      ParsePackageJson(parts.size() > 2 ? parts[2] : "{}", kMemberDir, diagnostics);
  CheckManifest(member, kMemberDir, input);
  if (!lock) return;
  const size_t before = diagnostics.size();
  MatchLockfile(*lock, {&root, &member}, diagnostics);
  CheckDiagnostics(diagnostics, before, input);
  size_t missing = 0;
  for (const PackageJson* m : {&root, &member}) {
    for (const DeclaredDependency& d : m->dependencies) {
      if (!d.installed_version) {
        OVVOC_FUZZ_CHECK(d.lock_key.empty(), input);
        missing += d.peer_optional ? 0 : 1;
        continue;
      }
      OVVOC_FUZZ_CHECK(std::any_of(lock->packages.begin(), lock->packages.end(),
                                   [&](const LockedEntry& e) {
                                     return e.key == d.lock_key &&
                                            e.version == *d.installed_version;
                                   }),
                       input);
      OVVOC_FUZZ_CHECK(FoundWhereNpmLooks(*lock, *m, d), input);
    }
  }
  OVVOC_FUZZ_CHECK(diagnostics.size() - before >= missing, input);  // each missing one is said
}

void FuzzOne(absl::string_view input) {
  std::vector<ProjectDiagnostic> diagnostics;
  const PackageJson manifest = ParsePackageJson(input, "", diagnostics);
  CheckDiagnostics(diagnostics, 0, input);
  OVVOC_FUZZ_CHECK(manifest.parsed || !diagnostics.empty(), input);
  CheckManifest(manifest, "", input);

  const size_t before = diagnostics.size();
  const std::optional<Lockfile> lock = ParseLockfile(input, kLockPath, diagnostics);
  CheckDiagnostics(diagnostics, before, input);
  CheckLockfile(lock, diagnostics.size() - before, input);

  FuzzNpmrc(input);

  // A name and a spec: split at the first newline, else the input as either.
  const size_t newline = input.find('\n');
  if (newline != absl::string_view::npos) {
    const absl::string_view name = input.substr(0, newline), spec = input.substr(newline + 1);
    CheckSpec(name, spec, ClassifySpec(name, spec), input);
  } else {
    CheckSpec("x", input, ClassifySpec("x", input), input);
    CheckSpec(input, "^1.0.0", ClassifySpec(input, "^1.0.0"), input);
  }

  FuzzMatch(input);
}

}  // namespace
}  // namespace ovvoc::agent::npm

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ovvoc::agent::npm::FuzzOne(absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
