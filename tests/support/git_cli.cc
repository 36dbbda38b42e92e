#include "tests/support/git_cli.h"

#include <cstdlib>
#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/support/subprocess.h"

namespace ovvoc::testing {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> GitEnvironment() {
  const char* path = std::getenv("PATH");
  return {
      absl::StrCat("PATH=", path ? path : "/usr/bin:/bin"),
      "HOME=/nonexistent",
      "LC_ALL=C",
      "GIT_CONFIG_NOSYSTEM=1",
      "GIT_CONFIG_GLOBAL=/dev/null",
      "GIT_TERMINAL_PROMPT=0",
      "GIT_AUTHOR_NAME=Ovvoc Fixture",
      "GIT_AUTHOR_EMAIL=fixture@ovvoc.invalid",
      "GIT_AUTHOR_DATE=2024-01-01T00:00:00+0000",
      "GIT_COMMITTER_NAME=Ovvoc Fixture",
      "GIT_COMMITTER_EMAIL=fixture@ovvoc.invalid",
      "GIT_COMMITTER_DATE=2024-01-01T00:00:00+0000",
  };
}

// A scratch directory removed when it goes out of scope.
class ScratchDir {
 public:
  static absl::StatusOr<ScratchDir> Create() {
    std::error_code error;
    fs::path base = fs::temp_directory_path(error);
    if (error) base = "/tmp";
    std::string pattern = (base / "ovvoc-git-fixture-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return absl::InternalError(absl::StrCat("mkdtemp ", pattern, " failed"));
    }
    return ScratchDir(pattern);
  }
  ScratchDir(ScratchDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  ScratchDir& operator=(ScratchDir&&) = delete;
  ~ScratchDir() {
    std::error_code ignored;
    if (!path_.empty()) fs::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  explicit ScratchDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

absl::Status CopyTree(const std::string& from, const std::string& to) {
  std::error_code error;
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::copy_symlinks, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("cannot copy ", from, " to ", to, ": ", error.message()));
  }
  fs::remove_all(fs::path(to) / ".git", error);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> RunGit(const std::vector<std::string>& args, const std::string& cwd) {
  ProcessSpec spec;
  spec.argv = {"git"};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.env = GitEnvironment();
  spec.cwd = cwd;
  absl::StatusOr<ProcessResult> result = RunProcess(spec);
  if (!result.ok()) return result.status();
  if (result->exit_code != 0) {
    return absl::InternalError(absl::StrCat("git ", absl::StrJoin(args, " "), " exited with ",
                                            result->exit_code, ": ", result->stderr_data));
  }
  return std::move(result->stdout_data);
}

absl::Status InitBareRepo(const std::string& bare_path, const std::string& initial_branch) {
  std::error_code error;
  fs::create_directories(bare_path, error);
  if (error) return absl::InternalError(absl::StrCat("cannot create ", bare_path));
  return RunGit({"init", "--quiet", "--bare", absl::StrCat("--initial-branch=", initial_branch),
                 bare_path})
      .status();
}

absl::StatusOr<std::string> PushDirAsBranch(const std::string& source_dir,
                                            const std::string& remote, const std::string& branch) {
  absl::StatusOr<ScratchDir> scratch = ScratchDir::Create();
  if (!scratch.ok()) return scratch.status();
  std::string work = scratch->path() + "/work";
  if (absl::Status status = CopyTree(source_dir, work); !status.ok()) return status;
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"init", "--quiet", absl::StrCat("--initial-branch=", branch)},
           {"add", "--all"},
           {"commit", "--quiet", "--message", "fixture"},
           {"push", "--quiet", remote, absl::StrCat("HEAD:refs/heads/", branch)}}) {
    if (absl::StatusOr<std::string> out = RunGit(args, work); !out.ok()) return out.status();
  }
  absl::StatusOr<std::string> head = RunGit({"rev-parse", "HEAD"}, work);
  if (!head.ok()) return head.status();
  return std::string(absl::StripAsciiWhitespace(*head));
}

}  // namespace ovvoc::testing
