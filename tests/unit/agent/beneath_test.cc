#include "agent/workspace/beneath.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "tests/support/temp_dir.h"

namespace ovvoc::agent {
namespace {

TEST_CASE("reads a regular file beneath the root") {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.Sub("repo/sub"));
  std::ofstream(dir.Sub("repo/sub/package.json")) << "{}";
  absl::StatusOr<std::string> text = ReadFileBeneath(dir.Sub("repo"), "sub/package.json", 100);
  REQUIRE(text.ok());
  CHECK(*text == "{}");
}

TEST_CASE("a planted symlink is not followed, wherever it sits") {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.Sub("repo"));
  std::ofstream(dir.Sub("secret")) << "host secret";
  std::filesystem::create_symlink(dir.Sub("secret"), dir.Sub("repo/package-lock.json"));
  std::filesystem::create_directory_symlink(dir.path(), dir.Sub("repo/up"));
  std::filesystem::create_symlink("../secret", dir.Sub("repo/relative"));

  for (const char* path : {"package-lock.json", "up/secret", "relative"}) {
    absl::StatusOr<std::string> text = ReadFileBeneath(dir.Sub("repo"), path, 100);
    REQUIRE(!text.ok());
    CHECK(absl::IsPermissionDenied(text.status()));
  }
  CHECK(!ReadFileBeneath(dir.Sub("repo"), "../secret", 100).ok());
  CHECK(absl::IsInvalidArgument(ReadFileBeneath(dir.Sub("repo"), "/etc/passwd", 100).status()));
}

TEST_CASE("missing, oversized and non-regular files are refused") {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.Sub("repo/adir"));
  std::ofstream(dir.Sub("repo/big")) << std::string(1000, 'x');
  REQUIRE(::mkfifo(dir.Sub("repo/fifo").c_str(), 0600) == 0);
  CHECK(absl::IsNotFound(ReadFileBeneath(dir.Sub("repo"), "nope", 100).status()));
  CHECK(absl::IsResourceExhausted(ReadFileBeneath(dir.Sub("repo"), "big", 100).status()));
  CHECK(absl::IsFailedPrecondition(ReadFileBeneath(dir.Sub("repo"), "adir", 100).status()));
  CHECK(absl::IsFailedPrecondition(ReadFileBeneath(dir.Sub("repo"), "fifo", 100).status()));
}

TEST_CASE("a file put back beneath the root replaces what stands there, never writes through it") {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.Sub("repo/dir-manifest"));
  std::ofstream(dir.Sub("host-file")) << "host";
  const uid_t uid = ::getuid();
  // Whatever an install script left at the name: a link to a host file, a file, an empty dir.
  std::filesystem::create_symlink(dir.Sub("host-file"), dir.Sub("repo/linked"));
  std::ofstream(dir.Sub("repo/plain")) << "changed";
  std::filesystem::create_directories(dir.Sub("repo/empty-dir"));
  for (const char* name : {"linked", "plain", "empty-dir", "absent"}) {
    INFO(name);
    REQUIRE(ReplaceFileBeneath(dir.Sub("repo"), name, "{\"a\":1}", uid, uid, 0644).ok());
    absl::StatusOr<std::string> text = ReadFileBeneath(dir.Sub("repo"), name, 100);
    REQUIRE(text.ok());
    CHECK(*text == "{\"a\":1}");
  }
  std::ifstream host(dir.Sub("host-file"));
  CHECK(std::string(std::istreambuf_iterator<char>(host), {}) == "host");
  // A directory with contents is not removed; a path is not a name.
  std::ofstream(dir.Sub("repo/dir-manifest/x")) << "x";
  CHECK(!ReplaceFileBeneath(dir.Sub("repo"), "dir-manifest", "{}", uid, uid, 0644).ok());
  CHECK(absl::IsInvalidArgument(
      ReplaceFileBeneath(dir.Sub("repo"), "../escape", "{}", uid, uid, 0644)));
  CHECK(CheckRegularFileBeneath(dir.Sub("repo"), "plain").ok());
  CHECK(!CheckRegularFileBeneath(dir.Sub("repo"), "dir-manifest").ok());
}

