#include "agent/git/git.h"

#include <git2.h>
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "tests/support/git_bomb.h"
#include "tests/support/git_cli.h"
#include "tests/support/git_http_server.h"

namespace {

namespace fs = std::filesystem;
using ovvoc::agent::git::Clone;
using ovvoc::agent::git::CloneOptions;
using ovvoc::agent::git::CloneResult;
using ovvoc::agent::git::Credentials;
using ovvoc::testing::GitHttpServer;

constexpr char kToken[] = "tok-3f9a1c7e5b2d4f60-secret";

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "ovvoc-git-test-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

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

// A forge root holding acme/widgets.git, built from a small Node project.
struct Forge {
  TempDir dir;
  std::string root = dir.path() + "/forge";
  std::string repo = root + "/acme/widgets.git";
  std::string head;

  Forge() {
    std::string source = dir.path() + "/source";
    WriteFile(source + "/package.json", R"({"name": "widgets", "version": "1.0.0"})");
    WriteFile(source + "/src/index.js", "module.exports = 42;\n");
    absl::StatusOr<std::string> commit = GitHttpServer::CreateBareRepoFromDir(source, repo);
    INFO(commit.status().ToString());
    REQUIRE(commit.ok());
    head = *commit;
  }

  std::string Destination(const std::string& name) const { return dir.path() + "/" + name; }

  // Pushes a root commit holding only `file_name` to `branch`; returns its id.
  std::string PushBranch(const std::string& branch, const std::string& file_name,
                         const std::string& remote) const {
    std::string source = dir.path() + "/source-" + branch;
    WriteFile(source + "/" + file_name, "on " + branch + "\n");
    absl::StatusOr<std::string> commit = ovvoc::testing::PushDirAsBranch(source, remote, branch);
    INFO(commit.status().ToString());
    REQUIRE(commit.ok());
    return *commit;
  }
};

// The same forge served over smart HTTP; kToken may read and push acme/widgets.git.
struct ServedForge : Forge {
  GitHttpServer server{root};

  ServedForge() {
    server.AddToken(kToken, "acme/widgets.git");
    REQUIRE(server.Start().ok());
  }

