// What the libgit2 layer's .cc files (git.cc, branch.cc) share: owning pointers for libgit2
// objects, the one-time initialisation, URL checks, the bookkeeping behind the credentials and
// progress callbacks, and the mapping of libgit2's errors to absl::Status. Not an interface:
// nothing outside agent/git includes this.
#ifndef OVVOC_AGENT_GIT_INTERNAL_LIBGIT2_UTIL_H_
#define OVVOC_AGENT_GIT_INTERNAL_LIBGIT2_UTIL_H_

#include <git2.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/git/git.h"

namespace ovvoc::agent::git::internal {

// Owns a libgit2 object and frees it with its own free function.
template <typename T, void (*Free)(T*)>
struct GitDeleter {
  void operator()(T* object) const { Free(object); }
};
template <typename T, void (*Free)(T*)>
using GitPtr = std::unique_ptr<T, GitDeleter<T, Free>>;
using RepositoryPtr = GitPtr<git_repository, git_repository_free>;
using ReferencePtr = GitPtr<git_reference, git_reference_free>;
using RemotePtr = GitPtr<git_remote, git_remote_free>;
using TreePtr = GitPtr<git_tree, git_tree_free>;
using TreeEntryPtr = GitPtr<git_tree_entry, git_tree_entry_free>;
using CommitPtr = GitPtr<git_commit, git_commit_free>;
using SignaturePtr = GitPtr<git_signature, git_signature_free>;
using OdbPtr = GitPtr<git_odb, git_odb_free>;
using IndexPtr = GitPtr<git_index, git_index_free>;

// libgit2 is initialised once per process, never shut down, and reads no git configuration of
// the host's (only a repository's own .git/config).
void InitLibgit2();

// libgit2's message for the last failure on this thread.
std::string LastGitError();

// Full hex of `id`.
std::string OidHex(const git_oid& id);

// ---- URLs ----------------------------------------------------------------------------------

// "scheme" of "scheme://rest", lower-cased; empty when `url` is a local path.
std::string SchemeOf(absl::string_view url);
// For "scheme://authority/path": the authority; empty otherwise.
absl::string_view AuthorityOf(absl::string_view url);
// `url` with any "user:password@" removed, so that it can appear in messages.
std::string WithoutUserinfo(absl::string_view url);
// The filesystem path a file:// URL or local path names.
std::string LocalPathOf(absl::string_view url, absl::string_view scheme);

// InvalidArgument for a scheme other than file, http and https (or "host:path"), or for
// userinfo in the URL (the message points at `credentials_field` instead); NotFound for a
// file:// URL or local path that names no directory.
absl::Status ValidateRemoteUrl(absl::string_view url, absl::string_view credentials_field);

// ---- Callbacks -----------------------------------------------------------------------------

// The body of one transfer's git_credential_acquire_cb: hands libgit2 the caller's basic
// credentials the first time the server asks for them, and stops the transfer the second time
// (the server refused them; answering again would only loop).
class CredentialGate {
 public:
  explicit CredentialGate(const std::optional<Credentials>& credentials)
      : credentials_(credentials) {}

  int Acquire(git_credential** out, unsigned int allowed_types);

  bool missing() const { return missing_; }  // asked, and there were none
  bool rejected() const { return rejected_; }
  bool type_unsupported() const { return type_unsupported_; }

 private:
  const std::optional<Credentials>& credentials_;
  int requests_ = 0;
  bool missing_ = false;
  bool rejected_ = false;
  bool type_unsupported_ = false;
};

// Polls a caller's cancelled() and deadline from libgit2's callbacks.
class Interrupter {
 public:
  // `operation` names it in libgit2's error: "clone", "push".
  Interrupter(const std::function<bool()>& cancelled, absl::Time deadline,
              absl::string_view operation)
      : cancelled_fn_(cancelled), deadline_(deadline), operation_(operation) {}

  // 0 to go on; GIT_EUSER, with libgit2's error set, to stop.
  int Poll();

  bool cancelled() const { return cancelled_; }
  bool timed_out() const { return timed_out_; }

 private:
  const std::function<bool()>& cancelled_fn_;
  const absl::Time deadline_;
  const std::string operation_;
  bool cancelled_ = false;
  bool timed_out_ = false;
};

// ---- Errors --------------------------------------------------------------------------------

// The Status for libgit2's failure `code` (its last error read for the class), when nothing the
// caller knows explains it better: PermissionDenied (GIT_EAUTH, HTTP 401/403), NotFound
// (GIT_ENOTFOUND, HTTP 404), AlreadyExists (GIT_EEXISTS), Unavailable (network, TLS, SSH,
// other HTTP statuses, socket errors), else Unknown. `message` becomes the Status's message.
absl::Status StatusFromGitError(int code, const std::string& message);

}  // namespace ovvoc::agent::git::internal

#endif  // OVVOC_AGENT_GIT_INTERNAL_LIBGIT2_UTIL_H_
