// Files holding secrets and state: read whole, written atomically with an exact mode.
#ifndef OVVOC_COMMON_FILES_H_
#define OVVOC_COMMON_FILES_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ovvoc::files {

absl::StatusOr<std::string> ReadFile(const std::string& path);

// Writes to a temporary sibling created with `mode`, fsyncs it, renames it over `path` and
// fsyncs the directory: readers see the old content or the new, never a mix.
absl::Status WriteFileAtomic(const std::string& path, absl::string_view content, int mode = 0600);

// Writes `content` to a new file at `path` (replacing one that exists, never following a
// symlink), with `mode`, and no fsync: for scratch files that need not survive a crash.
absl::Status WriteFile(const std::string& path, absl::string_view content, int mode = 0600);

// Creates `path` (and missing parents with the same mode) and forces its mode to `mode`.
absl::Status EnsureDir(const std::string& path, int mode = 0700);

// Removes `path` and everything below it without following symlinks. Missing is OK.
absl::Status RemoveTree(const std::string& path);

bool Exists(const std::string& path);

// A fresh directory under `parent` (mkdtemp), mode 0700.
absl::StatusOr<std::string> MakeTempDir(const std::string& parent, absl::string_view prefix);

}  // namespace ovvoc::files

#endif  // OVVOC_COMMON_FILES_H_
