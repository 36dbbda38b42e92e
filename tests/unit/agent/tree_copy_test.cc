#include "agent/workspace/tree_copy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/support/temp_dir.h"

namespace ovvoc::agent {
namespace {

namespace fs = std::filesystem;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST_CASE("a node_modules is copied as data: files, directories, links as links, modes, times") {
  testing::TempDir dir;
  fs::create_directories(dir.Sub("tree/node_modules/a/lib"));
  fs::create_directories(dir.Sub("tree/node_modules/.bin"));
  fs::create_directories(dir.Sub("out"));
  std::ofstream(dir.Sub("tree/node_modules/a/package.json")) << R"({"name":"a"})";
  std::ofstream(dir.Sub("tree/node_modules/a/lib/cli.js")) << "#!/usr/bin/env node\n";
  ::chmod(dir.Sub("tree/node_modules/a/lib/cli.js").c_str(), 04755);  // set-uid: dropped
  fs::create_symlink("../a/lib/cli.js", dir.Sub("tree/node_modules/.bin/a"));
  fs::create_symlink("/etc/passwd", dir.Sub("tree/node_modules/a/host"));  // copied, not read
  REQUIRE(::mkfifo(dir.Sub("tree/node_modules/a/fifo").c_str(), 0644) == 0);
  std::ofstream(dir.Sub("tree/node_modules/.package-lock.json")) << "{}";
  std::ofstream(dir.Sub("tree/node_modules/a/.package-lock.json")) << "mine";  // not npm's
  const struct timespec old_times[2] = {{1'000'000, 0}, {1'000'000, 0}};
  REQUIRE(::utimensat(AT_FDCWD, dir.Sub("tree/node_modules/a/package.json").c_str(), old_times,
                      0) == 0);

