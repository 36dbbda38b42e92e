#include "agent/git/branch.h"

#include <git2.h>

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "agent/git/internal/libgit2_util.h"
#include "common/status_macros.h"

namespace ovvoc::agent::git {
namespace {

using internal::CommitPtr;
using internal::LastGitError;
using internal::OidHex;
using internal::ReferencePtr;
using internal::RemotePtr;
using internal::RepositoryPtr;
using internal::SignaturePtr;
using internal::TreeEntryPtr;
using internal::TreePtr;

constexpr absl::string_view kHeads = "refs/heads/";

// Caller-supplied or server-supplied text, fit for a message: escaped and at most ~200 bytes.
std::string Quoted(absl::string_view text) {
  constexpr size_t kMax = 200;
  std::string quoted = absl::StrCat("\"", absl::CHexEscape(text.substr(0, kMax)), "\"");
  if (text.size() > kMax) quoted += "...";
  return quoted;
}

bool HasNul(absl::string_view text) { return text.find('\0') != absl::string_view::npos; }

// ---- Validation ----------------------------------------------------------------------------

absl::Status ValidateBranch(const std::string& branch) {
  const std::string ref = absl::StrCat(kHeads, branch);
  int ref_valid = 0;
  int branch_valid = 0;
  if (branch.empty() || HasNul(branch) ||
      git_reference_name_is_valid(&ref_valid, ref.c_str()) != 0 || !ref_valid ||
      git_branch_name_is_valid(&branch_valid, branch.c_str()) != 0 || !branch_valid) {
    return absl::InvalidArgumentError(absl::StrCat(Quoted(branch), " is not a branch name"));
  }
  return absl::OkStatus();
}

absl::Status ValidateIdentity(const CommitFilesOptions& options) {
  for (const std::string* field : {&options.name, &options.email}) {
    if (absl::StripAsciiWhitespace(*field).empty() ||
        field->find_first_of("<>\n\r") != std::string::npos || HasNul(*field)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "commit identity ", Quoted(*field), " is empty or holds '<', '>', a line break or NUL"));
    }
  }
  if (HasNul(options.message)) return absl::InvalidArgumentError("commit message holds NUL");
  return absl::OkStatus();
}

// The checks that need no repository: a path names a file below the repository's root.
absl::Status ValidatePath(const std::string& path) {
  auto invalid = [&path](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("cannot commit ", Quoted(path), ": ", why));
  };
  if (path.empty()) return invalid("empty path");
  if (path.front() == '/') return invalid("absolute path");
  if (path.find('\\') != std::string::npos) return invalid("backslash in path");
  if (HasNul(path)) return invalid("NUL in path");
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty()) return invalid("empty path component");
    if (part == "." || part == "..") return invalid("'.' or '..' in path");
    if (absl::EqualsIgnoreCase(part, ".git")) return invalid(".git in path");
  }
  return absl::OkStatus();
}