TEST_CASE("a tree is listed and put back as cloned, never through what replaced its files") {
  testing::TempDir dir;
  const uid_t uid = ::getuid();
  auto write = [](const std::string& path, const std::string& text) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << text;
  };
  write(dir.Sub("clone/test/t.js"), "original");
  write(dir.Sub("clone/lib/a.js"), "a");
  write(dir.Sub("clone/node_modules/x/index.js"), "committed dependency");
  write(dir.Sub("clone/package.json"), "{}");
  std::filesystem::create_directories(dir.Sub("clone/.git"));
  write(dir.Sub("clone/.git/HEAD"), "ref");
  std::filesystem::create_symlink("lib/a.js", dir.Sub("clone/link"));
  write(dir.Sub("host-file"), "host");
  // The work tree as an install script left it.
  write(dir.Sub("tree/test/t.js"), "fake pass");                               // rewritten
  std::filesystem::create_symlink(dir.Sub("host-file"), dir.Sub("tree/lib"));  // dir -> link
  write(dir.Sub("tree/node_modules/x/index.js"), "installed");                 // npm's: left alone
  write(dir.Sub("tree/package.json"), "changed");          // skipped: the caller's
  write(dir.Sub("tree/new-file"), "made by the install");  // not in the clone: stays
  std::filesystem::create_symlink("/etc", dir.Sub("tree/link"));
  // Listed first, with nothing changed (and nothing read through the planted links).
  absl::StatusOr<std::vector<std::string>> changed =
      ChangedBeneath(dir.Sub("clone"), dir.Sub("tree"), {"package.json"});
  REQUIRE(changed.ok());
  std::sort(changed->begin(), changed->end());
  CHECK(*changed == std::vector<std::string>{"lib/a.js", "link", "test/t.js"});
  CHECK(std::filesystem::is_symlink(std::filesystem::symlink_status(dir.Sub("tree/lib"))));
  CHECK(std::filesystem::read_symlink(dir.Sub("tree/link")) == "/etc");
  absl::StatusOr<std::vector<std::string>> restored =
      RestoreTreeBeneath(dir.Sub("clone"), dir.Sub("tree"), uid, uid, {"package.json"});
  REQUIRE(restored.ok());
  std::sort(restored->begin(), restored->end());
  CHECK(*restored == std::vector<std::string>{"lib/a.js", "link", "test/t.js"});
  auto read = [](const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  CHECK(read(dir.Sub("tree/test/t.js")) == "original");
  CHECK(std::filesystem::is_directory(std::filesystem::symlink_status(dir.Sub("tree/lib"))));
  CHECK(read(dir.Sub("tree/lib/a.js")) == "a");
  CHECK(std::filesystem::read_symlink(dir.Sub("tree/link")) == "lib/a.js");
  CHECK(read(dir.Sub("host-file")) == "host");  // never written through the planted link
  CHECK(read(dir.Sub("tree/node_modules/x/index.js")) == "installed");
  CHECK(read(dir.Sub("tree/package.json")) == "changed");
  CHECK(read(dir.Sub("tree/new-file")) == "made by the install");
  CHECK(!std::filesystem::exists(dir.Sub("tree/.git")));
  // Nothing left to put back the second time.
  restored = RestoreTreeBeneath(dir.Sub("clone"), dir.Sub("tree"), uid, uid, {"package.json"});
  REQUIRE(restored.ok());
  CHECK(restored->empty());
  changed = ChangedBeneath(dir.Sub("clone"), dir.Sub("tree"), {"package.json"});
  REQUIRE(changed.ok());
  CHECK(changed->empty());
}

TEST_CASE("what a tree holds beyond its clone is listed outside node_modules, new dirs whole") {
  testing::TempDir dir;
  auto write = [](const std::string& path, const std::string& text) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << text;
  };
  write(dir.Sub("clone/test/helper/index.js"), "");
  write(dir.Sub("clone/src/a.js"), "");
  write(dir.Sub("clone/lib"), "a file in the clone");
  write(dir.Sub("tree/test/helper/index.js"), "");
  write(dir.Sub("tree/test/helper.js"), "planted");  // node loads it first
  write(dir.Sub("tree/dist/a.js"), "");              // a new dir: one path
  write(dir.Sub("tree/dist/deep/b.js"), "");
  write(dir.Sub("tree/src/a.js"), "");
  write(dir.Sub("tree/lib/x.js"), "");                      // a file become a dir
  write(dir.Sub("tree/node_modules/x/index.js"), "");       // npm's
  write(dir.Sub("tree/test/node_modules/x/index.js"), "");  // node_modules anywhere
  write(dir.Sub("tree/.git/HEAD"), "");
  std::filesystem::create_symlink("/etc", dir.Sub("tree/src/etc"));  // listed, not followed
  AddedPaths added = AddedBeneath(dir.Sub("clone"), dir.Sub("tree"));
  CHECK(added.complete);
  CHECK(added.paths == std::vector<std::string>{"dist", "dist/a.js", "dist/deep", "dist/deep/b.js",
                                                "src/etc", "test/helper.js"});
  added = AddedBeneath(dir.Sub("clone"), dir.Sub("tree"), 2);
  CHECK_FALSE(added.complete);
  CHECK(added.paths.size() == 2);
  std::string deep = dir.Sub("tree/src");
  std::string deep_clone = dir.Sub("clone/src");
  for (int i = 0; i < 140; ++i) {
    deep += "/d";
    deep_clone += "/d";
  }
  std::filesystem::create_directories(deep);
  std::filesystem::create_directories(deep_clone);
  CHECK_FALSE(AddedBeneath(dir.Sub("clone"), dir.Sub("tree")).complete);
}

}  // namespace
}  // namespace ovvoc::agent
