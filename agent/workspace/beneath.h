// Reading files out of an untrusted work tree. The tree was written by a cloned repository and
// by code from the registry, so any path component may be a symlink planted to point at a host
// file. Everything here resolves strictly beneath the root and refuses symlinks.
#ifndef OVVOC_AGENT_WORKSPACE_BENEATH_H_
#define OVVOC_AGENT_WORKSPACE_BENEATH_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ovvoc::agent {

// The contents of `relative` under `root` if it is a regular file of at most `max_bytes`,
// reached without following any symlink and without leaving `root`. NotFound when missing,
// PermissionDenied for a symlink or an escape, FailedPrecondition for a non-regular file,
// ResourceExhausted when too large.
absl::StatusOr<std::string> ReadFileBeneath(const std::string& root, absl::string_view relative,
                                            size_t max_bytes);

}  // namespace ovvoc::agent

#endif  // OVVOC_AGENT_WORKSPACE_BENEATH_H_
