// Verifying the lockfile npm wrote after an update against the one it replaces, before anything
// runs on it, and the difference between the two as counts.
//
// After Ovvoc edits a dependency's range, npm regenerates the lockfile inside the job's
// container (`npm install --package-lock-only --ignore-scripts`): the new lockfile is
// attacker-controlled data. VerifyLockfile() checks that it says what the update meant and no
// more than npm's own algorithm would make of it:
//   - its lockfileVersion is the old one's;
//   - each intended update resolves, from its manifest's directory and by npm's node_modules
//     lookup, to an entry that holds exactly the version asked for (a link is followed to its
//     target; an alias's entry holds its target's version);
//   - no registry package lacks `resolved` or `integrity` (npm drops them under some configs,
//     and such a lockfile no longer pins what is installed): an entry that had both must keep
//     both; an added or changed entry that is not a link, a bundled package, a file: or a git
//     dependency, nor outside node_modules (a workspace member, a link's target), must have its
//     integrity, and its resolved too unless the old lockfile already leaves resolved out of
//     registry entries (`omit-lockfile-registry-resolved`);
//   - and it reports, without failing, every changed key the update does not explain (below).
//
// What "explained" means. An entry differs when its key is new or gone, or when its identity
// changed: name, version, resolved, integrity, link, hasInstallScript, and (except for entries
// outside node_modules: workspace members and link targets, whose dependency maps come from the
// edited manifests) the set of names it depends on. The old entry at a differing key is
// explained when it is reachable from an updated dependency in the old lockfile; the new entry,
// when it is reachable in the new one. Reachable: from the updated dependency's entry, through
// each entry's dependencies (LockedEntry::dependencies), each resolved as npm does (the entry's
// own node_modules, then each enclosing package's, then the root's; links followed). An entry
// that is not reachable is still explained when it is a move, as npm's hoisting and deduping
// make them: it has dependents, and each of them, looked up in the other lockfile, resolves the
// same name to a package of the same identity; a dependent that itself differs counts once it is
// explained (a moved package carries its nested dependencies along), computed as a least fixed
// point so that a cycle of new packages explains nothing. The root's dependents are known from
// the "" entries (v2/v3); lockfile v1 does not list them, so there the root is taken to depend on
// every package at the top of the old lockfile.
//
// Why `outside` is reported and not an error: npm legitimately changes entries beyond the
// update (it prunes extraneous packages, dedupes copies it can now share, rewrites entries the
// old lockfile had out of sync with package.json), and whether to accept that is the policy's
// call, which may show it in the pull request or refuse. Everything this function can decide by
// itself (the wrong version, a dropped integrity, a changed lockfileVersion) is an error.
//
// What it does not check: that an entry is what its registry publishes (its integrity against
// the packument, the host in resolved). The prefetch (agent/registry/prefetch.h) then fetches
// every tarball the lockfile names and checks it against the lockfile's integrity.
//
// Errors:
//   InvalidArgument: an IntendedUpdate without a name or a version.
//   FailedPrecondition: the new lockfile fails a check above; the message says which, and names
//     the package and its key (quoted inert: the text is attacker-controlled).
//   ResourceExhausted: verifying would take more than kMaxVerifyWork lookups, which only a
//     hostile lockfile asks for (a 50,000-package one takes a few million): refuse it likewise.
//
// Time: linear in the two lockfiles' sizes plus one hash lookup per dependency edge and level of
// nesting walked, capped by kMaxVerifyWork. Pure function; thread-safe.
#ifndef OVVOC_AGENT_NPM_LOCKFILE_DIFF_H_
#define OVVOC_AGENT_NPM_LOCKFILE_DIFF_H_

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/npm/project.h"

namespace ovvoc::agent::npm {

// One dependency whose range the agent edited.
struct IntendedUpdate {
  std::string name;          // as declared: an alias's own name
  std::string manifest_dir;  // "" for the root, "packages/a" for a workspace member
  std::string to_version;    // the version the lockfile must now hold for it
};

struct LockfileDiff {
  // Package entries, by key: the same key with another identity (see above; flags such as dev
  // or optional do not count), keys only in the new lockfile, keys only in the old one.
  uint32_t changed = 0;
  uint32_t added = 0;
  uint32_t removed = 0;
  // "name@version" of every added or changed entry that has an install script, sorted, unique;
  // at most kMaxDiffListed of them, each quoted inert and at most kMaxDiffQuotedBytes;
  // `..._total` counts them all.
  std::vector<std::string> added_with_install_scripts;
  uint32_t install_scripts_total = 0;
  // Keys that differ and that the update does not explain (old or new side), sorted, unique;
  // listed and counted as above.
  std::vector<std::string> outside;
  uint32_t outside_total = 0;
};

inline constexpr size_t kMaxDiffListed = 100;
inline constexpr size_t kMaxDiffQuotedBytes = 256;
inline constexpr uint64_t kMaxVerifyWork = 32'000'000;

// Verifies `after` (written by npm for `updates`) against `before` and returns their difference,
// or the first problem found (see Errors above).
absl::StatusOr<LockfileDiff> VerifyLockfile(const Lockfile& before, const Lockfile& after,
                                            const std::vector<IntendedUpdate>& updates);

// VerifyLockfile's first check alone: whether `after` resolves each of `updates` to exactly its
// version. OK, or FailedPrecondition naming the first that it does not (ResourceExhausted past
// kMaxVerifyWork). What an agent asks before it settles for a lockfile npm made without the
// targets pinned.
absl::Status CheckIntendedVersions(const Lockfile& before, const Lockfile& after,
                                   const std::vector<IntendedUpdate>& updates);

// The keys, sorted, of the package entries that differ between the two lockfiles: only in one,
// or of another identity (name, version, resolved, integrity, link, hasInstallScript). Pure
// function; thread-safe.
std::set<std::string> DifferingKeys(const Lockfile& before, const Lockfile& after);

// The keys of the packages that an install over `before`'s node_modules leaves as they
// are (the same key and identity in both lockfiles: name, version, resolved, integrity, link,
// hasInstallScript) although they run an install script and depend, by name and at any depth,
// on a package that differs (DifferingKeys): a script that builds through a package in between
// (red team, issue 12) counts too. `npm install` over a kept
// node_modules runs the scripts of what it changes only, so these would stay built against
// what they no longer get (a native addon against an updated `nan`): where any exists, such an
// install does not stand in for `npm ci`. Linear in the lockfiles' entries and edges. Pure
// function; thread-safe.
std::vector<std::string> ScriptedDependentsOfChanges(const Lockfile& before, const Lockfile& after);

}  // namespace ovvoc::agent::npm

#endif  // OVVOC_AGENT_NPM_LOCKFILE_DIFF_H_
