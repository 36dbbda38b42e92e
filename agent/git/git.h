// The agent's interface to git, through libgit2 only (no `git` process is ever started).
//
// Clone() fetches a repository from a forge (http, https), a file:// URL or a local path and
// checks out one branch. Credentials are handed to libgit2 through its credentials callback and
// nowhere else: they never appear in a URL, in .git/config or in any other file of the clone.
//
// Thread safety: Clone() may be called from any thread, concurrently for different
// destinations. It blocks for the whole transfer, so callers run it on their own executor.
#ifndef OVVOC_AGENT_GIT_GIT_H_
#define OVVOC_AGENT_GIT_GIT_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace ovvoc::agent::git {

// What one clone may take. A repository is untrusted input: a few hundred kilobytes can expand
// into millions of files (one tree referenced by many) or gigabytes (a compressible blob), so
// the tree is measured before anything is checked out, and the transfer is bounded as it runs.
struct CloneLimits {
  // The pack as received; from a local repository, everything it holds, inflated (libgit2
  // builds the pack for a local clone in memory).
  uint64_t max_fetch_bytes = 2ull << 30;
  uint64_t max_objects = 2'000'000;          // in the pack
  uint64_t max_refs = 10'000;                // branches written into the clone (tags: none)
  uint64_t max_checkout_bytes = 1ull << 30;  // every file of the checked-out tree
  uint64_t max_checkout_files = 100'000;     // files, links and directories
  uint64_t max_file_bytes = 256ull << 20;    // one file (libgit2 holds a blob in memory)
  int max_depth = 128;                       // directory nesting
};

// HTTP basic credentials, e.g. {"x-access-token", token}.
struct Credentials {
  std::string username;
  std::string password;
};

struct CloneOptions {
  // file://, http://, https:// or a local path. Must not carry userinfo ("user:pw@").
  std::string url;
  // Must not exist or be an empty directory.
  std::string destination;
  // Branch to check out; empty: the remote's HEAD.
  std::string branch;
  // Presented only when the server asks for them, and only once per clone.
  std::optional<Credentials> credentials;
  // Polled before starting and while transferring and checking out; true aborts the clone.
  std::function<bool()> cancelled;
  // The clone gives up when this passes (checked as often as `cancelled`).
  absl::Time deadline = absl::InfiniteFuture();
  CloneLimits limits;
};

struct CloneResult {
  // Full hex id of the checked-out commit; empty if the repository has no commits.
  std::string head_commit;
  // Short name of the checked-out branch, e.g. "main".
  std::string branch;
};

// Errors (the message carries libgit2's own):
//   InvalidArgument   empty url or destination, userinfo in the url, unsupported scheme
//   NotFound          no repository or branch at that place
//   PermissionDenied  the forge wants credentials and none were given, or rejected them
//   Unavailable       network, TLS or HTTP failures
//   AlreadyExists     destination exists and is not empty
//   Cancelled         options.cancelled() returned true
//   DeadlineExceeded  options.deadline passed
//   ResourceExhausted the repository exceeds options.limits (the message says which); nothing
//                     was checked out
// On failure libgit2 removes what it wrote under destination.
absl::StatusOr<CloneResult> Clone(const CloneOptions& options);

struct SnapshotOptions {
  std::string branch = "main";  // what HEAD names; not a valid branch name: "main"
  std::string message;          // of the one commit
  absl::Time time = absl::UnixEpoch();  // of the commit
};

// Makes `dir`, a work tree without .git, a repository of its own with one commit of every file
// in it (ignored ones too): no history, no remote, no hooks, no configuration beyond what a new
// repository has, and a fixed author ("Ovvoc", ovvoc@localhost). What a job's scripts see when
// they ask git about the project, never the repository it was cloned from. Returns the commit's
// id. AlreadyExists when `dir` has a .git.
absl::StatusOr<std::string> CommitSnapshot(const std::string& dir, const SnapshotOptions& options);

// What a job clones with: Libgit2() is Clone() above; tests hand in their own.
class Cloner {
 public:
  virtual ~Cloner() = default;
  virtual absl::StatusOr<CloneResult> Clone(const CloneOptions& options) = 0;
};

// Clone() as a Cloner: stateless, shared by every job.
Cloner& Libgit2();

}  // namespace ovvoc::agent::git

#endif  // OVVOC_AGENT_GIT_GIT_H_
