// Copying a directory of an untrusted work tree: the node_modules a baseline's install left,
// which the agent keeps and puts into each proposal's work tree so that npm installs only what
// the update changes. Both sides are reached strictly beneath their roots without following a
// symlink (a repository may hold `packages -> /`), and what is copied is data: regular files,
// directories and symlinks (copied as links, never followed), nothing else.
#ifndef OVVOC_AGENT_WORKSPACE_TREE_COPY_H_
#define OVVOC_AGENT_WORKSPACE_TREE_COPY_H_

#include <sys/types.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ovvoc::agent {

struct TreeCopyOptions {
  // Owner of everything the copy makes.
  uid_t uid = 0;
  gid_t gid = 0;
  // Names left out of the copied directory itself, not of those beneath it (npm's hidden
  // lockfile, ".package-lock.json", which would otherwise tell npm what the copied folders hold
  // without it looking).
  std::vector<std::string> skip_names;
  // Paths left out, named as the copy's source names them ("node_modules/a" when copying
  // "node_modules"): what is there is not copied, nor anything beneath it.
  std::set<std::string> skip_paths;
  // Bounds: past any of them the copy stops with ResourceExhausted (and what it made stays
  // for the caller to remove). Bytes are the data copied: a sparse file's holes stay holes and
  // count for nothing; a hard link is copied once per name, so it counts per name.
  uint64_t max_bytes = 4ull << 30;
  size_t max_entries = 500'000;
  size_t max_depth = 128;  // directories deep: each level holds an open fd
};

struct TreeCopyStats {
  uint64_t bytes = 0;
  size_t files = 0;
  size_t dirs = 0;
  size_t links = 0;
  size_t skipped = 0;  // FIFOs, sockets, devices, skip_names: not copied
};

// Copies directory `from_relative` under `from_root` to `to_relative` under `to_root`, which
// must not exist yet (its parent must, reached without a symlink). Modes are kept but for the
// set-id and sticky bits; modification times are kept. NotFound when the source does not exist,
// PermissionDenied when either path is or passes through a symlink, AlreadyExists when the
// destination does.
absl::StatusOr<TreeCopyStats> CopyTreeBeneath(const std::string& from_root,
                                              absl::string_view from_relative,
                                              const std::string& to_root,
                                              absl::string_view to_relative,
                                              const TreeCopyOptions& options = {});

}  // namespace ovvoc::agent

#endif  // OVVOC_AGENT_WORKSPACE_TREE_COPY_H_