absl::Status ValidateFiles(const std::map<std::string, std::string>& files) {
  if (files.size() > kMaxCommitFiles) {
    return absl::InvalidArgumentError(absl::StrCat(files.size(), " files in one commit; at most ",
                                                   kMaxCommitFiles, " may be written"));
  }
  for (const auto& [path, content] : files) {
    OVVOC_RETURN_IF_ERROR(ValidatePath(path));
    if (content.size() > kMaxCommitFileBytes) {
      return absl::InvalidArgumentError(absl::StrCat(Quoted(path), " is ", content.size(),
                                                     " bytes; the limit is ", kMaxCommitFileBytes));
    }
    for (size_t slash = path.find('/'); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      if (files.count(path.substr(0, slash)) != 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(Quoted(path.substr(0, slash)), " cannot be both a file and a directory"));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<git_oid> ParseCommitId(const std::string& hex) {
  git_oid id;
  if (hex.size() != GIT_OID_HEXSZ || !std::all_of(hex.begin(), hex.end(), absl::ascii_isxdigit) ||
      git_oid_fromstr(&id, hex.c_str()) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("parent ", Quoted(hex), " is not a full hex commit id"));
  }
  return id;
}

absl::Status ValidateCommit(const CommitFilesOptions& options) {
  OVVOC_RETURN_IF_ERROR(ValidateBranch(options.branch));
  OVVOC_RETURN_IF_ERROR(ValidateIdentity(options));
  OVVOC_RETURN_IF_ERROR(ValidateFiles(options.files));
  return ParseCommitId(options.parent).status();
}

// ---- Reading the repository ----------------------------------------------------------------

absl::StatusOr<RepositoryPtr> OpenRepository(const std::string& dir) {
  git_repository* raw = nullptr;
  if (dir.empty() ||
      git_repository_open_ext(&raw, dir.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) != 0) {
    return absl::NotFoundError(absl::StrCat("no git repository at ", Quoted(dir)));
  }
  return RepositoryPtr(raw);
}

// Moving the branch HEAD names would change what HEAD is without touching the work tree.
absl::Status CheckNotHead(git_repository& repo, const std::string& ref_name,
                          const std::string& dir) {
  git_reference* raw = nullptr;
  if (git_reference_lookup(&raw, &repo, "HEAD") != 0) return absl::OkStatus();
  ReferencePtr head(raw);
  const char* target = git_reference_symbolic_target(head.get());
  if (target != nullptr && ref_name == target) {
    return absl::FailedPreconditionError(
        absl::StrCat(ref_name, " is checked out in ", dir, ": committing to it would move HEAD"));
  }
  // Nor one a linked worktree has checked out (red team, issue 12: its index and files were
  // left behind the moved branch), as git itself refuses.
  git_reference* branch = nullptr;
  if (git_reference_lookup(&branch, &repo, ref_name.c_str()) != 0) return absl::OkStatus();
  ReferencePtr owned(branch);
  if (git_branch_is_checked_out(owned.get()) == 1) {
    return absl::FailedPreconditionError(absl::StrCat(ref_name, " is checked out in a worktree of ",
                                                      dir, ": committing to it would move it"));
  }
  return absl::OkStatus();
}

absl::StatusOr<CommitPtr> LookUpCommit(git_repository& repo, const git_oid& id) {
  git_commit* raw = nullptr;
  const int code = git_commit_lookup(&raw, &repo, &id);
  if (code == GIT_ENOTFOUND) {
    return absl::NotFoundError(absl::StrCat("no commit ", OidHex(id), ": ", LastGitError()));
  }
  if (code != 0) {
    return absl::InternalError(absl::StrCat("cannot read ", OidHex(id), ": ", LastGitError()));
  }
  return CommitPtr(raw);
}

absl::StatusOr<TreePtr> TreeOf(const git_commit& commit) {
  git_tree* raw = nullptr;
  if (git_commit_tree(&raw, &commit) != 0) {
    return absl::InternalError(absl::StrCat("cannot read the tree of ",
                                            OidHex(*git_commit_id(&commit)), ": ", LastGitError()));
  }
  return TreePtr(raw);
}

const char* Describe(git_filemode_t mode) {
  switch (mode) {
    case GIT_FILEMODE_TREE:
      return "a directory";
    case GIT_FILEMODE_LINK:
      return "a symlink";
    case GIT_FILEMODE_COMMIT:
      return "a submodule";
    default:
      return "a file";
  }
}

// FailedPrecondition unless writing `path` into `tree` replaces a regular file or adds one, and
// goes through nothing but directories on its way there.
absl::Status CheckPathInTree(const git_tree& tree, const std::string& path) {
  for (size_t end = path.find('/');; end = path.find('/', end + 1)) {
    const bool last = end == std::string::npos;
    const std::string prefix = path.substr(0, end);
    git_tree_entry* raw = nullptr;
    const int code = git_tree_entry_bypath(&raw, &tree, prefix.c_str());
    if (code == GIT_ENOTFOUND) return absl::OkStatus();  // new from here on
    if (code != 0) {
      return absl::InternalError(absl::StrCat("cannot read ", prefix, ": ", LastGitError()));
    }
    TreeEntryPtr entry(raw);
    const git_filemode_t mode = git_tree_entry_filemode(entry.get());
    const bool file = mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE;
    if (last && file) return absl::OkStatus();
    if (!last && mode == GIT_FILEMODE_TREE) continue;
    return absl::FailedPreconditionError(absl::StrCat("cannot commit ", Quoted(path), ": ",
                                                      Quoted(prefix), " is ", Describe(mode),
                                                      " in the parent commit"));
  }
}

// ---- Writing -------------------------------------------------------------------------------

// Writes each file as a blob and the parent's tree with them in it; returns the tree's id.
absl::StatusOr<git_oid> WriteTree(git_repository& repo, git_tree& parent_tree,
                                  const std::map<std::string, std::string>& files) {
  std::vector<git_tree_update> updates;
  for (const auto& [path, content] : files) {
    OVVOC_RETURN_IF_ERROR(CheckPathInTree(parent_tree, path));
    git_tree_update update{};
    update.action = GIT_TREE_UPDATE_UPSERT;
    update.filemode = GIT_FILEMODE_BLOB;
    update.path = path.c_str();
    if (git_blob_create_from_buffer(&update.id, &repo, content.data(), content.size()) != 0) {
      return absl::InternalError(absl::StrCat("cannot write ", path, ": ", LastGitError()));
    }
    updates.push_back(update);
  }
  git_oid tree_id;
  if (git_tree_create_updated(&tree_id, &repo, &parent_tree, updates.size(), updates.data()) != 0) {
    // Names libgit2 refuses as tree entries (e.g. "GIT~1", NTFS's short name of .git).
    const git_error* error = git_error_last();
    const std::string message = absl::StrCat("cannot build the commit's tree: ", LastGitError());
    if (error != nullptr && error->klass == GIT_ERROR_TREE) {
      return absl::InvalidArgumentError(message);
    }
    return absl::InternalError(message);
  }
  return tree_id;
}

absl::StatusOr<git_oid> WriteCommit(git_repository& repo, const git_commit& parent,
                                    const git_oid& tree_id, const CommitFilesOptions& options) {
  git_tree* raw_tree = nullptr;
  git_signature* raw_signature = nullptr;
  if (git_tree_lookup(&raw_tree, &repo, &tree_id) != 0) {
    return absl::InternalError(absl::StrCat("cannot read the new tree: ", LastGitError()));
  }
  TreePtr tree(raw_tree);
  if (git_signature_new(&raw_signature, options.name.c_str(), options.email.c_str(),
                        absl::ToUnixSeconds(options.time), 0) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("commit identity: ", LastGitError()));
  }
  SignaturePtr signature(raw_signature);
  const git_commit* parents[] = {&parent};
  git_oid commit_id;
  if (git_commit_create(&commit_id, &repo, /*update_ref=*/nullptr, signature.get(), signature.get(),
                        /*message_encoding=*/nullptr, options.message.c_str(), tree.get(), 1,
                        parents) != 0) {
    return absl::InternalError(absl::StrCat("cannot write the commit: ", LastGitError()));
  }
  return commit_id;
}

absl::Status PointBranch(git_repository& repo, const std::string& ref_name, const git_oid& id) {
  git_reference* raw = nullptr;
  if (git_reference_create(&raw, &repo, ref_name.c_str(), &id, /*force=*/1,
                           "ovvoc: commit files") != 0) {
    return absl::InternalError(
        absl::StrCat("cannot point ", ref_name, " at ", OidHex(id), ": ", LastGitError()));
  }
  git_reference_free(raw);
  return absl::OkStatus();
}

// ---- Pushing -------------------------------------------------------------------------------

// What the libgit2 callbacks saw during one push; read afterwards to name the failure.
struct PushState {
  explicit PushState(const PushOptions& options)
      : credentials(options.credentials),
        interrupter(options.cancelled, options.deadline, "push") {}

  internal::CredentialGate credentials;
  internal::Interrupter interrupter;
  std::set<std::string> confirmed;   // refs the remote reported as updated
  std::vector<std::string> refused;  // "ref: reason", quoted
};

int OnCredentials(git_credential** out, const char* url, const char* username_from_url,
                  unsigned int allowed_types, void* payload) {
  return static_cast<PushState*>(payload)->credentials.Acquire(out, allowed_types);
}

int OnNegotiation(const git_push_update** updates, size_t count, void* payload) {
  return static_cast<PushState*>(payload)->interrupter.Poll();
}

int OnPackProgress(int stage, uint32_t current, uint32_t total, void* payload) {
  return static_cast<PushState*>(payload)->interrupter.Poll();
}

int OnPushTransferProgress(unsigned int current, unsigned int total, size_t bytes, void* payload) {
  return static_cast<PushState*>(payload)->interrupter.Poll();
}

int OnSidebandProgress(const char* text, int length, void* payload) {
  return static_cast<PushState*>(payload)->interrupter.Poll();
}

// libgit2 1.5 calls this once per ref with the server's verdict and then returns success from
// git_remote_push whatever the verdicts were: a non-null `status` is a refusal.
int OnUpdateReference(const char* refname, const char* status, void* payload) {
  auto& state = *static_cast<PushState*>(payload);
  if (status == nullptr) {
    state.confirmed.insert(refname);
  } else {
    state.refused.push_back(absl::StrCat(Quoted(refname), ": ", Quoted(status)));
  }
  return 0;
}

git_remote_callbacks MakeCallbacks(PushState& state) {
  git_remote_callbacks callbacks;
  git_remote_init_callbacks(&callbacks, GIT_REMOTE_CALLBACKS_VERSION);
  callbacks.credentials = OnCredentials;
  callbacks.push_negotiation = OnNegotiation;
  callbacks.pack_progress = OnPackProgress;
  callbacks.push_transfer_progress = OnPushTransferProgress;
  callbacks.sideband_progress = OnSidebandProgress;
  callbacks.push_update_reference = OnUpdateReference;
  callbacks.payload = &state;
  return callbacks;
}

absl::Status ValidatePush(const PushOptions& options) {
  if (options.url.empty()) return absl::InvalidArgumentError("push: empty url");
  if (options.branches.empty()) return absl::InvalidArgumentError("push: no branches");
  for (const std::string& branch : options.branches) OVVOC_RETURN_IF_ERROR(ValidateBranch(branch));
  return internal::ValidateRemoteUrl(options.url, "PushOptions::credentials");
}

// The refspecs of `branches`, each of which repo must have.
absl::StatusOr<std::vector<std::string>> Refspecs(git_repository& repo,
                                                  const std::vector<std::string>& branches,
                                                  const std::string& dir) {
  std::vector<std::string> refspecs;
  for (const std::string& branch : std::set<std::string>(branches.begin(), branches.end())) {
    const std::string ref = absl::StrCat(kHeads, branch);
    git_oid id;
    if (git_reference_name_to_id(&id, &repo, ref.c_str()) != 0) {
      return absl::NotFoundError(absl::StrCat("no branch ", branch, " in ", dir));
    }
    refspecs.push_back(absl::StrCat("+", ref, ":", ref));
  }
  return refspecs;
}

absl::Status PushError(int code, const PushState& state, const std::string& url) {
  if (state.interrupter.cancelled()) {
    return absl::CancelledError(absl::StrCat("push to ", url, " cancelled"));
  }
  if (state.interrupter.timed_out()) {
    return absl::DeadlineExceededError(
        absl::StrCat("the push to ", url, " did not finish within the job's time"));
  }
  if (state.credentials.rejected()) {
    return absl::PermissionDeniedError(
        absl::StrCat("the forge rejected the credentials for ", url));
  }
  const std::string detail = LastGitError();
  const std::string message = absl::StrCat("cannot push to ", url, ": ", detail);
  if (state.credentials.missing()) {
    return absl::PermissionDeniedError(
        absl::StrCat(url, " requires credentials and none were given (", detail, ")"));
  }
  if (state.credentials.type_unsupported()) return absl::PermissionDeniedError(message);
  if (code == GIT_EBAREREPO) {
    return absl::FailedPreconditionError(
        absl::StrCat(message, " (libgit2 pushes only into bare repositories)"));
  }
  return internal::StatusFromGitError(code, message);
}

// Success only when the remote confirmed every ref it was sent.
absl::Status CheckVerdicts(const PushState& state, const std::vector<std::string>& refspecs,
                           const std::string& url) {
  if (!state.refused.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(url, " refused ", absl::StrJoin(state.refused, "; ")));
  }
  for (const std::string& refspec : refspecs) {
    const std::string ref = refspec.substr(refspec.find(':') + 1);
    if (state.confirmed.count(ref) == 0) {
      return absl::UnknownError(absl::StrCat(url, " did not report on ", ref));
    }
  }
  return absl::OkStatus();
}

