// Drives the `git` command line to build fixture repositories. Test support only: the agent
// itself never starts git. Every command runs with a fixed author, committer and date and
// ignores the host's git configuration, so the same files always give the same commit id.
#ifndef OVVOC_TESTS_SUPPORT_GIT_CLI_H_
#define OVVOC_TESTS_SUPPORT_GIT_CLI_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ovvoc::testing {

// Runs `git args...` in `cwd` (empty: ours); returns its stdout, or Internal with its stderr.
absl::StatusOr<std::string> RunGit(const std::vector<std::string>& args,
                                   const std::string& cwd = "");

// `git init --bare` at `bare_path` (parents created) with HEAD on `initial_branch`.
absl::Status InitBareRepo(const std::string& bare_path, const std::string& initial_branch = "main");

// Commits every file under `source_dir` as one root commit and pushes it to `branch` of
// `remote` (a path or URL; a URL may carry user:token for an authenticated push). Returns the
// commit id.
absl::StatusOr<std::string> PushDirAsBranch(const std::string& source_dir,
                                            const std::string& remote, const std::string& branch);

}  // namespace ovvoc::testing

#endif  // OVVOC_TESTS_SUPPORT_GIT_CLI_H_
