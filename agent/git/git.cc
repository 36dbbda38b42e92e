#include "agent/git/git.h"

#include <git2.h>

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "agent/git/internal/libgit2_util.h"
#include "common/status_macros.h"

namespace ovvoc::agent::git {
namespace {

using internal::LastGitError;
using internal::OdbPtr;
using internal::ReferencePtr;
using internal::RemotePtr;
using internal::RepositoryPtr;
using internal::TreePtr;

absl::Status ValidateOptions(const CloneOptions& options) {
  if (options.url.empty()) return absl::InvalidArgumentError("clone: empty url");
  if (options.destination.empty()) return absl::InvalidArgumentError("clone: empty destination");
  return internal::ValidateRemoteUrl(options.url, "CloneOptions::credentials");
}

// ---- Callbacks -----------------------------------------------------------------------------

// What the libgit2 callbacks saw during one clone; read afterwards to name the failure.
struct CloneState {
  explicit CloneState(const CloneOptions& options)
      : options(&options),
        credentials(options.credentials),
        interrupter(options.cancelled, options.deadline, "clone") {}

  const CloneOptions* options;
  internal::CredentialGate credentials;
  internal::Interrupter interrupter;
  uint64_t refs = 0;
  std::string too_large;  // which limit the repository exceeds
};

int PollCancelled(CloneState& state) { return state.interrupter.Poll(); }

int TooLarge(CloneState& state, std::string what) {
  state.too_large = std::move(what);
  git_error_set_str(GIT_ERROR_CALLBACK, "repository too large");
  return GIT_EUSER;
}

// libgit2 calls this after each 401. A second call in the same clone means the server refused
// what we gave the first time: answering again would only loop, so we stop the clone.
int AcquireCredentials(git_credential** out, const char* url, const char* username_from_url,
                       unsigned int allowed_types, void* payload) {
  return static_cast<CloneState*>(payload)->credentials.Acquire(out, allowed_types);
}

int OnTransferProgress(const git_indexer_progress* stats, void* payload) {
  auto& state = *static_cast<CloneState*>(payload);
  const CloneLimits& limits = state.options->limits;
  if (stats->received_bytes > limits.max_fetch_bytes) {
    return TooLarge(state, absl::StrCat("its pack is over ", limits.max_fetch_bytes >> 20,
                                        " MiB, the most a clone may fetch"));
  }
  if (stats->total_objects > limits.max_objects) {
    return TooLarge(state, absl::StrCat("its pack holds ", stats->total_objects,
                                        " objects; the limit is ", limits.max_objects));
  }
  return PollCancelled(state);
}

int OnPackProgress(int stage, uint32_t current, uint32_t total, void* payload) {
  return PollCancelled(*static_cast<CloneState*>(payload));
}

// Called for each ref the clone writes: a repository with a hundred thousand branches would
// write as many files.
int OnUpdateTips(const char* refname, const git_oid* a, const git_oid* b, void* payload) {
  auto& state = *static_cast<CloneState*>(payload);
  if (++state.refs > state.options->limits.max_refs) {
    return TooLarge(state,
                    absl::StrCat("it has more than ", state.options->limits.max_refs, " branches"));
  }
  return PollCancelled(state);
}

int OnSidebandProgress(const char* text, int length, void* payload) {
  return PollCancelled(*static_cast<CloneState*>(payload));
}

int OnCheckoutNotify(git_checkout_notify_t why, const char* path, const git_diff_file* baseline,
                     const git_diff_file* target, const git_diff_file* workdir, void* payload) {
  return PollCancelled(*static_cast<CloneState*>(payload));
}

git_remote_callbacks MakeCallbacks(CloneState& state) {
  git_remote_callbacks callbacks;
  git_remote_init_callbacks(&callbacks, GIT_REMOTE_CALLBACKS_VERSION);
  callbacks.credentials = AcquireCredentials;
  callbacks.transfer_progress = OnTransferProgress;
  callbacks.sideband_progress = OnSidebandProgress;
  callbacks.pack_progress = OnPackProgress;
  callbacks.update_tips = OnUpdateTips;
  callbacks.payload = &state;
  return callbacks;
}

// ---- Measuring and checking out -------------------------------------------------------------

struct TreeSize {
  uint64_t files = 0;  // entries a checkout would create: files, links, directories
  uint64_t bytes = 0;
};

// Adds what checking out `tree` would create to `size`, entry by entry as a checkout would (a
// subtree referenced twice counts twice), and stops at the first limit it passes. Reads object
// headers only: no blob is inflated.
int MeasureTree(git_repository& repo, git_odb& odb, const git_tree& tree, int depth, TreeSize& size,
                CloneState& state) {
  const CloneLimits& limits = state.options->limits;
  if (depth > limits.max_depth) {
    return TooLarge(state, absl::StrCat("its directories nest deeper than ", limits.max_depth));
  }
  const size_t count = git_tree_entrycount(&tree);
  for (size_t i = 0; i < count; ++i) {
    const git_tree_entry* entry = git_tree_entry_byindex(&tree, i);
    const git_object_t type = git_tree_entry_type(entry);
    if (type == GIT_OBJECT_COMMIT) continue;  // a submodule: not checked out
    if (++size.files > limits.max_checkout_files) {
      return TooLarge(state, absl::StrCat("its tree holds more than ", limits.max_checkout_files,
                                          " files and directories"));
    }
    if ((size.files & 1023) == 0) {
      if (int stop = PollCancelled(state); stop != 0) return stop;
    }
    if (type == GIT_OBJECT_TREE) {
      git_tree* raw = nullptr;
      if (git_tree_lookup(&raw, &repo, git_tree_entry_id(entry)) != 0) return -1;
      TreePtr subtree(raw);
      if (int stop = MeasureTree(repo, odb, *subtree, depth + 1, size, state); stop != 0) {
        return stop;
      }
      continue;
    }
    size_t length = 0;
    git_object_t blob_type = GIT_OBJECT_INVALID;
    if (git_odb_read_header(&length, &blob_type, &odb, git_tree_entry_id(entry)) != 0) return -1;
    if (length > limits.max_file_bytes) {
      return TooLarge(state, absl::StrCat(git_tree_entry_name(entry), " is ", length >> 20,
                                          " MiB; the limit for one file is ",
                                          limits.max_file_bytes >> 20, " MiB"));
    }
    size.bytes += length;
    if (size.bytes > limits.max_checkout_bytes) {
      return TooLarge(state, absl::StrCat("its files add up to more than ",
                                          limits.max_checkout_bytes >> 20, " MiB"));
    }
  }
  return 0;
}

struct OdbSize {
  CloneState* state;
  git_odb* odb;
  uint64_t objects = 0;
  uint64_t bytes = 0;
};

int AddObjectSize(const git_oid* id, void* payload) {
  auto& size = *static_cast<OdbSize*>(payload);
  const CloneLimits& limits = size.state->options->limits;
  size_t length = 0;
  git_object_t type = GIT_OBJECT_INVALID;
  if (git_odb_read_header(&length, &type, size.odb, id) != 0) return 0;
  size.bytes += length;
  if (++size.objects > limits.max_objects) {
    return TooLarge(*size.state,
                    absl::StrCat("it holds more than ", limits.max_objects, " objects"));
  }
  if (size.bytes > limits.max_fetch_bytes) {
    return TooLarge(*size.state,
                    absl::StrCat("its objects add up to more than ", limits.max_fetch_bytes >> 20,
                                 " MiB, the most a clone may fetch"));
  }
  return (size.objects & 1023) == 0 ? PollCancelled(*size.state) : 0;
}

// For a clone from a local repository: libgit2 builds the pack in memory, inflating every
// object it sends, before any callback of ours runs. So everything the source holds is
// measured first, from object headers.
int MeasureLocalSource(const std::string& path, CloneState& state) {
  git_repository* raw = nullptr;
  if (git_repository_open_ext(&raw, path.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) != 0) {
    return 0;  // not a repository: git_clone says so, in its words
  }
  RepositoryPtr source(raw);
  git_odb* raw_odb = nullptr;
  if (int code = git_repository_odb(&raw_odb, source.get()); code != 0) return code;
  OdbPtr odb(raw_odb);
  OdbSize size{&state, odb.get()};
  return git_odb_foreach(odb.get(), AddObjectSize, &size);
}

// Measures HEAD's tree against the limits, then checks it out. 0 or a libgit2 error code.
int CheckOut(git_repository& repo, CloneState& state) {
  git_object* raw_head = nullptr;
  int code = git_revparse_single(&raw_head, &repo, "HEAD^{tree}");
  if (code == GIT_ENOTFOUND || code == GIT_EUNBORNBRANCH) return 0;  // no commits: nothing to do
  if (code != 0) return code;
  TreePtr head(reinterpret_cast<git_tree*>(raw_head));
  git_odb* raw_odb = nullptr;
  if ((code = git_repository_odb(&raw_odb, &repo)) != 0) return code;
  OdbPtr odb(raw_odb);
  TreeSize size;
  if ((code = MeasureTree(repo, *odb, *head, 0, size, state)) != 0) return code;

  git_checkout_options checkout;
  git_checkout_options_init(&checkout, GIT_CHECKOUT_OPTIONS_VERSION);
  checkout.checkout_strategy = GIT_CHECKOUT_FORCE;
  checkout.notify_flags = GIT_CHECKOUT_NOTIFY_ALL;
  checkout.notify_cb = OnCheckoutNotify;
  checkout.notify_payload = &state;
  return git_checkout_head(&repo, &checkout);
}

// ---- Errors --------------------------------------------------------------------------------

absl::Status CloneError(int code, const CloneState& state, const std::string& url) {
  if (state.interrupter.cancelled()) {
    return absl::CancelledError(absl::StrCat("clone of ", url, " cancelled"));
  }
  if (state.interrupter.timed_out()) {
    return absl::DeadlineExceededError(
        absl::StrCat("the clone of ", url, " did not finish within the job's time"));
  }
  if (!state.too_large.empty()) {
    return absl::ResourceExhaustedError(
        absl::StrCat(url, " is too large to check out (a git bomb?): ", state.too_large));
  }
  if (state.credentials.rejected()) {
    return absl::PermissionDeniedError(
        absl::StrCat("the forge rejected the credentials for ", url));
  }
  std::string detail = LastGitError();
  std::string message = absl::StrCat("cannot clone ", url, ": ", detail);
  if (state.credentials.missing()) {
    return absl::PermissionDeniedError(
        absl::StrCat(url, " requires credentials and none were given (", detail, ")"));
  }
  if (state.credentials.type_unsupported()) return absl::PermissionDeniedError(message);
  return internal::StatusFromGitError(code, message);
}

absl::StatusOr<CloneResult> DescribeHead(git_repository& repo, const std::string& url) {
  git_reference* raw_head = nullptr;
  int code = git_repository_head(&raw_head, &repo);
  ReferencePtr head(raw_head);
  if (code == GIT_EUNBORNBRANCH || code == GIT_ENOTFOUND) return CloneResult{};
  if (code != 0) {
    return absl::InternalError(
        absl::StrCat("cloned ", url, " but cannot read HEAD: ", LastGitError()));
  }
  const git_oid* target = git_reference_target(head.get());
  if (target == nullptr) return absl::InternalError(absl::StrCat("HEAD of ", url, " is symbolic"));
  CloneResult result;
  result.head_commit = git_oid_tostr_s(target);
  if (git_reference_is_branch(head.get())) result.branch = git_reference_shorthand(head.get());
  return result;
}

// The branch to fetch: `options.branch`, which the remote must have, or the remote's default.
// "" for a repository without commits.
absl::StatusOr<std::string> BranchToFetch(git_remote& remote, const CloneOptions& options) {
  if (options.branch.empty()) {
    git_buf name = GIT_BUF_INIT;
    const int code = git_remote_default_branch(&name, &remote);
    if (code == GIT_ENOTFOUND) return std::string();  // no branches at all
    if (code != 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot tell the default branch of ", options.url, ": ", LastGitError()));
    }
    std::string branch(name.ptr);
    git_buf_dispose(&name);
    constexpr absl::string_view kHeads = "refs/heads/";
    if (!absl::StartsWith(branch, kHeads)) {
      return absl::NotFoundError(absl::StrCat(options.url, "'s HEAD is not a branch"));
    }
    return branch.substr(kHeads.size());
  }
  const std::string wanted = "refs/heads/" + options.branch;
  int valid = 0;
  if (git_reference_name_is_valid(&valid, wanted.c_str()) != 0 || !valid) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", options.branch, "\" is not a branch name"));
  }
  const git_remote_head** heads = nullptr;
  size_t count = 0;
  if (git_remote_ls(&heads, &count, &remote) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot list ", options.url, ": ", LastGitError()));
  }
  for (size_t i = 0; i < count; ++i) {
    if (wanted == heads[i]->name) return options.branch;
  }
  return absl::NotFoundError(absl::StrCat("no branch ", options.branch, " at ", options.url));
}