  std::string Url(const std::string& repo_path = "acme/widgets.git") const {
    return server.BaseUrl() + "/" + repo_path;
  }
};

CloneOptions Options(const std::string& url, const std::string& destination) {
  CloneOptions options;
  options.url = url;
  options.destination = destination;
  return options;
}

CloneOptions WithToken(CloneOptions options, const std::string& token = kToken) {
  options.credentials = Credentials{"x-access-token", token};
  return options;
}

bool IsAbsentOrEmpty(const std::string& path) {
  std::error_code error;
  return !fs::exists(path, error) || fs::is_empty(path, error);
}

TEST_CASE("Clone from a local path checks out the head commit") {
  Forge forge;
  std::string destination = forge.Destination("clone");
  absl::StatusOr<CloneResult> result = Clone(Options(forge.repo, destination));
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  CHECK(result->head_commit == forge.head);
  CHECK(result->branch == "main");
  CHECK(fs::exists(destination + "/package.json"));
  CHECK(fs::exists(destination + "/src/index.js"));
}

TEST_CASE("Clone from a file:// URL checks out the head commit") {
  Forge forge;
  std::string destination = forge.Destination("clone");
  absl::StatusOr<CloneResult> result = Clone(Options("file://" + forge.repo, destination));
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  CHECK(result->head_commit == forge.head);
  CHECK(result->branch == "main");
  CHECK(ReadFile(destination + "/package.json").find("widgets") != std::string::npos);
}

TEST_CASE("Clone over http presents the token through the credentials callback") {
  ServedForge forge;
  std::string destination = forge.Destination("clone");
  absl::StatusOr<CloneResult> result = Clone(WithToken(Options(forge.Url(), destination)));
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  CHECK(result->head_commit == forge.head);
  CHECK(fs::exists(destination + "/package.json"));
  CHECK(forge.server.authenticated_requests() >= 2);  // refs advertisement and upload-pack
  CHECK(forge.server.rejected_requests() == 0);
  CHECK(forge.server.last_auth_outcome() == GitHttpServer::AuthOutcome::kAccepted);
}

TEST_CASE("The token is written to no file of the clone") {
  ServedForge forge;
  std::string destination = forge.Destination("clone");
  REQUIRE(Clone(WithToken(Options(forge.Url(), destination))).ok());
  std::string config = ReadFile(destination + "/.git/config");
  CHECK(config.find(forge.Url()) != std::string::npos);
  CHECK(config.find(kToken) == std::string::npos);
  CHECK(config.find("x-access-token") == std::string::npos);
  int files = 0;
  for (const fs::directory_entry& entry : fs::recursive_directory_iterator(destination)) {
    if (!entry.is_regular_file()) continue;
    ++files;
    INFO(entry.path().string());
    CHECK(ReadFile(entry.path()).find(kToken) == std::string::npos);
  }
  CHECK(files > 5);
}

TEST_CASE("A wrong token is PermissionDenied without retrying forever") {
  ServedForge forge;
  auto start = std::chrono::steady_clock::now();
  absl::StatusOr<CloneResult> result =
      Clone(WithToken(Options(forge.Url(), forge.Destination("clone")), "not-the-token"));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
  REQUIRE(result.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(std::string(result.status().message()) ==
        "the forge rejected the credentials for " + forge.Url());
  CHECK(forge.server.rejected_requests() == 1);
  CHECK(forge.server.authenticated_requests() == 0);
  CHECK(IsAbsentOrEmpty(forge.Destination("clone")));
}

TEST_CASE("No credentials for a protected repository is PermissionDenied") {
  ServedForge forge;
  absl::StatusOr<CloneResult> result = Clone(Options(forge.Url(), forge.Destination("clone")));
  REQUIRE(result.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(std::string(result.status().message()).find("none were given") != std::string::npos);
  CHECK(forge.server.last_auth_outcome() == GitHttpServer::AuthOutcome::kMissing);
}

TEST_CASE("A token for another repository is PermissionDenied") {
  ServedForge forge;
  forge.server.AddToken("other-token", "acme/other.git");
  absl::StatusOr<CloneResult> result =
      Clone(WithToken(Options(forge.Url(), forge.Destination("clone")), "other-token"));
  CHECK(result.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(forge.server.last_auth_outcome() == GitHttpServer::AuthOutcome::kForbidden);
}

TEST_CASE("A missing repository is NotFound") {
  ServedForge forge;
  std::string destination = forge.Destination("clone");
  SECTION("local path") {
    CHECK(Clone(Options(forge.root + "/acme/nope.git", destination)).status().code() ==
          absl::StatusCode::kNotFound);
  }
  SECTION("file:// URL") {
    CHECK(Clone(Options("file://" + forge.root + "/acme/nope.git", destination)).status().code() ==
          absl::StatusCode::kNotFound);
  }
  SECTION("http") {
    forge.server.AddToken(kToken, "acme/");
    absl::StatusOr<CloneResult> result =
        Clone(WithToken(Options(forge.Url("acme/nope.git"), destination)));
    INFO(result.status().ToString());
    CHECK(result.status().code() == absl::StatusCode::kNotFound);
  }
  CHECK(IsAbsentOrEmpty(destination));
}

TEST_CASE("A URL with userinfo is rejected before anything is sent") {
  ServedForge forge;
  std::string url = "http://x-access-token:" + std::string(kToken) +
                    "@127.0.0.1:" + std::to_string(forge.server.port()) + "/acme/widgets.git";
  absl::StatusOr<CloneResult> result = Clone(Options(url, forge.Destination("clone")));
  REQUIRE(result.status().code() == absl::StatusCode::kInvalidArgument);
  std::string message(result.status().message());
  CHECK(message.find("credentials") != std::string::npos);
  CHECK(message.find(kToken) == std::string::npos);
  CHECK(forge.server.requests() == 0);
  CHECK(Clone(Options("https://user@forge.invalid/a/b.git", forge.Destination("c2")))
            .status()
            .code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Unsupported URLs are InvalidArgument") {
  TempDir dir;
  for (const char* url : {"ssh://forge.invalid/a/b.git", "forge.invalid:a/b.git"}) {
    INFO(url);
    CHECK(Clone(Options(url, dir.path() + "/clone")).status().code() ==
          absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("cancelled() returning true is Cancelled") {
  ServedForge forge;
  std::string destination = forge.Destination("clone");
  int polls = 0;
  CloneOptions options;
  SECTION("before starting") {
    options = WithToken(Options(forge.Url(), destination));
    options.cancelled = [] { return true; };
    CHECK(Clone(options).status().code() == absl::StatusCode::kCancelled);
    CHECK(forge.server.requests() == 0);
  }
  SECTION("during an http transfer") {
    options = WithToken(Options(forge.Url(), destination));
    options.cancelled = [&polls] { return ++polls > 1; };
    CHECK(Clone(options).status().code() == absl::StatusCode::kCancelled);
    CHECK(polls > 1);
  }
  SECTION("during a file:// transfer") {
    options = Options("file://" + forge.repo, destination);
    options.cancelled = [&polls] { return ++polls > 1; };
    CHECK(Clone(options).status().code() == absl::StatusCode::kCancelled);
  }
  SECTION("during a local-path clone") {
    options = Options(forge.repo, destination);
    options.cancelled = [&polls] { return ++polls > 1; };
    CHECK(Clone(options).status().code() == absl::StatusCode::kCancelled);
  }
  CHECK(IsAbsentOrEmpty(destination));
}

TEST_CASE("Clone checks out a named branch") {
  ServedForge forge;
  std::string feature = forge.PushBranch("feature", "feature.txt", forge.repo);
  std::string destination = forge.Destination("clone");
  CloneOptions options;
  SECTION("over http") { options = WithToken(Options(forge.Url(), destination)); }
  SECTION("from a file:// URL") { options = Options("file://" + forge.repo, destination); }
  options.branch = "feature";
  absl::StatusOr<CloneResult> result = Clone(options);
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  CHECK(result->head_commit == feature);
  CHECK(result->branch == "feature");
  CHECK(fs::exists(destination + "/feature.txt"));
  CHECK_FALSE(fs::exists(destination + "/package.json"));
}

TEST_CASE("A missing branch is NotFound") {
  Forge forge;
  CloneOptions options = Options("file://" + forge.repo, forge.Destination("clone"));
  options.branch = "no-such-branch";
  absl::StatusOr<CloneResult> result = Clone(options);
  INFO(result.status().ToString());
  CHECK(result.status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("A destination that is not empty is AlreadyExists") {
  Forge forge;
  std::string destination = forge.Destination("clone");
  WriteFile(destination + "/keep.txt", "mine\n");
  absl::StatusOr<CloneResult> result = Clone(Options(forge.repo, destination));
  CHECK(result.status().code() == absl::StatusCode::kAlreadyExists);
  CHECK(ReadFile(destination + "/keep.txt") == "mine\n");
}

void MakeBomb(const std::string& path,
              const std::vector<std::pair<std::string, std::string>>& files, int fanout,
              int depth) {
  absl::Status made = ovvoc::testing::MakeGitBomb(path, files, fanout, depth);
  INFO(made.ToString());
  REQUIRE(made.ok());
}

// Regression: a 220 KB repository whose tree expands to 10^6 files was checked out whole onto
// the host's disk (+4.7 GB, +1.1 M inodes), ignoring the job's timeout.
TEST_CASE("A tree bomb is refused before anything is checked out") {
  TempDir dir;
  const std::string bomb = dir.path() + "/bomb.git";
  MakeBomb(bomb, {{"package.json", "{}"}, {"x", "x"}}, 10, 6);  // 2 x 10^6 files
  const std::string destination = dir.path() + "/clone";
  CloneOptions options = Options(bomb, destination);
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<CloneResult> result = Clone(options);
  INFO(result.status().ToString());
  CHECK(absl::IsResourceExhausted(result.status()));
  CHECK_THAT(std::string(result.status().message()),
             Catch::Contains("more than 100000 files and directories"));
  CHECK(IsAbsentOrEmpty(destination));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(30));
}

TEST_CASE("A clone's bytes, one file's size and nesting are bounded") {
  TempDir dir;
  const std::string big = dir.path() + "/big.git";
  MakeBomb(big, {{"blob", std::string(3 << 20, '\0')}}, 2, 2);  // 4 copies of 3 MiB
  const std::string deep = dir.path() + "/deep.git";
  MakeBomb(deep, {{"f", "f"}}, 1, 200);
  struct Case {
    std::string repo;
    void (*tighten)(ovvoc::agent::git::CloneLimits&);
    const char* says;
  };
  for (const Case& c : std::vector<Case>{
           {big, [](auto& l) { l.max_file_bytes = 1 << 20; }, "the limit for one file is 1 MiB"},
           {big, [](auto& l) { l.max_checkout_bytes = 10 << 20; }, "more than 10 MiB"},
           {big, [](auto& l) { l.max_fetch_bytes = 1000; }, "the most a clone may fetch"},
           {deep, [](auto&) {}, "nest deeper than 128"}}) {
    INFO(c.says);
    const std::string destination = dir.path() + "/clone";
    CloneOptions options = Options("file://" + c.repo, destination);
    c.tighten(options.limits);
    absl::StatusOr<CloneResult> result = Clone(options);
    CHECK(absl::IsResourceExhausted(result.status()));
    CHECK_THAT(std::string(result.status().message()), Catch::Contains(c.says));
    CHECK(IsAbsentOrEmpty(destination));
  }
  // Within its limits the same repository clones.
  CloneOptions fine = Options(big, dir.path() + "/fine");
  CHECK(Clone(fine).ok());
}

// Adds `count` branches ("b0"...) or lightweight tags ("t0"...) at HEAD of the bare repo.
void AddRefs(const std::string& path, const std::string& prefix, int count) {
  git_repository* repo = nullptr;
  REQUIRE(git_repository_open(&repo, path.c_str()) == 0);
  git_object* head = nullptr;
  REQUIRE(git_revparse_single(&head, repo, "HEAD") == 0);
  for (int i = 0; i < count; ++i) {
    const std::string name = prefix + std::to_string(i);
    git_oid oid;
    git_reference* ref = nullptr;
    if (prefix == "t") {
      REQUIRE(git_tag_create_lightweight(&oid, repo, name.c_str(), head, 0) == 0);
    } else {
      REQUIRE(git_reference_create(&ref, repo, ("refs/heads/" + name).c_str(), git_object_id(head),
                                   0, nullptr) == 0);
      git_reference_free(ref);
    }
  }
  git_object_free(head);
  git_repository_free(repo);
}

// Regression (red team): a repository with 100,000 tags wrote 100,000 ref files (400 MB) into
// the clone on the host's disk, past the job's timeout.
TEST_CASE("A clone fetches one branch and no tags, and bounds the refs it writes") {
  TempDir dir;
  const std::string repo = dir.path() + "/refs.git";
  MakeBomb(repo, {{"package.json", "{}"}}, 1, 1);
  AddRefs(repo, "t", 50);
  AddRefs(repo, "b", 50);
  const std::string destination = dir.path() + "/clone";
  absl::StatusOr<CloneResult> cloned = Clone(Options("file://" + repo, destination));
  INFO(cloned.status().ToString());
  REQUIRE(cloned.ok());
  CHECK(cloned->branch == "main");
  CHECK(IsAbsentOrEmpty(destination + "/.git/refs/tags"));
  std::vector<std::string> remote_refs;
  for (const auto& entry : fs::directory_iterator(destination + "/.git/refs/remotes/origin")) {
    remote_refs.push_back(entry.path().filename().string());
  }
  CHECK(remote_refs == std::vector<std::string>{"main"});
  CloneOptions none = Options("file://" + repo, dir.path() + "/none");
  none.limits.max_refs = 0;
  absl::StatusOr<CloneResult> refused = Clone(none);
  CHECK(absl::IsResourceExhausted(refused.status()));
  CHECK_THAT(std::string(refused.status().message()), Catch::Contains("more than 0 branches"));
  CHECK(IsAbsentOrEmpty(dir.path() + "/none"));
}

TEST_CASE("A clone past the job's deadline is DeadlineExceeded") {
  Forge forge;
  const std::string destination = forge.Destination("clone");
  CloneOptions options = Options(forge.repo, destination);
  options.deadline = absl::Now() - absl::Seconds(1);
  CHECK(absl::IsDeadlineExceeded(Clone(options).status()));
  CHECK(IsAbsentOrEmpty(destination));
}

TEST_CASE("An empty repository clones with no head commit") {
  TempDir dir;
  std::string repo = dir.path() + "/empty.git";
  REQUIRE(ovvoc::testing::InitBareRepo(repo).ok());
  absl::StatusOr<CloneResult> result = Clone(Options("file://" + repo, dir.path() + "/clone"));
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  CHECK(result->head_commit.empty());
}

TEST_CASE("The host's git configuration does not change a clone") {
  Forge forge;
  // libgit2 reads HOME when first initialised; under ctest each test case is its own process.
  std::string home = forge.dir.path() + "/home";
  WriteFile(home + "/.gitconfig",
            "[core]\n\tautocrlf = true\n[url \"file:///nonexistent/\"]\n"
            "\tinsteadOf = file://\n");
  std::string old_home = std::getenv("HOME") ? std::getenv("HOME") : "";
  ::setenv("HOME", home.c_str(), 1);
  ::setenv("XDG_CONFIG_HOME", home.c_str(), 1);
  absl::StatusOr<CloneResult> result =
      Clone(Options("file://" + forge.repo, forge.Destination("clone")));
  ::setenv("HOME", old_home.c_str(), 1);
  ::unsetenv("XDG_CONFIG_HOME");
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  CHECK(ReadFile(forge.Destination("clone") + "/src/index.js") == "module.exports = 42;\n");
}

TEST_CASE("A server that does not answer is Unavailable") {
  ServedForge forge;
  std::string url = forge.Url();
  forge.server.Stop();
  absl::StatusOr<CloneResult> result = Clone(WithToken(Options(url, forge.Destination("clone"))));
  INFO(result.status().ToString());
  CHECK(result.status().code() == absl::StatusCode::kUnavailable);
}

TEST_CASE("GitHttpServer takes an authenticated push, large bodies included") {
  ServedForge forge;
  std::string source = forge.dir.path() + "/big";
  std::mt19937 random(7);
  std::string noise(3 << 20, '\0');
  for (char& c : noise) c = static_cast<char>(random());
  WriteFile(source + "/blob.bin", noise);
  std::string authed_url = "http://x-access-token:" + std::string(kToken) +
                           "@127.0.0.1:" + std::to_string(forge.server.port()) +
                           "/acme/widgets.git";
  absl::StatusOr<std::string> pushed =
      ovvoc::testing::PushDirAsBranch(source, authed_url, "pushed");
  INFO(pushed.status().ToString());
  REQUIRE(pushed.ok());
  CHECK(forge.server.authenticated_requests() > 0);

  CloneOptions options = WithToken(Options(forge.Url(), forge.Destination("clone")));
  options.branch = "pushed";
  absl::StatusOr<CloneResult> result = Clone(options);
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  CHECK(result->head_commit == *pushed);
  CHECK(ReadFile(forge.Destination("clone") + "/blob.bin") == noise);
}

TEST_CASE("GitHttpServer refuses an anonymous push") {
  ServedForge forge;
  forge.server.set_require_auth(false);
  std::string source = forge.dir.path() + "/anon";
  WriteFile(source + "/x.txt", "x\n");
  CHECK_FALSE(ovvoc::testing::PushDirAsBranch(source, forge.Url(), "anon").ok());
  // Reading stays open without credentials.
  absl::StatusOr<CloneResult> result = Clone(Options(forge.Url(), forge.Destination("clone")));
  INFO(result.status().ToString());
  CHECK(result.ok());
}

}  // namespace
