// The bot's branches, through libgit2 only (no `git` process is ever started).
//
// CommitFiles() writes one commit of new file contents on top of a given commit, straight into
// the object database of a clone, and points a local branch at it. It reads and writes no file
// of the work tree and changes neither the index nor HEAD, so the checkout a job's phases work
// in stays exactly as it was.
//
// PushBranches() force-pushes local branches to a remote URL through an anonymous remote:
// nothing is written to .git/config and no remote-tracking ref is made. Credentials are handed
// to libgit2 through its credentials callback and nowhere else, as Clone() does (git.h). A ref
// the remote refuses is an error, although libgit2 1.5's git_remote_push reports success for
// it.
//
// Thread safety: both may be called from any thread, concurrently for different repositories
// or different branches of one repository (never two writers of one branch at once). Both
// block, PushBranches() for the whole transfer: callers run them on their own executor.
#ifndef OVVOC_AGENT_GIT_BRANCH_H_
#define OVVOC_AGENT_GIT_BRANCH_H_

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/git/git.h"

namespace ovvoc::agent::git {

// What one CommitFiles() call may write.
inline constexpr size_t kMaxCommitFiles = 64;
inline constexpr size_t kMaxCommitFileBytes = 64ull << 20;  // one file's content

struct CommitFilesOptions {
  // A repository, e.g. a clone made by Clone(); its work tree is not read.
  std::string repo_dir;
  // Full hex id (40 digits) of the new commit's one parent.
  std::string parent;
  // Short name: the commit goes to refs/heads/<branch>, created or moved (forced: the bot's
  // branches are its own).
  std::string branch;
  // Repository-relative path with '/' separators ("packages/web/package.json") -> its new
  // content. Each is written as a regular, non-executable file (mode 100644), replacing a file
  // (executable or not) or adding one, with its directories; the rest of the parent's tree is
  // kept as it is.
  std::map<std::string, std::string> files;
  // Author and committer. No '<', '>', newline or NUL; libgit2 trims surrounding spaces.
  std::string name;
  std::string email;
  std::string message;            // as given: no newline added, no trailer
  absl::Time time = absl::Now();  // of author and committer, whole seconds, UTC
};

// Returns the new commit's full hex id.
//
// Errors:
//   InvalidArgument     a branch name git refuses (git_reference_name_is_valid and
//                       git_branch_name_is_valid on refs/heads/<branch>); a path that is empty,
//                       absolute, has a backslash, NUL, an empty, "." or ".." component or a
//                       ".git" component (any case), or that libgit2 refuses as a tree entry;
//                       one path that is another's directory ("a" and "a/b"); a name or email
//                       that is empty or has '<', '>', a newline or NUL; a message with NUL;
//                       `parent` not 40 hex digits; more than kMaxCommitFiles files or a file
//                       over kMaxCommitFileBytes
//   NotFound            no repository at repo_dir; no commit `parent` in it
//   FailedPrecondition  in the parent's tree a path names a directory, a symlink or a submodule,
//                       or one of its directories is a file, a symlink or a submodule (nothing
//                       is ever written through a symlink); the branch is what repo_dir's HEAD
//                       names (moving it would change HEAD); "nothing changed": every file
//                       already has that content and mode
//   Internal            libgit2 could not write an object or the ref
// Nothing but unreferenced objects is left behind by a failure.
absl::StatusOr<std::string> CommitFiles(const CommitFilesOptions& options);

struct PushOptions {
  // The repository whose local branches are pushed.
  std::string repo_dir;
  // file://, http://, https:// or a local path. Must not carry userinfo ("user:pw@").
  std::string url;
  // Short names; each refs/heads/<b> is pushed with "+refs/heads/<b>:refs/heads/<b>" (forced).
  // Duplicates are pushed once.
  std::vector<std::string> branches;
  // Presented only when the server asks for them, and only once per push.
  std::optional<Credentials> credentials;
  // Polled before starting and from libgit2's negotiation, packing, transfer and sideband
  // callbacks; true aborts the push.
  std::function<bool()> cancelled;
  // The push gives up when this passes, checked as often as `cancelled`. libgit2 1.5 has no
  // socket timeouts: a server that stops answering mid-request is not interrupted.
  absl::Time deadline = absl::InfiniteFuture();
};

// Errors (the message carries libgit2's own; what a server says is escaped and cut short):
//   InvalidArgument     empty url or no branches, a branch name git refuses, userinfo in the
//                       url, an unsupported scheme
//   NotFound            no repository at repo_dir; a branch missing from it (found before
//                       anything is sent); no repository at the url
//   PermissionDenied    the forge wants credentials and none were given, or rejected them
//   FailedPrecondition  the remote refused a ref (the message names each refused ref and the
//                       server's reason: a hook, a protected or checked-out branch, a lock); a
//                       file:// or local-path target that is not bare (libgit2's local
//                       transport refuses to push into a repository with a work tree)
//   Unavailable         network, TLS or HTTP failures; the remote failed to unpack
//   Cancelled           options.cancelled() returned true
//   DeadlineExceeded    options.deadline passed
//   Unknown             the remote did not report on every branch, or another libgit2 failure
// After Cancelled or DeadlineExceeded the remote may have taken some or all of the branches:
// the last poll comes after the server's report.
absl::Status PushBranches(const PushOptions& options);

// The full hex id of the commit refs/heads/<branch> of the repository at `repo_dir` points at.
// NotFound: no repository there, or no such branch; InvalidArgument: a name git refuses.
absl::StatusOr<std::string> BranchTip(const std::string& repo_dir, const std::string& branch);

}  // namespace ovvoc::agent::git

#endif  // OVVOC_AGENT_GIT_BRANCH_H_