// Fetches one branch of `options.url` (no tags, no other branches: a repository may carry
// millions of refs, each a file in the clone) into a new repository at the destination, makes
// it the local branch and HEAD, and checks it out (CheckOut).
absl::StatusOr<CloneResult> CloneInto(const CloneOptions& options, CloneState& state) {
  git_repository_init_options init;
  git_repository_init_options_init(&init, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
  init.flags = GIT_REPOSITORY_INIT_MKPATH | GIT_REPOSITORY_INIT_NO_REINIT;
  git_repository* raw_repo = nullptr;
  if (int code = git_repository_init_ext(&raw_repo, options.destination.c_str(), &init); code) {
    return CloneError(code, state, options.url);
  }
  RepositoryPtr repo(raw_repo);

  // "origin", as git clone names it, but never rewritten through url.*.insteadOf (and without
  // libgit2 1.5's pcre2 leak in that lookup) and with no fetchspec but the one branch's.
  git_remote_create_options create;
  git_remote_create_options_init(&create, GIT_REMOTE_CREATE_OPTIONS_VERSION);
  create.repository = repo.get();
  create.name = "origin";
  create.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
  git_remote* raw_remote = nullptr;
  if (int code = git_remote_create_with_opts(&raw_remote, options.url.c_str(), &create); code) {
    return CloneError(code, state, options.url);
  }
  RemotePtr remote(raw_remote);

  git_remote_connect_options connect;
  git_remote_connect_options_init(&connect, GIT_REMOTE_CONNECT_OPTIONS_VERSION);
  connect.callbacks = MakeCallbacks(state);
  // A redirect to another host would carry our credentials there; same-host redirects and
  // upgrades to https are still followed.
  connect.follow_redirects = GIT_REMOTE_REDIRECT_NONE;
  if (int code = git_remote_connect_ext(remote.get(), GIT_DIRECTION_FETCH, &connect); code) {
    return CloneError(code, state, options.url);
  }
  OVVOC_ASSIGN_OR_RETURN(const std::string branch, BranchToFetch(*remote, options));
  if (branch.empty()) return CloneResult{};  // an empty repository: nothing to check out

  const std::string tracking = "refs/remotes/origin/" + branch;
  std::string refspec = absl::StrCat("+refs/heads/", branch, ":", tracking);
  char* refspecs[] = {refspec.data()};
  const git_strarray wanted = {refspecs, 1};
  git_fetch_options fetch;
  git_fetch_options_init(&fetch, GIT_FETCH_OPTIONS_VERSION);
  fetch.callbacks = MakeCallbacks(state);
  fetch.follow_redirects = GIT_REMOTE_REDIRECT_NONE;
  fetch.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
  fetch.update_fetchhead = 0;
  if (int code = git_remote_fetch(remote.get(), &wanted, &fetch, nullptr); code) {
    return CloneError(code, state, options.url);
  }

  git_oid head;
  git_commit* commit = nullptr;
  git_reference* local = nullptr;
  int code = git_reference_name_to_id(&head, repo.get(), tracking.c_str());
  if (code == 0) code = git_commit_lookup(&commit, repo.get(), &head);
  if (code == 0) code = git_branch_create(&local, repo.get(), branch.c_str(), commit, 0);
  git_commit_free(commit);
  git_reference_free(local);
  if (code == 0) code = git_repository_set_head(repo.get(), ("refs/heads/" + branch).c_str());
  if (code == 0) code = CheckOut(*repo, state);
  if (code != 0) return CloneError(code, state, options.url);
  return DescribeHead(*repo, options.url);
}

}  // namespace

