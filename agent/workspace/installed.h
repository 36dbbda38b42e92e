// What npm installed in a job's work tree, read by the agent right after an install (no job
// process runs between phases): a fingerprint of every package directory under every
// node_modules, and where each node_modules/.bin entry points. A proposal's install is held to
// the baseline's with it: a package the update did not change must come out of `npm ci` as it
// did for the baseline, whatever the updated packages' install scripts did (red team, issue 12:
// a script rewrote the test runner of another package, and an update that broke the tests
// passed).
#ifndef OVVOC_AGENT_WORKSPACE_INSTALLED_H_
#define OVVOC_AGENT_WORKSPACE_INSTALLED_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace ovvoc::agent {

struct InstalledTree {
  // A package directory's path from the tree's root, as lockfiles key them ("node_modules/a",
  // "node_modules/@s/b/node_modules/c", "packages/web/node_modules/d") -> the sha256 (hex) of
  // what it holds: every name, directory, exec bit, byte and link target beneath it, its nested
  // node_modules left out (they are packages of their own), and its own package.json without
  // the "_" fields npm 6 writes into it (they name where the package is required from). A
  // package that is a link (a workspace member) is "link:<target>".
  std::map<std::string, std::string> packages;
  // Every node_modules/.bin entry ("node_modules/.bin/mocha") -> its link target ("" when it is
  // not a link).
  std::map<std::string, std::string> bins;
  // Hidden entries of a node_modules ("node_modules/.prisma", "node_modules/.cache"), but .bin
  // and npm's .package-lock.json, fingerprinted as packages are: generated clients that
  // packages load, and tools' caches.
  std::map<std::string, std::string> hidden;
  // False when the walk stopped at a bound: then nothing may be read from what it lacks.
  bool complete = true;
};

struct InstalledLimits {
  size_t max_entries = 500'000;     // names seen, in and out of node_modules
  uint64_t max_bytes = 4ull << 30;  // bytes read (a job's disk is 2 GiB by default)
  size_t max_depth = 128;           // directories deep: each level is a frame and an open fd
};

// Reads `tree` (the work tree, owned by the job) without following any symlink: every
// node_modules directory in it (.git left out) and what each holds. A node_modules that is not
// a directory (a link) is recorded as a package of its own.
absl::StatusOr<InstalledTree> ReadInstalledTree(const std::string& tree,
                                                const InstalledLimits& limits = {});

}  // namespace ovvoc::agent

#endif  // OVVOC_AGENT_WORKSPACE_INSTALLED_H_
