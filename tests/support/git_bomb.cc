#include "tests/support/git_bomb.h"

#include <git2.h>

#include <memory>

#include "absl/strings/str_cat.h"

namespace ovvoc::testing {
namespace {

absl::Status GitError(const char* what) {
  const git_error* error = git_error_last();
  return absl::InternalError(
      absl::StrCat(what, ": ", error != nullptr ? error->message : "unknown libgit2 error"));
}

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};

}  // namespace

absl::Status MakeGitBomb(const std::string& path,
                         const std::vector<std::pair<std::string, std::string>>& files, int fanout,
                         int depth) {
  git_libgit2_init();
  git_repository* raw_repo = nullptr;
  if (git_repository_init(&raw_repo, path.c_str(), /*is_bare=*/1) != 0) return GitError("init");
  std::unique_ptr<git_repository, Deleter<git_repository, git_repository_free>> repo(raw_repo);
  git_treebuilder* raw_builder = nullptr;
  if (git_treebuilder_new(&raw_builder, repo.get(), nullptr) != 0) return GitError("treebuilder");
  std::unique_ptr<git_treebuilder, Deleter<git_treebuilder, git_treebuilder_free>> builder(
      raw_builder);
  for (const auto& [name, content] : files) {
    git_oid blob;
    if (git_blob_create_from_buffer(&blob, repo.get(), content.data(), content.size()) != 0 ||
        git_treebuilder_insert(nullptr, builder.get(), name.c_str(), &blob, GIT_FILEMODE_BLOB)) {
      return GitError("blob");
    }
  }
  git_oid tree;
  if (git_treebuilder_write(&tree, builder.get()) != 0) return GitError("tree");
  for (int level = 0; level < depth; ++level) {
    git_treebuilder_clear(builder.get());
    for (int i = 0; i < fanout; ++i) {
      const std::string name = absl::StrCat("d", i);
      if (git_treebuilder_insert(nullptr, builder.get(), name.c_str(), &tree, GIT_FILEMODE_TREE)) {
        return GitError("subtree");
      }
    }
    if (git_treebuilder_write(&tree, builder.get()) != 0) return GitError("tree");
  }
  git_tree* raw_root = nullptr;
  if (git_tree_lookup(&raw_root, repo.get(), &tree) != 0) return GitError("lookup");
  std::unique_ptr<git_tree, Deleter<git_tree, git_tree_free>> root(raw_root);
  git_signature* raw_who = nullptr;
  if (git_signature_new(&raw_who, "bomb", "bomb@example.com", 0, 0) != 0) {
    return GitError("signature");
  }
  std::unique_ptr<git_signature, Deleter<git_signature, git_signature_free>> who(raw_who);
  git_oid commit;
  if (git_commit_create(&commit, repo.get(), "refs/heads/main", who.get(), who.get(), nullptr,
                        "bomb", root.get(), 0, nullptr) != 0 ||
      git_repository_set_head(repo.get(), "refs/heads/main") != 0) {
    return GitError("commit");
  }
  return absl::OkStatus();
}

}  // namespace ovvoc::testing