  TreeCopyOptions options;
  options.uid = ::geteuid();
  options.gid = ::getegid();
  options.skip_names = {".package-lock.json"};
  absl::StatusOr<TreeCopyStats> copied =
      CopyTreeBeneath(dir.Sub("tree"), "node_modules", dir.Sub("out"), "node_modules", options);
  REQUIRE(copied.ok());
  CHECK(copied->files == 3);
  CHECK(copied->links == 2);
  CHECK(copied->dirs == 3);
  CHECK(copied->skipped == 2);  // the FIFO and npm's hidden lockfile
  CHECK(Read(dir.Sub("out/node_modules/a/package.json")) == R"({"name":"a"})");
  CHECK(Read(dir.Sub("out/node_modules/a/.package-lock.json")) == "mine");
  CHECK_FALSE(fs::exists(dir.Sub("out/node_modules/.package-lock.json")));
  CHECK_FALSE(fs::exists(fs::symlink_status(dir.Sub("out/node_modules/a/fifo"))));
  CHECK(fs::read_symlink(dir.Sub("out/node_modules/.bin/a")) == "../a/lib/cli.js");
  CHECK(fs::read_symlink(dir.Sub("out/node_modules/a/host")) == "/etc/passwd");
  struct stat st;
  REQUIRE(::stat(dir.Sub("out/node_modules/a/lib/cli.js").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0755);
  REQUIRE(::stat(dir.Sub("out/node_modules/a/package.json").c_str(), &st) == 0);
  CHECK(st.st_mtim.tv_sec == 1'000'000);
}

TEST_CASE("a copy is made for another owner, and leaves out the paths it is told to") {
  testing::TempDir dir;
  fs::create_directories(dir.Sub("kept/node_modules/a/node_modules/b"));
  fs::create_directories(dir.Sub("kept/node_modules/c"));
  fs::create_directories(dir.Sub("tree"));
  std::ofstream(dir.Sub("kept/node_modules/a/index.js")) << "old a";
  std::ofstream(dir.Sub("kept/node_modules/c/index.js")) << "c";
  TreeCopyOptions options;
  options.uid = 4242;
  options.gid = 4343;
  options.skip_paths = {"node_modules/a"};
  absl::StatusOr<TreeCopyStats> copied =
      CopyTreeBeneath(dir.Sub("kept"), "node_modules", dir.Sub("tree"), "node_modules", options);
  REQUIRE(copied.ok());
  CHECK_FALSE(fs::exists(dir.Sub("tree/node_modules/a")));
  CHECK(Read(dir.Sub("tree/node_modules/c/index.js")) == "c");
  struct stat st;
  for (const char* path :
       {"tree/node_modules", "tree/node_modules/c", "tree/node_modules/c/index.js"}) {
    REQUIRE(::lstat(dir.Sub(path).c_str(), &st) == 0);
    CHECK(st.st_uid == 4242);
    CHECK(st.st_gid == 4343);
  }
}

TEST_CASE("neither side is reached through a symlink, and nothing is copied over") {
  testing::TempDir dir;
  fs::create_directories(dir.Sub("host/node_modules"));
  std::ofstream(dir.Sub("host/node_modules/secret")) << "host secret";
  fs::create_directories(dir.Sub("tree/packages"));
  fs::create_directories(dir.Sub("out"));
  // A node_modules that is a link to a host directory, and a repository's directory that is one.
  fs::create_directory_symlink(dir.Sub("host/node_modules"), dir.Sub("tree/node_modules"));
  fs::create_directory_symlink(dir.Sub("host"), dir.Sub("tree/packages/w"));
  absl::StatusOr<TreeCopyStats> copied =
      CopyTreeBeneath(dir.Sub("tree"), "node_modules", dir.Sub("out"), "node_modules");
  CHECK(absl::IsPermissionDenied(copied.status()));
  CHECK(absl::IsPermissionDenied(
      CopyTreeBeneath(dir.Sub("tree"), "packages/w/node_modules", dir.Sub("out"), "x").status()));
  CHECK_FALSE(fs::exists(dir.Sub("out/node_modules")));

  // Into a tree whose packages/w is a link out: refused, nothing written where it points.
  fs::create_directories(dir.Sub("kept/packages/w/node_modules/a"));
  copied = CopyTreeBeneath(dir.Sub("kept"), "packages/w/node_modules", dir.Sub("tree"),
                           "packages/w/node_modules");
  CHECK(absl::IsPermissionDenied(copied.status()));
  CHECK_FALSE(fs::exists(dir.Sub("host/node_modules/a")));
  // Onto what exists: refused.
  fs::create_directories(dir.Sub("out/node_modules"));
  CHECK(absl::IsAlreadyExists(
      CopyTreeBeneath(dir.Sub("host"), "node_modules", dir.Sub("out"), "node_modules").status()));
  CHECK(absl::IsInvalidArgument(
      CopyTreeBeneath(dir.Sub("host"), "/node_modules", dir.Sub("out"), "y").status()));
}

TEST_CASE("a copy stops at its bounds: bytes (hard links count per name), names, depth") {
  testing::TempDir dir;
  fs::create_directories(dir.Sub("tree/node_modules/a"));
  fs::create_directories(dir.Sub("out"));
  std::ofstream(dir.Sub("tree/node_modules/a/big")) << std::string(4096, 'x');
  for (int i = 0; i < 8; ++i) {
    fs::create_hard_link(dir.Sub("tree/node_modules/a/big"),
                         dir.Sub("tree/node_modules/a/link" + std::to_string(i)));
  }
  TreeCopyOptions options;
  options.max_bytes = 16 * 1024;  // 9 names of 4 KiB: over
  CHECK(absl::IsResourceExhausted(
      CopyTreeBeneath(dir.Sub("tree"), "node_modules", dir.Sub("out"), "n1", options).status()));
  options = {};
  options.max_entries = 5;
  CHECK(absl::IsResourceExhausted(
      CopyTreeBeneath(dir.Sub("tree"), "node_modules", dir.Sub("out"), "n2", options).status()));
  std::string deep = dir.Sub("tree/deep");
  for (int i = 0; i < 10; ++i) deep += "/d";
  fs::create_directories(deep);
  options = {};
  options.max_depth = 5;
  CHECK(absl::IsResourceExhausted(
      CopyTreeBeneath(dir.Sub("tree"), "deep", dir.Sub("out"), "n3", options).status()));
  options.max_depth = 11;
  CHECK(CopyTreeBeneath(dir.Sub("tree"), "deep", dir.Sub("out"), "n4", options).ok());
}

TEST_CASE("a sparse file's holes stay holes, and only its data counts") {
  testing::TempDir dir;
  fs::create_directories(dir.Sub("tree/node_modules/a"));
  fs::create_directories(dir.Sub("out"));
  {
    std::ofstream sparse(dir.Sub("tree/node_modules/a/sparse"));
    sparse << "head";
  }
  fs::resize_file(dir.Sub("tree/node_modules/a/sparse"), 1ull << 30);  // 1 GiB, 4 bytes of data
  {
    std::fstream tail(dir.Sub("tree/node_modules/a/sparse"), std::ios::in | std::ios::out);
    tail.seekp((1 << 30) - 4);
    tail << "tail";
  }
  TreeCopyOptions options;
  options.max_bytes = 1 << 20;
  absl::StatusOr<TreeCopyStats> copied =
      CopyTreeBeneath(dir.Sub("tree"), "node_modules", dir.Sub("out"), "node_modules", options);
  REQUIRE(copied.ok());
  CHECK(copied->bytes < (1 << 20));
  struct stat st;
  REQUIRE(::stat(dir.Sub("out/node_modules/a/sparse").c_str(), &st) == 0);
  CHECK(st.st_size == (1 << 30));
  CHECK(st.st_blocks * 512 < (1 << 20));
  std::ifstream in(dir.Sub("out/node_modules/a/sparse"));
  std::string head(4, '\0'), tail(4, '\0');
  in.read(head.data(), 4);
  in.seekg((1 << 30) - 4);
  in.read(tail.data(), 4);
  CHECK(head == "head");
  CHECK(tail == "tail");
}

}  // namespace
}  // namespace ovvoc::agent
