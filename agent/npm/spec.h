// What a dependency spec in package.json means to npm: npm-package-arg's `npa.resolve(name,
// spec)` (13.x, in the job image) as arborist calls it, down to which specs it rejects. Only
// registry specs (a version, a range, a dist-tag, or an `npm:` alias of one) can be updated;
// every other kind carries the reason the plan shows as "skipped: <reason>".
//
// Pure functions of untrusted text; never crashes, thread-safe.
//
// Known approximation: npm parses URLs with WHATWG `new URL()`; this recognises the shapes npm
// specs take (hosted-git-info's GitHub/GitLab/Bitbucket/gist/sourcehut forms, git+ and http(s)
// URLs, scp-like `git@host:path`) and may differ from npm on URLs that `new URL()` rejects.
#ifndef OVVOC_AGENT_NPM_SPEC_H_
#define OVVOC_AGENT_NPM_SPEC_H_

#include <string>

#include "absl/strings/string_view.h"

namespace ovvoc::agent::npm {

// npm-package-arg's `type`, plus the two ways npm refuses a spec.
enum class SpecKind {
  kVersion,      // "1.2.3", "v1.2.3" (semver valid, loose)
  kRange,        // "^1.2", "~>1", "x", "" (semver validRange, loose)
  kTag,          // "latest", "next": any other URI-safe text
  kGit,          // git+ssh:, git+https:, git:, github:, gitlab:, bitbucket:, gist:, user/repo
  kDirectory,    // file:../lib, ./lib, /abs/lib, ~/lib
  kFile,         // a local tarball: ./x.tgz, file:x.tar.gz
  kRemote,       // http(s)://host/x.tgz
  kUnsupported,  // a protocol npm does not know: workspace:, link:, catalog: ...
  kInvalid,      // npm throws: a tag with characters encodeURIComponent encodes, an alias of
                 // an alias or of a non-registry spec, an invalid package name
};

absl::string_view SpecKindName(SpecKind kind);  // "version", "range", ... "invalid"

struct Spec {
  SpecKind kind = SpecKind::kInvalid;
  // `npm:name@spec`: kind and the fields below are the target's.
  bool alias = false;
  // The package npm fetches from the registry: the alias target, else the dependency's name.
  std::string name;
  // Registry kinds: npm's fetchSpec, the spec trimmed ("" is any version: semver reads it as
  // "*", as npm does).
  std::string fetch_spec;
  // kGit: after '#': a committish ("v1.2.0", "main") or a `semver:` range.
  std::string git_committish;
  std::string git_range;
  // Why the agent will not update it; empty for versions and ranges. For the plan's
  // "skipped: <reason>", e.g. "a git dependency (github:user/repo): not from a registry".
  std::string reason;

  bool registry() const {
    return kind == SpecKind::kVersion || kind == SpecKind::kRange || kind == SpecKind::kTag;
  }
};

// `npa.resolve(name, spec)` for the dependency `name` declared as `spec`.
Spec ClassifySpec(absl::string_view name, absl::string_view spec);

// validate-npm-package-name's validForOldPackages: what npm accepts as an existing name.
bool ValidPackageName(absl::string_view name);

}  // namespace ovvoc::agent::npm

#endif  // OVVOC_AGENT_NPM_SPEC_H_