absl::StatusOr<CloneResult> Clone(const CloneOptions& options) {
  OVVOC_RETURN_IF_ERROR(ValidateOptions(options));
  internal::InitLibgit2();
  CloneState state(options);
  if (PollCancelled(state) != 0) return CloneError(GIT_EUSER, state, options.url);
  std::error_code ec;
  const bool existed = std::filesystem::exists(options.destination, ec);
  if (existed && !std::filesystem::is_empty(options.destination, ec)) {
    return absl::AlreadyExistsError(
        absl::StrCat("cannot clone ", internal::WithoutUserinfo(options.url), ": ",
                     options.destination, " exists and is not an empty directory"));
  }
  if (const std::string scheme = internal::SchemeOf(options.url);
      scheme.empty() || scheme == "file") {
    if (int code = MeasureLocalSource(internal::LocalPathOf(options.url, scheme), state);
        code != 0) {
      return CloneError(code, state, options.url);
    }
  }
  absl::StatusOr<CloneResult> result = CloneInto(options, state);
  if (!result.ok()) {
    // The destination was empty or absent: what is there now is the failed clone's.
    std::filesystem::remove_all(options.destination, ec);
  }
  return result;
}

absl::StatusOr<std::string> CommitSnapshot(const std::string& dir, const SnapshotOptions& options) {
  internal::InitLibgit2();
  std::string branch = options.branch;
  const std::string ref = "refs/heads/" + branch;
  int valid = 0;
  if (branch.empty() || git_reference_name_is_valid(&valid, ref.c_str()) != 0 || !valid) {
    branch = "main";
  }
  git_repository_init_options init = GIT_REPOSITORY_INIT_OPTIONS_INIT;
  // No templates from the host (hooks, config), no reinitialising what is there.
  init.flags = GIT_REPOSITORY_INIT_NO_REINIT;
  init.initial_head = branch.c_str();
  git_repository* raw = nullptr;
  if (git_repository_init_ext(&raw, dir.c_str(), &init) != 0) {
    const std::string why = LastGitError();
    if (std::filesystem::exists(dir + "/.git") && raw == nullptr &&
        absl::StrContains(why, "exists")) {
      return absl::AlreadyExistsError(absl::StrCat(dir, " already has a .git"));
    }
    return absl::InternalError(absl::StrCat("cannot make a repository in ", dir, ": ", why));
  }
  RepositoryPtr repo(raw);
  git_index* raw_index = nullptr;
  if (git_repository_index(&raw_index, repo.get()) != 0) {
    return absl::InternalError(absl::StrCat("cannot open the snapshot's index: ", LastGitError()));
  }
  internal::IndexPtr index(raw_index);
  char everything[] = "*";
  char* patterns[] = {everything};
  const git_strarray pathspec = {patterns, 1};
  git_oid tree_id;
  git_oid commit_id;
  if (git_index_add_all(index.get(), &pathspec, GIT_INDEX_ADD_FORCE, nullptr, nullptr) != 0 ||
      git_index_write(index.get()) != 0 || git_index_write_tree(&tree_id, index.get()) != 0) {
    return absl::InternalError(absl::StrCat("cannot record the work tree: ", LastGitError()));
  }
  git_tree* raw_tree = nullptr;
  if (git_tree_lookup(&raw_tree, repo.get(), &tree_id) != 0) {
    return absl::InternalError(absl::StrCat("cannot read the snapshot's tree: ", LastGitError()));
  }
  TreePtr tree(raw_tree);
  git_signature* raw_signature = nullptr;
  if (git_signature_new(&raw_signature, "Ovvoc", "ovvoc@localhost",
                        absl::ToUnixSeconds(options.time), 0) != 0) {
    return absl::InternalError(absl::StrCat("cannot sign the snapshot: ", LastGitError()));
  }
  internal::SignaturePtr signature(raw_signature);
  if (git_commit_create(&commit_id, repo.get(), "HEAD", signature.get(), signature.get(), nullptr,
                        options.message.c_str(), tree.get(), 0, nullptr) != 0) {
    return absl::InternalError(absl::StrCat("cannot commit the snapshot: ", LastGitError()));
  }
  return internal::OidHex(commit_id);
}

Cloner& Libgit2() {
  class Libgit2Cloner final : public Cloner {
   public:
    absl::StatusOr<CloneResult> Clone(const CloneOptions& options) override {
      return git::Clone(options);
    }
  };
  static Libgit2Cloner* const cloner = new Libgit2Cloner();
  return *cloner;
}

}  // namespace ovvoc::agent::git