// An in-memory remote: no name, nothing in .git/config, no url.*.insteadOf rewriting.
absl::StatusOr<RemotePtr> AnonymousRemote(git_repository& repo, const std::string& url,
                                          const PushState& state) {
  git_remote_create_options create;
  git_remote_create_options_init(&create, GIT_REMOTE_CREATE_OPTIONS_VERSION);
  create.repository = &repo;
  create.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
  git_remote* raw = nullptr;
  if (int code = git_remote_create_with_opts(&raw, url.c_str(), &create); code != 0) {
    return PushError(code, state, url);
  }
  return RemotePtr(raw);
}

}  // namespace

absl::StatusOr<std::string> CommitFiles(const CommitFilesOptions& options) {
  internal::InitLibgit2();  // before the name checks: libgit2 sets its error state in them
  OVVOC_RETURN_IF_ERROR(ValidateCommit(options));
  const std::string ref_name = absl::StrCat(kHeads, options.branch);
  OVVOC_ASSIGN_OR_RETURN(RepositoryPtr repo, OpenRepository(options.repo_dir));
  OVVOC_RETURN_IF_ERROR(CheckNotHead(*repo, ref_name, options.repo_dir));
  OVVOC_ASSIGN_OR_RETURN(const git_oid parent_id, ParseCommitId(options.parent));
  OVVOC_ASSIGN_OR_RETURN(CommitPtr parent, LookUpCommit(*repo, parent_id));
  OVVOC_ASSIGN_OR_RETURN(TreePtr parent_tree, TreeOf(*parent));
  OVVOC_ASSIGN_OR_RETURN(const git_oid tree_id, WriteTree(*repo, *parent_tree, options.files));
  if (git_oid_equal(&tree_id, git_tree_id(parent_tree.get()))) {
    return absl::FailedPreconditionError("nothing changed");
  }
  OVVOC_ASSIGN_OR_RETURN(const git_oid commit_id, WriteCommit(*repo, *parent, tree_id, options));
  OVVOC_RETURN_IF_ERROR(PointBranch(*repo, ref_name, commit_id));
  return OidHex(commit_id);
}

