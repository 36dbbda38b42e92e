// Reading files out of an untrusted work tree. The tree was written by a cloned repository and
// by code from the registry, so any path component may be a symlink planted to point at a host
// file. Everything here resolves strictly beneath the root and refuses symlinks.
#ifndef OVVOC_AGENT_WORKSPACE_BENEATH_H_
#define OVVOC_AGENT_WORKSPACE_BENEATH_H_

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/unique_fd.h"

namespace ovvoc::agent {

// The contents of `relative` under `root` if it is a regular file of at most `max_bytes`,
// reached without following any symlink and without leaving `root`. NotFound when missing,
// PermissionDenied for a symlink or an escape, FailedPrecondition for a non-regular file,
// ResourceExhausted when too large.
absl::StatusOr<std::string> ReadFileBeneath(const std::string& root, absl::string_view relative,
                                            size_t max_bytes);

// OK when `relative` under `root` is a regular file reached as ReadFileBeneath would; its
// errors otherwise.
absl::Status CheckRegularFileBeneath(const std::string& root, absl::string_view relative);

// Puts a fresh regular file `name` (one path component) holding `content` directly in `root`,
// owned by uid:gid with `mode`: whatever stood there (a file, a symlink, an empty directory) is
// removed first, never followed or written through. `root` itself must not be a symlink. For
// the agent's own copies of files a job must not change (the manifest as cloned).
absl::Status ReplaceFileBeneath(const std::string& root, absl::string_view name,
                                absl::string_view content, uid_t uid, gid_t gid, mode_t mode);

// As ReplaceFileBeneath, at `relative` ("packages/a/package.json"): every directory on the way
// must exist and be a directory, reached without following a symlink.
absl::Status WriteFileBeneath(const std::string& root, absl::string_view relative,
                              absl::string_view content, uid_t uid, gid_t gid, mode_t mode);

// Removes whatever stands at `name` (one path component) directly in `root`: a file, a link, a
// FIFO, an empty directory. OK when nothing is there. A directory with contents is refused.
absl::Status RemoveFileBeneath(const std::string& root, absl::string_view name);

// The names in directory `relative` under `root`, reached as ReadFileBeneath would (no symlink,
// not leaving `root`), at most `max_entries` of them. NotFound when it does not exist.
absl::StatusOr<std::vector<std::string>> ListDirBeneath(const std::string& root,
                                                        absl::string_view relative,
                                                        size_t max_entries);

// What `err` (an errno of `what`: "open", "read") says of `path`, reached beneath a root:
// NotFound, PermissionDenied for a symlink on the way (ELOOP, EXDEV from RESOLVE_BENEATH /
// O_NOFOLLOW), else Internal naming the call.
absl::Status BeneathError(absl::string_view what, absl::string_view path, int err);

// Directory `relative` under `root` ("" for root itself), opened read-only without following a
// symlink or leaving `root`. NotFound when it does not exist, PermissionDenied for a symlink on
// the way, InvalidArgument for an absolute path.
absl::StatusOr<UniqueFd> OpenDirBeneath(const std::string& root, absl::string_view relative);

// OK when `relative` under `root` is a directory reached as OpenDirBeneath would; its errors
// otherwise.
absl::Status CheckDirBeneath(const std::string& root, absl::string_view relative);

// Makes every file, symlink and directory of `clone` (a trusted copy: the agent's own checkout,
// without .git) stand in `tree` (the work tree the job wrote) as it stands in `clone`, owned by
// uid:gid: changed or removed files are written back, whatever replaced them (a link, a
// directory) removed first, never followed. Paths with a node_modules component and the names
// in `skip` (relative paths) are left alone; what is only in `tree` stays. Returns the relative
// paths it put back.
absl::StatusOr<std::vector<std::string>> RestoreTreeBeneath(const std::string& clone,
                                                            const std::string& tree, uid_t uid,
                                                            gid_t gid,
                                                            const std::vector<std::string>& skip);

// What `tree` (the work tree, the job's) holds that `clone` lacks, outside any node_modules and
// the root's .git: every such path, a new directory and each path beneath it (red team: a
// directory the baseline's install made, recorded as one path, let a proposal plant files in
// it). Read by fd, never through a symlink; `complete` false past `max_paths` found, 500,000
// names seen or 128 directories deep.
struct AddedPaths {
  std::vector<std::string> paths;
  bool complete = true;
};
AddedPaths AddedBeneath(const std::string& clone, const std::string& tree,
                        size_t max_paths = 50'000);

// The relative paths RestoreTreeBeneath would put back, with nothing changed.
absl::StatusOr<std::vector<std::string>> ChangedBeneath(const std::string& clone,
                                                        const std::string& tree,
                                                        const std::vector<std::string>& skip);

}  // namespace ovvoc::agent

#endif  // OVVOC_AGENT_WORKSPACE_BENEATH_H_
