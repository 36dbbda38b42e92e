// What a proposal's evidence is made of, besides its commands' outcomes: how the dependency tree
// changed (packages new to it, install scripts new to it, deprecated packages new to it), where the
// repository's own code uses the updated packages, and the findings a person should see before
// merging (agent/scoring/confidence.h scores the rest).
//
// Every input but the clone is untrusted: lockfiles npm wrote in the sandbox (parsed by
// npm/project.h already). Functions here bound what they return and never fail on
// what they read. Thread-safe.
#ifndef OVVOC_AGENT_SCORING_EVIDENCE_H_
#define OVVOC_AGENT_SCORING_EVIDENCE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "agent/npm/project.h"
#include "agent/workspace/installed.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "ovvoc/v1/job.pb.h"

namespace ovvoc::agent::scoring {

// At most this many findings of one kind are made; a last one counts the rest.
inline constexpr size_t kMaxFindingsPerKind = 20;

// How the tree npm resolved for a proposal differs from the one before, by package name (sorted,
// unique lists).
struct TreeChange {
  std::vector<std::string> new_names;     // names no entry of `before` has
  std::vector<std::string> new_versions;  // "name@version" no entry of `before` has
  // "name@version" of entries that run an install script where no entry of that name did.
  std::vector<std::string> new_install_scripts;
  // "name@version" of new_versions that npm recorded as deprecated -> the message (inert).
  std::map<std::string, std::string> new_deprecated;
};
TreeChange CompareTrees(const npm::Lockfile& before, const npm::Lockfile& after);

// Every name the repository already depends on: its lockfile's packages and its manifests'
// declarations.
std::vector<std::string> KnownNames(
    const npm::Lockfile& before,
    const google::protobuf::RepeatedPtrField<ovvoc::v1::PlannedDependency>& declared);

// Where the repository at `root` (the agent's clone: no job has written to it) uses each of
// `packages`: the first source file (.js .cjs .mjs .jsx .ts .cts .mts .tsx .vue .svelte) that
// requires or imports it (`require("x")`, `from "x"`, `import("x")`, `import "x"`, a subpath
// "x/..." too), outside node_modules and hidden directories, else one of `scripts` (the root
// package.json's, by name) that names it as a word. Symlinks are never followed. Bounded by the
// limits below: past them, `complete` is false and what was found stands.
struct UseScan {
  std::map<std::string, std::string> used_by;  // package -> "src/a.js" or "scripts.test"
  bool complete = true;
};
inline constexpr size_t kMaxScannedFiles = 5000;
inline constexpr size_t kMaxScannedFileBytes = 1 << 20;
inline constexpr size_t kMaxScannedBytes = 64 << 20;
UseScan FindUses(const std::string& root, const std::vector<std::string>& packages,
                 const std::map<std::string, std::string>& scripts);

// What a proposal adds to the tree that a person should see: "new-install-script" (MEDIUM) for
// an update whose target adds one and for each package newly running one; "deprecated" (MEDIUM)
// for a package new to the tree that the new lockfile records as deprecated; "typosquat" (HIGH) for
// a new package one edit from a name the repository uses or from a popular one (npm/typosquat.h).
struct FindingInputs {
  std::vector<const ovvoc::v1::PlannedDependency*> updates;
  TreeChange tree;
  std::vector<std::string> known_names;  // KnownNames
};
std::vector<ovvoc::v1::SecurityFinding> ProposalFindings(const FindingInputs& inputs);

// How a proposal's node_modules differs from the baseline's where the update explains nothing
// (workspace/installed.h), read at the same point of both: after the install, or after the build
// (a dependency's code loaded by the build can write too). A package is unchanged when both
// lockfiles hold its key with the same version, resolved and integrity, neither runs an install
// script (such a package may build into its own directory), and it is no link. Then:
// - `changed`: unchanged packages whose files differ ("node_modules/mocha");
// - `moved_bins`: node_modules/.bin entries that pointed into an unchanged package and point
//   elsewhere now ("node_modules/.bin/mocha -> ../evil/x.js, was ../mocha/bin/mocha");
// - `extraneous`: entries of a node_modules that the baseline's did not have and that no entry
//   the update adds or changes explains (a package, a file such as node_modules/x.js that node
//   would load for `require('x')` before the package x, a link named node_modules, an optional
//   package npm skipped on this platform filled in);
// - `hidden`, after the install only: hidden entries of a node_modules (.prisma, .cache) new or
//   different from the baseline's. `hidden_explained` when a package the update changes or adds
//   runs an install script, which may have written them (a generated client): then they are
//   shown, not held against it; after the build, tools' caches differ with any update and are
//   not compared.
// - `unchecked`: either read stopped at a bound, so the above could not be made, while code of
//   the update may have run: after the install, when a package the update changes or adds runs
//   an install script; after the build, always. It fails closed.
// Sorted, bounded by kMaxFindingsPerKind + 1.
enum class InstallStage { kInstall, kBuild };
struct InstallDrift {
  InstallStage stage = InstallStage::kInstall;
  std::vector<std::string> changed;
  std::vector<std::string> moved_bins;
  std::vector<std::string> extraneous;
  std::vector<std::string> hidden;
  bool hidden_explained = false;
  bool unchecked = false;
};
InstallDrift CompareInstalls(const InstalledTree& baseline, const InstalledTree& proposal,
                             const npm::Lockfile& before, const npm::Lockfile& after,
                             InstallStage stage);

// HIGH findings, each of which fails the proposal: "install-tampered" for changed packages and
// moved bins, "extraneous-package", "install-unchecked"; "hidden-module" for `hidden`, HIGH
// unless explained (then MEDIUM).
std::vector<ovvoc::v1::SecurityFinding> InstallFindings(const InstallDrift& drift);

}  // namespace ovvoc::agent::scoring

#endif  // OVVOC_AGENT_SCORING_EVIDENCE_H_