absl::StatusOr<std::string> BranchTip(const std::string& repo_dir, const std::string& branch) {
  internal::InitLibgit2();
  OVVOC_RETURN_IF_ERROR(ValidateBranch(branch));
  OVVOC_ASSIGN_OR_RETURN(RepositoryPtr repo, OpenRepository(repo_dir));
  git_oid id;
  if (git_reference_name_to_id(&id, repo.get(), absl::StrCat(kHeads, branch).c_str()) != 0) {
    return absl::NotFoundError(absl::StrCat("no branch ", branch, " in ", Quoted(repo_dir)));
  }
  return OidHex(id);
}

absl::Status PushBranches(const PushOptions& options) {
  internal::InitLibgit2();
  OVVOC_RETURN_IF_ERROR(ValidatePush(options));
  OVVOC_ASSIGN_OR_RETURN(RepositoryPtr repo, OpenRepository(options.repo_dir));
  OVVOC_ASSIGN_OR_RETURN(std::vector<std::string> refspecs,
                         Refspecs(*repo, options.branches, options.repo_dir));
  const std::string url = internal::WithoutUserinfo(options.url);
  PushState state(options);
  if (state.interrupter.Poll() != 0) return PushError(GIT_EUSER, state, url);
  OVVOC_ASSIGN_OR_RETURN(RemotePtr remote, AnonymousRemote(*repo, options.url, state));

  std::vector<char*> strings;
  for (std::string& refspec : refspecs) strings.push_back(refspec.data());
  const git_strarray wanted = {strings.data(), strings.size()};
  git_push_options push;
  git_push_options_init(&push, GIT_PUSH_OPTIONS_VERSION);
  push.callbacks = MakeCallbacks(state);
  // A redirect to another host would carry our credentials there.
  push.follow_redirects = GIT_REMOTE_REDIRECT_NONE;
  if (int code = git_remote_push(remote.get(), &wanted, &push); code != 0) {
    return PushError(code, state, url);
  }
  return CheckVerdicts(state, refspecs, url);
}

}  // namespace ovvoc::agent::git
