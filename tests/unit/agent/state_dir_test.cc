// Red team, issue 11 (the docker backend's per-container mounts): a state dir spelled with a
// trailing slash, through a symlink or with a space leaked a mount and a loop device per job,
// since mount points were matched against mountinfo's canonical, escaped paths; a state dir that
// another user owned let that user plant a link where the agent mounts images; a job id became a
// host path unchecked.
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "absl/strings/match.h"
#include "agent/config/config.h"
#include "agent/sandbox/job_disk.h"
#include "agent/sandbox/sandbox.h"
#include "common/files.h"
#include "tests/support/temp_dir.h"

namespace ovvoc::agent {
namespace {

namespace fs = std::filesystem;

bool Mounted(const std::string& path) {
  const std::string mounts = files::ReadFile("/proc/self/mountinfo").value_or("");
  std::string escaped;
  for (char c : path) escaped += c == ' ' ? std::string("\\040") : std::string(1, c);
  return absl::StrContains(mounts, " " + escaped + " ");
}

TEST_CASE("a state dir is locked by its canonical path, whatever its spelling") {
  testing::TempDir dir;
  fs::create_directories(dir.Sub("real/state"));
  fs::create_symlink(dir.Sub("real"), dir.Sub("link"));
  for (const std::string& spelling :
       {dir.Sub("real/state/"), dir.Sub("link/state"), dir.Sub("real/./state")}) {
    INFO(spelling);
    absl::StatusOr<LockedStateDir> state = LockStateDir(spelling);
    REQUIRE(state.ok());
    CHECK(state->path == fs::canonical(dir.Sub("real/state")).string());
  }
}

TEST_CASE("a state dir another user owns, or may replace, is refused") {
  if (::geteuid() != 0) return;  // needs to give a directory away
  testing::TempDir dir;
  SECTION("owned by another user") {
    fs::create_directories(dir.Sub("state"));
    REQUIRE(::chown(dir.Sub("state").c_str(), 65534, 65534) == 0);
    absl::StatusOr<LockedStateDir> state = LockStateDir(dir.Sub("state"));
    REQUIRE(absl::IsFailedPrecondition(state.status()));
    CHECK_THAT(std::string(state.status().message()), Catch::Contains("owned by uid 65534"));
  }
  SECTION("under a directory another user may write, not sticky") {
    fs::create_directories(dir.Sub("open"));
    REQUIRE(::chmod(dir.Sub("open").c_str(), 0777) == 0);
    absl::StatusOr<LockedStateDir> state = LockStateDir(dir.Sub("open/state"));
    REQUIRE(absl::IsFailedPrecondition(state.status()));
    CHECK_THAT(std::string(state.status().message()), Catch::Contains("another user"));
  }
  SECTION("under a sticky world-writable directory, as /tmp: the agent's own dir is fine") {
    fs::create_directories(dir.Sub("sticky"));
    REQUIRE(::chmod(dir.Sub("sticky").c_str(), 01777) == 0);
    CHECK(LockStateDir(dir.Sub("sticky/state")).ok());
  }
}

TEST_CASE("mounts under a dir are found by its canonical, unescaped path") {
  if (::geteuid() != 0) return;  // mounts
  testing::TempDir dir;
  const std::string spaced = dir.Sub("with space");
  fs::create_directories(spaced + "/m");
  fs::create_symlink(spaced, dir.Sub("alias"));
  REQUIRE(::mount("tmpfs", (spaced + "/m").c_str(), "tmpfs", 0, "size=64k") == 0);
  REQUIRE(Mounted(spaced + "/m"));
  sandbox::JobDisk::UnmountAllUnder(dir.Sub("alias") + "/");
  CHECK_FALSE(Mounted(spaced + "/m"));
}

TEST_CASE("a container's name is checked before it names anything on the host") {
  for (const char* ok : {"ovvoc-job_7q5x776rqrafm39h-1", "ovvoc-job_abc-1-p2", "a.b_c-d"}) {
    INFO(ok);
    CHECK(sandbox::CheckContainerName(ok).ok());
  }
  for (const char* bad :
       {"", "ovvoc-job/../../etc-1", "..", ".hidden", "-flag", "a b", "ovvoc-\x1b[2J", "x/y"}) {
    INFO(bad);
    CHECK(absl::IsInvalidArgument(sandbox::CheckContainerName(bad)));
  }
  CHECK(absl::IsInvalidArgument(sandbox::CheckContainerName(std::string(129, 'a'))));
}

}  // namespace
}  // namespace ovvoc::agent
