#include <git2.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/git/branch.h"
#include "agent/git/git.h"
#include "tests/support/git_cli.h"
#include "tests/support/git_http_server.h"
#include "tests/support/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using ovvoc::agent::git::CommitFiles;
using ovvoc::agent::git::CommitFilesOptions;
using ovvoc::agent::git::Credentials;
using ovvoc::agent::git::PushBranches;
using ovvoc::agent::git::PushOptions;
using ovvoc::testing::GitHttpServer;
using ovvoc::testing::TempDir;

constexpr char kToken[] = "tok-8d1e6b0c2a4f7935-secret";
constexpr char kBranch[] = "ovvoc/lodash-4.17.21";
const absl::Time kTime = absl::FromUnixSeconds(1700000000);

void WriteFile(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << content;
  REQUIRE(out.good());
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

// `git args...` in `cwd`; its stdout, as it is.
std::string GitRaw(const std::vector<std::string>& args, const std::string& cwd) {
  absl::StatusOr<std::string> out = ovvoc::testing::RunGit(args, cwd);
  INFO(out.status().ToString());
  REQUIRE(out.ok());
  return *out;
}

// `git args...` in `cwd`; its stdout without the trailing newline.
std::string Git(const std::vector<std::string>& args, const std::string& cwd) {
  return std::string(absl::StripTrailingAsciiWhitespace(GitRaw(args, cwd)));
}

// The id `rev` names in `repo`, or "" when it names nothing.
std::string RevParse(const std::string& repo, const std::string& rev) {
  absl::StatusOr<std::string> out =
      ovvoc::testing::RunGit({"rev-parse", "--verify", "--quiet", rev + "^{commit}"}, repo);
  return out.ok() ? std::string(absl::StripTrailingAsciiWhitespace(*out)) : "";
}

// path -> "mode type id" of every entry below `rev`'s tree, as `git ls-tree -r` lists them.
std::map<std::string, std::string> LsTree(const std::string& repo, const std::string& rev) {
  std::map<std::string, std::string> entries;
  for (absl::string_view line : absl::StrSplit(GitRaw({"ls-tree", "-r", "--full-tree", rev}, repo),
                                               '\n', absl::SkipEmpty())) {
    size_t tab = line.find('\t');
    entries[std::string(line.substr(tab + 1))] = std::string(line.substr(0, tab));
  }
  return entries;
}

// A forge root holding acme/widgets.git (bare), made with the git CLI from a small workspace
// project with an executable, two symlinks (to a file, to a directory) and a submodule, and
// `work`, a libgit2 clone of it (Clone()) as a job has one.
struct Project {
  TempDir dir;
  std::string root = dir.Sub("forge");
  std::string forge = root + "/acme/widgets.git";
  std::string work = dir.Sub("work");
  std::string head;

  Project() {
    const std::string source = dir.Sub("source");
    WriteFile(source + "/package.json", R"({"name": "widgets", "workspaces": ["packages/*"]})");
    WriteFile(source + "/package-lock.json", "{\"lockfileVersion\": 3}\n");
    WriteFile(source + "/packages/web/package.json", R"({"name": "web"})");
    WriteFile(source + "/bin/run.sh", "#!/bin/sh\nexit 0\n");
    fs::permissions(source + "/bin/run.sh", fs::perms::owner_exec, fs::perm_options::add);
    fs::create_symlink("package.json", source + "/link.json");
    fs::create_directory_symlink("packages", source + "/linked");
    Git({"init", "--quiet", "--initial-branch=main"}, source);
    Git({"add", "--all"}, source);
    Git({"update-index", "--add", "--cacheinfo",
         "160000,1111111111111111111111111111111111111111,vendor/sub"},
        source);
    Git({"commit", "--quiet", "--message", "fixture"}, source);
    REQUIRE(ovvoc::testing::InitBareRepo(forge).ok());
    Git({"push", "--quiet", forge, "HEAD:refs/heads/main"}, source);
    head = RevParse(source, "HEAD");
    ovvoc::agent::git::CloneOptions clone;
    clone.url = forge;
    clone.destination = work;
    absl::StatusOr<ovvoc::agent::git::CloneResult> cloned = ovvoc::agent::git::Clone(clone);
    INFO(cloned.status().ToString());
    REQUIRE(cloned.ok());
    REQUIRE(cloned->head_commit == head);
  }

  CommitFilesOptions Commit(std::map<std::string, std::string> files,
                            const std::string& branch = kBranch) const {
    CommitFilesOptions options;
    options.repo_dir = work;
    options.parent = head;
    options.branch = branch;
    options.files = std::move(files);
    options.name = "Ovvoc Bot";
    options.email = "bot@ovvoc.invalid";
    options.message = "chore(deps): bump lodash from 4.17.20 to 4.17.21\n\nBody.\n";
    options.time = kTime;
    return options;
  }

  // Commits `content` as package.json to `branch`; returns the commit id.
  std::string CommitPackageJson(const std::string& content,
                                const std::string& branch = kBranch) const {
    absl::StatusOr<std::string> commit = CommitFiles(Commit({{"package.json", content}}, branch));
    INFO(commit.status().ToString());
    REQUIRE(commit.ok());
    return *commit;
  }

  PushOptions Push(const std::string& url, std::vector<std::string> branches = {kBranch}) const {
    PushOptions options;
    options.repo_dir = work;
    options.url = url;
    options.branches = std::move(branches);
    return options;
  }
};

// The same forge served over smart HTTP (git http-backend: hooks and receive.* settings apply);
// kToken may read and push everything under acme/.
struct ServedProject : Project {
  GitHttpServer server{root};

  ServedProject() {
    server.AddToken(kToken, "acme/");
    REQUIRE(server.Start().ok());
  }

  std::string Url(const std::string& repo_path = "acme/widgets.git") const {
    return server.BaseUrl() + "/" + repo_path;
  }

  PushOptions AuthedPush(const std::string& url,
                         std::vector<std::string> branches = {kBranch}) const {
    PushOptions options = Push(url, std::move(branches));
    options.credentials = Credentials{"x-access-token", kToken};
    return options;
  }
};

// What CommitFiles must leave alone in the clone.
struct WorkState {
  std::string index;
  std::string head_file;
  std::string head_commit;
  std::string package_json;
  std::string config;

  explicit WorkState(const std::string& work)
      : index(ReadFile(work + "/.git/index")),
        head_file(ReadFile(work + "/.git/HEAD")),
        head_commit(RevParse(work, "HEAD")),
        package_json(ReadFile(work + "/package.json")),
        config(ReadFile(work + "/.git/config")) {}

  bool operator==(const WorkState& other) const {
    return index == other.index && head_file == other.head_file &&
           head_commit == other.head_commit && package_json == other.package_json &&
           config == other.config;
  }
};

// ---- CommitFiles ---------------------------------------------------------------------------

TEST_CASE("CommitFiles replaces a file and adds one in a new directory, and nothing else") {
  Project project;
  const WorkState before(project.work);
  const std::string package_json = R"({"name": "widgets", "dependencies": {"lodash": "^4"}})";
  const std::string api_lock = "{\"lockfileVersion\": 3, \"name\": \"api\"}\n";
  CommitFilesOptions options = project.Commit(
      {{"package.json", package_json}, {"packages/api/package-lock.json", api_lock}});
  absl::StatusOr<std::string> commit = CommitFiles(options);
  INFO(commit.status().ToString());
  REQUIRE(commit.ok());
  REQUIRE(commit->size() == 40);

  CHECK(RevParse(project.work, absl::StrCat("refs/heads/", kBranch)) == *commit);
  CHECK(GitRaw({"show", *commit + ":package.json"}, project.work) == package_json);
  CHECK(GitRaw({"show", *commit + ":packages/api/package-lock.json"}, project.work) == api_lock);

  std::map<std::string, std::string> parent_tree = LsTree(project.work, project.head);
  std::map<std::string, std::string> tree = LsTree(project.work, *commit);
  CHECK(absl::StartsWith(tree["package.json"], "100644 blob "));
  CHECK(absl::StartsWith(tree["packages/api/package-lock.json"], "100644 blob "));
  CHECK(parent_tree.count("packages/api/package-lock.json") == 0);
  CHECK(absl::StartsWith(parent_tree["bin/run.sh"], "100755 blob "));
  CHECK(absl::StartsWith(parent_tree["link.json"], "120000 blob "));
  CHECK(absl::StartsWith(parent_tree["linked"], "120000 blob "));
  CHECK(absl::StartsWith(parent_tree["vendor/sub"], "160000 commit "));
  parent_tree.erase("package.json");
  tree.erase("package.json");
  tree.erase("packages/api/package-lock.json");
  CHECK(tree == parent_tree);

  // The exact commit object: one parent, the identity and time given, the message as given.
  CHECK(GitRaw({"cat-file", "commit", *commit}, project.work) ==
        absl::StrCat(
            "tree ", Git({"rev-parse", *commit + "^{tree}"}, project.work), "\n", "parent ",
            project.head, "\n", "author Ovvoc Bot <bot@ovvoc.invalid> 1700000000 +0000\n",
            "committer Ovvoc Bot <bot@ovvoc.invalid> 1700000000 +0000\n", "\n", options.message));

  // Work tree, index, HEAD and configuration as they were.
  CHECK(WorkState(project.work) == before);
  CHECK(Git({"status", "--porcelain"}, project.work).empty());
  CHECK(Git({"for-each-ref", "--format=%(refname)"}, project.work) ==
        absl::StrCat("refs/heads/main\nrefs/heads/", kBranch, "\nrefs/remotes/origin/main"));
}

TEST_CASE("CommitFiles builds the same tree git does for files across several directories") {
  Project project;
  const std::map<std::string, std::string> files = {
      {"package.json", "{\"a\": 1}\n"},
      {"packages/web/package.json", "{\"name\": \"web\", \"v\": 2}\n"},
      {"packages/web-app/package.json", "{\"name\": \"web-app\"}\n"},
      {"packages/web/sub/deep/package.json", "{}\n"},
      {"packages/api/package.json", "{\"name\": \"api\"}\n"},
      {"packages.json", "[]\n"},
      {"z/y/x.json", "{}\n"}};
  absl::StatusOr<std::string> commit = CommitFiles(project.Commit(files));
  INFO(commit.status().ToString());
  REQUIRE(commit.ok());

  // The same change through the git CLI, in a checkout of its own.
  const std::string scratch = project.dir.Sub("scratch");
  Git({"clone", "--quiet", project.forge, scratch}, "");
  for (const auto& [path, content] : files) {
    WriteFile(scratch + "/" + path, content);
    Git({"add", "--", path}, scratch);
  }
  CHECK(Git({"rev-parse", *commit + "^{tree}"}, project.work) == Git({"write-tree"}, scratch));
}

TEST_CASE("CommitFiles writes an executable file back as a regular one (mode 100644)") {
  Project project;
  absl::StatusOr<std::string> commit =
      CommitFiles(project.Commit({{"bin/run.sh", "#!/bin/sh\nexit 1\n"}}));
  INFO(commit.status().ToString());
  REQUIRE(commit.ok());
  CHECK(absl::StartsWith(LsTree(project.work, *commit)["bin/run.sh"], "100644 blob "));
}

TEST_CASE("A second CommitFiles moves the branch, also to a commit that is not a descendant") {
  Project project;
  const std::string first = project.CommitPackageJson("{\"first\": true}\n");
  REQUIRE(RevParse(project.work, kBranch) == first);
  const std::string second = project.CommitPackageJson("{\"second\": true}\n");
  CHECK(second != first);
  CHECK(RevParse(project.work, kBranch) == second);
  CHECK(Git({"rev-list", "--parents", "-n1", second}, project.work) == second + " " + project.head);
  // On top of the first: a descendant is fine too.
  CommitFilesOptions options = project.Commit({{"package-lock.json", "{}\n"}});
  options.parent = first;
  absl::StatusOr<std::string> third = CommitFiles(options);
  REQUIRE(third.ok());
  CHECK(RevParse(project.work, kBranch) == *third);
  CHECK(RevParse(project.work, *third + "^") == first);
}

TEST_CASE("CommitFiles refuses invalid arguments before writing anything") {
  Project project;
  struct Case {
    const char* what;
    void (*change)(CommitFilesOptions&);
  };
  const std::vector<Case> cases = {
      {"empty branch", [](auto& o) { o.branch = ""; }},
      {"branch with ..", [](auto& o) { o.branch = "a..b"; }},
      {"branch with a space", [](auto& o) { o.branch = "a b"; }},
      {"branch ending in .lock", [](auto& o) { o.branch = "x.lock"; }},
      {"branch HEAD", [](auto& o) { o.branch = "HEAD"; }},
      {"branch starting with -", [](auto& o) { o.branch = "-x"; }},
      {"branch with NUL", [](auto& o) { o.branch = std::string("a\0b", 3); }},
      {"branch with a trailing /", [](auto& o) { o.branch = "ovvoc/"; }},
      {"path ../x",
       [](auto& o) {
         o.files = {{"../x", "x"}};
       }},
      {"path a/../b",
       [](auto& o) {
         o.files = {{"a/../b", "x"}};
       }},
      {"path ./x",
       [](auto& o) {
         o.files = {{"./x", "x"}};
       }},
      {"path .git/config",
       [](auto& o) {
         o.files = {{".git/config", "x"}};
       }},
      {"path sub/.GIT/hooks/pre-commit",
       [](auto& o) {
         o.files = {{"sub/.GIT/hooks/pre-commit", "x"}};
       }},
      {"path a//b",
       [](auto& o) {
         o.files = {{"a//b", "x"}};
       }},
      {"path x/",
       [](auto& o) {
         o.files = {{"x/", "x"}};
       }},
      {"absolute path",
       [](auto& o) {
         o.files = {{"/etc/passwd", "x"}};
       }},
      {"backslash",
       [](auto& o) {
         o.files = {{"a\\b", "x"}};
       }},
      {"empty path",
       [](auto& o) {
         o.files = {{"", "x"}};
       }},
      {"NUL in path",
       [](auto& o) {
         o.files = {{std::string("a\0b", 3), "x"}};
       }},
      {"NTFS short name of .git",
       [](auto& o) {
         o.files = {{"GIT~1/config", "x"}};
       }},
      {"a file and a directory",
       [](auto& o) {
         o.files = {{"a", "x"}, {"a/b", "y"}};
       }},
      {"name with <", [](auto& o) { o.name = "Bot <evil@x>"; }},
      {"email with >", [](auto& o) { o.email = "a>b@x"; }},
      {"name with a newline", [](auto& o) { o.name = "Bot\ncommitter Evil <e@x> 0 +0000"; }},
      {"email with a newline", [](auto& o) { o.email = "bot@x\n"; }},
      {"empty name", [](auto& o) { o.name = ""; }},
      {"empty email", [](auto& o) { o.email = " "; }},
      {"short parent", [](auto& o) { o.parent = o.parent.substr(0, 12); }},
      {"parent not hex", [](auto& o) { o.parent = std::string(40, 'g'); }},
      {"65 files",
       [](auto& o) {
         for (int i = 0; i < 65; ++i) o.files["f" + std::to_string(i)] = "x";
       }},
      {"a file over 64 MiB",
       [](auto& o) {
         o.files = {{"big.json", std::string((64 << 20) + 1, 'x')}};
       }},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    CommitFilesOptions options = project.Commit({{"package.json", "{}\n"}});
    c.change(options);
    absl::StatusOr<std::string> commit = CommitFiles(options);
    INFO(commit.status().ToString());
    CHECK(absl::IsInvalidArgument(commit.status()));
  }
  CHECK(RevParse(project.work, kBranch).empty());
  // At the limits it commits.
  CommitFilesOptions options = project.Commit({{"big.json", std::string(64 << 20, 'x')}});
  for (int i = 1; i < 64; ++i) options.files["f" + std::to_string(i)] = "x";
  absl::StatusOr<std::string> commit = CommitFiles(options);
  INFO(commit.status().ToString());
  CHECK(commit.ok());
}

TEST_CASE("CommitFiles never writes through a symlink, a submodule or over a directory") {
  Project project;
  const WorkState before(project.work);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"link.json", "\"link.json\" is a symlink"},
      {"linked/web/package.json", "\"linked\" is a symlink"},
      {"packages", "\"packages\" is a directory"},
      {"packages/web", "\"packages/web\" is a directory"},
      {"vendor/sub", "\"vendor/sub\" is a submodule"},
      {"vendor/sub/package.json", "\"vendor/sub\" is a submodule"},
      {"package.json/x", "\"package.json\" is a file"},
  };
  for (const auto& [path, says] : cases) {
    INFO(path);
    absl::StatusOr<std::string> commit =
        CommitFiles(project.Commit({{"package-lock.json", "{}\n"}, {path, "{}\n"}}));
    INFO(commit.status().ToString());
    CHECK(absl::IsFailedPrecondition(commit.status()));
    CHECK_THAT(std::string(commit.status().message()), Catch::Contains(says));
  }
  CHECK(RevParse(project.work, kBranch).empty());
  CHECK(WorkState(project.work) == before);
}

// Positive control for the test above: git_tree_create_updated alone replaces a symlink with a
// regular file (both are blobs to it), so CommitFiles has to look first.
TEST_CASE("libgit2 alone would replace a symlink with a file") {
  Project project;
  git_libgit2_init();
  git_repository* repo = nullptr;
  REQUIRE(git_repository_open(&repo, project.work.c_str()) == 0);
  git_object* tree = nullptr;
  REQUIRE(git_revparse_single(&tree, repo, "HEAD^{tree}") == 0);
  git_tree_update update{};
  update.action = GIT_TREE_UPDATE_UPSERT;
  update.filemode = GIT_FILEMODE_BLOB;
  update.path = "link.json";
  REQUIRE(git_blob_create_from_buffer(&update.id, repo, "x", 1) == 0);
  git_oid updated;
  CHECK(git_tree_create_updated(&updated, repo, reinterpret_cast<git_tree*>(tree), 1, &update) ==
        0);
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof hex, &updated);
  CHECK(absl::StartsWith(Git({"ls-tree", hex, "link.json"}, project.work), "100644 blob "));
  git_object_free(tree);
  git_repository_free(repo);
  git_libgit2_shutdown();
}

TEST_CASE("CommitFiles refuses a commit that changes nothing") {
  Project project;
  const std::string package_json = Git({"show", "HEAD:package.json"}, project.work);
  absl::StatusOr<std::string> commit =
      CommitFiles(project.Commit({{"package.json", package_json}}));
  CHECK(absl::IsFailedPrecondition(commit.status()));
  CHECK(commit.status().message() == "nothing changed");
  CHECK(absl::IsFailedPrecondition(CommitFiles(project.Commit({})).status()));
  CHECK(RevParse(project.work, kBranch).empty());
}

TEST_CASE("CommitFiles refuses to move the branch HEAD names") {
  Project project;
  const WorkState before(project.work);
  absl::StatusOr<std::string> commit =
      CommitFiles(project.Commit({{"package.json", "{}\n"}}, "main"));
  CHECK(absl::IsFailedPrecondition(commit.status()));
  CHECK(WorkState(project.work) == before);
  CHECK(RevParse(project.work, "main") == project.head);
}

TEST_CASE("CommitFiles refuses to move a branch a linked worktree has checked out") {
  // Red team, issue 12: the worktree's index and files were left behind the moved branch.
  Project project;
  GitRaw({"worktree", "add", "--quiet", "-b", kBranch, project.dir.Sub("wt")}, project.work);
  absl::StatusOr<std::string> commit = CommitFiles(project.Commit({{"package.json", "{}\n"}}));
  INFO(commit.status().ToString());
  CHECK(absl::IsFailedPrecondition(commit.status()));
  CHECK(absl::StrContains(commit.status().message(), "worktree"));
  CHECK(RevParse(project.work, kBranch) == project.head);
}

TEST_CASE("CommitFiles: a missing parent or repository is NotFound") {
  Project project;
  CommitFilesOptions options = project.Commit({{"package.json", "{}\n"}});
  SECTION("no such commit") { options.parent = std::string(40, 'a'); }
  SECTION("a tree, not a commit") {
    options.parent = Git({"rev-parse", "HEAD^{tree}"}, project.work);
  }
  SECTION("no repository") { options.repo_dir = project.dir.Sub("nope"); }
  SECTION("a directory that is no repository") { options.repo_dir = project.dir.Sub("forge"); }
  absl::StatusOr<std::string> commit = CommitFiles(options);
  INFO(commit.status().ToString());
  CHECK(absl::IsNotFound(commit.status()));
}

// ---- PushBranches --------------------------------------------------------------------------

TEST_CASE("PushBranches pushes to a bare repository and writes nothing into the clone") {
  Project project;
  const std::string commit = project.CommitPackageJson("{\"pushed\": true}\n");
  const std::string config = ReadFile(project.work + "/.git/config");
  std::string url;
  SECTION("local path") { url = project.forge; }
  SECTION("file:// URL") { url = "file://" + project.forge; }
  absl::Status pushed = PushBranches(project.Push(url));
  INFO(pushed.ToString());
  REQUIRE(pushed.ok());
  CHECK(RevParse(project.forge, kBranch) == commit);
  CHECK(GitRaw({"show", std::string(kBranch) + ":package.json"}, project.forge) ==
        "{\"pushed\": true}\n");
  Git({"fsck", "--no-dangling"}, project.forge);
  CHECK(RevParse(project.forge, "main") == project.head);
  CHECK(ReadFile(project.work + "/.git/config") == config);
  CHECK(Git({"for-each-ref", "--format=%(refname)", "refs/remotes"}, project.work) ==
        "refs/remotes/origin/main");
}

TEST_CASE("PushBranches force-pushes over what the remote has, several branches at once") {
  Project project;
  const std::string first = project.CommitPackageJson("{\"v\": 1}\n");
  REQUIRE(PushBranches(project.Push(project.forge)).ok());
  REQUIRE(RevParse(project.forge, kBranch) == first);
  const std::string second = project.CommitPackageJson("{\"v\": 2}\n");  // not a descendant
  const std::string other = project.CommitPackageJson("{\"other\": 1}\n", "ovvoc/other");
  absl::Status pushed =
      PushBranches(project.Push(project.forge, {kBranch, "ovvoc/other", kBranch}));
  INFO(pushed.ToString());
  REQUIRE(pushed.ok());
  CHECK(RevParse(project.forge, kBranch) == second);
  CHECK(RevParse(project.forge, "ovvoc/other") == other);
  // Again, with nothing new: a retry succeeds.
  pushed = PushBranches(project.Push(project.forge, {kBranch}));
  INFO(pushed.ToString());
  CHECK(pushed.ok());
  CHECK(RevParse(project.forge, kBranch) == second);
}

TEST_CASE("The clone's url.*.insteadOf settings do not redirect a push") {
  Project project;
  const std::string decoy = project.dir.Sub("decoy.git");
  REQUIRE(ovvoc::testing::InitBareRepo(decoy).ok());
  Git({"config", "url." + decoy + ".pushInsteadOf", project.forge}, project.work);
  Git({"config", "url." + decoy + ".insteadOf", "file://" + project.forge}, project.work);
  // Positive control: git follows them.
  Git({"push", "--quiet", project.forge, "main:refs/heads/probe"}, project.work);
  REQUIRE(RevParse(decoy, "probe") == project.head);
  REQUIRE(RevParse(project.forge, "probe").empty());
  const std::string commit = project.CommitPackageJson("{\"pushed\": true}\n");
  for (const std::string& url : {project.forge, "file://" + project.forge}) {
    INFO(url);
    absl::Status pushed = PushBranches(project.Push(url));
    INFO(pushed.ToString());
    CHECK(pushed.ok());
  }
  CHECK(RevParse(project.forge, kBranch) == commit);
  CHECK(RevParse(decoy, kBranch).empty());
}

TEST_CASE("PushBranches into a non-bare repository's checked-out branch is an error") {
  Project project;
  const std::string target = project.dir.Sub("target");
  Git({"clone", "--quiet", project.forge, target}, "");
  Git({"checkout", "--quiet", "-b", kBranch}, target);
  const std::string commit = project.CommitPackageJson("{\"pushed\": true}\n");
  absl::Status pushed = PushBranches(project.Push(target));
  INFO(pushed.ToString());
  // libgit2's local transport refuses every push into a repository with a work tree.
  CHECK(absl::IsFailedPrecondition(pushed));
  CHECK(RevParse(target, kBranch) == project.head);
  CHECK(Git({"status", "--porcelain"}, target).empty());
  // A branch that is not checked out there is refused as well.
  project.CommitPackageJson("{}\n", "ovvoc/other");
  CHECK(absl::IsFailedPrecondition(PushBranches(project.Push(target, {"ovvoc/other"}))));
  CHECK(RevParse(target, "ovvoc/other").empty());
}

TEST_CASE("PushBranches over http into a checked-out branch is refused by the server") {
  ServedProject project;
  const std::string target = project.root + "/acme/site.git";  // a work tree, .git inside
  Git({"clone", "--quiet", project.forge, target}, "");
  Git({"checkout", "--quiet", "-b", kBranch}, target);
  project.CommitPackageJson("{\"pushed\": true}\n");
  absl::Status pushed = PushBranches(project.AuthedPush(project.Url("acme/site.git")));
  INFO(pushed.ToString());
  CHECK(absl::IsFailedPrecondition(pushed));
  CHECK_THAT(std::string(pushed.message()), Catch::Contains(absl::StrCat("refs/heads/", kBranch)) &&
                                                Catch::Contains("checked out"));
  CHECK(RevParse(target, kBranch) == project.head);
}

TEST_CASE("A pre-receive hook's refusal is FailedPrecondition") {
  ServedProject project;
  const std::string hook = project.forge + "/hooks/pre-receive";
  WriteFile(hook, "#!/bin/sh\necho 'branch protection: no bot pushes' >&2\nexit 1\n");
  fs::permissions(hook, fs::perms::owner_all);
  project.CommitPackageJson("{\"pushed\": true}\n");
  absl::Status pushed = PushBranches(project.AuthedPush(project.Url()));
  INFO(pushed.ToString());
  CHECK(absl::IsFailedPrecondition(pushed));
  CHECK_THAT(std::string(pushed.message()), Catch::Contains(absl::StrCat("refs/heads/", kBranch)) &&
                                                Catch::Contains("pre-receive hook declined"));
  CHECK(RevParse(project.forge, kBranch).empty());
}

// A ref the remote could not update: libgit2's local transport cannot take the ref's lock.
TEST_CASE("A ref the local transport cannot update is FailedPrecondition") {
  Project project;
  project.CommitPackageJson("{\"pushed\": true}\n");
  WriteFile(project.forge + "/refs/heads/" + kBranch + ".lock", "");
  absl::Status pushed = PushBranches(project.Push(project.forge));
  INFO(pushed.ToString());
  CHECK(absl::IsFailedPrecondition(pushed));
  CHECK_THAT(std::string(pushed.message()),
             Catch::Contains(absl::StrCat("refs/heads/", kBranch)) && Catch::Contains("lock"));
  CHECK(RevParse(project.forge, kBranch).empty());
}

// Positive control for the two tests above: git_remote_push alone reports success.
TEST_CASE("libgit2 alone reports a refused ref as success") {
  Project project;
  project.CommitPackageJson("{\"pushed\": true}\n");
  WriteFile(project.forge + "/refs/heads/" + kBranch + ".lock", "");
  git_libgit2_init();
  git_repository* repo = nullptr;
  REQUIRE(git_repository_open(&repo, project.work.c_str()) == 0);
  git_remote* remote = nullptr;
  // As git_remote_create_anonymous does, without its url.*.insteadOf lookup (which leaks in
  // libgit2 1.5).
  git_remote_create_options create;
  git_remote_create_options_init(&create, GIT_REMOTE_CREATE_OPTIONS_VERSION);
  create.repository = repo;
  create.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF;
  REQUIRE(git_remote_create_with_opts(&remote, project.forge.c_str(), &create) == 0);
  std::string refspec = absl::StrCat("+refs/heads/", kBranch, ":refs/heads/", kBranch);
  char* refspecs[] = {refspec.data()};
  const git_strarray wanted = {refspecs, 1};
  CHECK(git_remote_push(remote, &wanted, nullptr) == 0);
  CHECK(RevParse(project.forge, kBranch).empty());
  git_remote_free(remote);
  git_repository_free(repo);
  git_libgit2_shutdown();
}

TEST_CASE("PushBranches over http presents the token through the credentials callback") {
  ServedProject project;
  const std::string commit = project.CommitPackageJson("{\"pushed\": true}\n");
  absl::Status pushed = PushBranches(project.AuthedPush(project.Url()));
  INFO(pushed.ToString());
  REQUIRE(pushed.ok());
  CHECK(RevParse(project.forge, kBranch) == commit);
  CHECK(project.server.authenticated_requests() >= 2);  // advertisement and receive-pack
  CHECK(project.server.rejected_requests() == 0);
  int files = 0;
  for (const fs::directory_entry& entry : fs::recursive_directory_iterator(project.work)) {
    if (!entry.is_regular_file()) continue;
    ++files;
    INFO(entry.path().string());
    CHECK(ReadFile(entry.path()).find(kToken) == std::string::npos);
  }
  CHECK(files > 5);
}

TEST_CASE("PushBranches over http without the right token is PermissionDenied") {
  ServedProject project;
  project.CommitPackageJson("{\"pushed\": true}\n");
  PushOptions options = project.AuthedPush(project.Url());
  SECTION("a wrong token, presented once") {
    options.credentials->password = "not-the-token";
    absl::Status pushed = PushBranches(options);
    CHECK(absl::IsPermissionDenied(pushed));
    CHECK(project.server.rejected_requests() == 1);
  }
  SECTION("no token") {
    options.credentials.reset();
    absl::Status pushed = PushBranches(options);
    CHECK(absl::IsPermissionDenied(pushed));
    CHECK_THAT(std::string(pushed.message()), Catch::Contains("none were given"));
  }
  CHECK(RevParse(project.forge, kBranch).empty());
}

TEST_CASE("PushBranches of a branch the clone does not have is NotFound before any request") {
  ServedProject project;
  absl::Status pushed = PushBranches(project.AuthedPush(project.Url(), {"ovvoc/never-made"}));
  CHECK(absl::IsNotFound(pushed));
  CHECK(project.server.requests() == 0);
  CHECK(absl::IsNotFound(PushBranches(project.Push(project.forge, {"ovvoc/never-made"}))));
}

TEST_CASE("PushBranches to a missing repository is NotFound") {
  ServedProject project;
  project.CommitPackageJson("{}\n");
  CHECK(absl::IsNotFound(PushBranches(project.Push(project.root + "/acme/nope.git"))));
  CHECK(absl::IsNotFound(PushBranches(project.Push("file://" + project.root + "/acme/nope.git"))));
  absl::Status pushed = PushBranches(project.AuthedPush(project.Url("acme/nope.git")));
  INFO(pushed.ToString());
  CHECK(absl::IsNotFound(pushed));
  PushOptions no_repo = project.Push(project.forge);
  no_repo.repo_dir = project.dir.Sub("nope");
  CHECK(absl::IsNotFound(PushBranches(no_repo)));
}

TEST_CASE("PushBranches refuses invalid arguments") {
  ServedProject project;
  project.CommitPackageJson("{}\n");
  const std::string userinfo = absl::StrCat(
      "http://x-access-token:", kToken, "@127.0.0.1:", project.server.port(), "/acme/widgets.git");
  for (const PushOptions& options :
       {project.Push(""), project.Push(project.forge, {}), project.Push(project.forge, {"a..b"}),
        project.Push(project.forge, {kBranch, "x.lock"}), project.Push(userinfo),
        project.Push("ssh://forge.invalid/a/b.git"), project.Push("forge.invalid:a/b.git")}) {
    INFO(options.url);
    absl::Status pushed = PushBranches(options);
    CHECK(absl::IsInvalidArgument(pushed));
    CHECK(std::string(pushed.message()).find(kToken) == std::string::npos);
  }
  CHECK(project.server.requests() == 0);
}

TEST_CASE("cancelled() returning true stops a push") {
  ServedProject project;
  project.CommitPackageJson("{\"pushed\": true}\n");
  int polls = 0;
  PushOptions options;
  SECTION("before starting") {
    options = project.AuthedPush(project.Url());
    options.cancelled = [] { return true; };
    CHECK(absl::IsCancelled(PushBranches(options)));
    CHECK(project.server.requests() == 0);
  }
  SECTION("during an http push") {
    options = project.AuthedPush(project.Url());
    options.cancelled = [&polls] { return ++polls > 1; };
    CHECK(absl::IsCancelled(PushBranches(options)));
    CHECK(polls > 1);
    CHECK(project.server.requests() > 0);  // stopped after the server was reached
  }
  SECTION("during a local push") {
    options = project.Push("file://" + project.forge);
    options.cancelled = [&polls] { return ++polls > 1; };
    CHECK(absl::IsCancelled(PushBranches(options)));
    CHECK(polls > 1);
  }
  CHECK(RevParse(project.forge, kBranch).empty());
}

TEST_CASE("A push past the job's deadline is DeadlineExceeded") {
  Project project;
  project.CommitPackageJson("{}\n");
  PushOptions options = project.Push(project.forge);
  options.deadline = absl::Now() - absl::Seconds(1);
  CHECK(absl::IsDeadlineExceeded(PushBranches(options)));
  CHECK(RevParse(project.forge, kBranch).empty());
}

TEST_CASE("A server that does not answer is Unavailable") {
  ServedProject project;
  project.CommitPackageJson("{}\n");
  const std::string url = project.Url();
  project.server.Stop();
  absl::Status pushed = PushBranches(project.AuthedPush(url));
  INFO(pushed.ToString());
  CHECK(absl::IsUnavailable(pushed));
}

}  // namespace
