#include "common/files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/string_view.h"

namespace ovvoc::files {
namespace {

namespace fs = std::filesystem;

// A scratch directory made without the code under test, removed afterwards.
class ScratchDir {
 public:
  ScratchDir() {
    std::string templ = (fs::temp_directory_path() / "ovvoc_files_test.XXXXXX").string();
    REQUIRE(::mkdtemp(templ.data()) != nullptr);
    path_ = templ;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string operator/(absl::string_view name) const { return path_ + "/" + std::string(name); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(old_); }

 private:
  mode_t old_;
};

int ModeOf(const std::string& path) {
  struct stat st;
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return static_cast<int>(st.st_mode & 07777);
}

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  return out;
}

TEST_CASE("WriteFileAtomic sets the exact mode whatever the umask", "[files]") {
  ScratchDir dir;
  for (mode_t mask : {mode_t{077}, mode_t{022}, mode_t{0}, mode_t{0777}}) {
    ScopedUmask umask(mask);
    for (int mode : {0600, 0640, 0644, 0400}) {
      INFO("umask " << std::oct << mask << " mode " << mode);
      std::string path = dir / ("f" + std::to_string(mask) + "_" + std::to_string(mode));
      REQUIRE(WriteFileAtomic(path, "secret", mode).ok());
      CHECK(ModeOf(path) == mode);
    }
  }
  // The default is 0600.
  ScopedUmask umask(022);
  REQUIRE(WriteFileAtomic(dir / "default", "x").ok());
  CHECK(ModeOf(dir / "default") == 0600);
}

TEST_CASE("WriteFileAtomic content round trips", "[files]") {
  ScratchDir dir;
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
  std::string large(3 * 1024 * 1024 + 17, 'z');  // several read buffers' worth
  for (const std::string& content : {std::string(), std::string("hello\n"), binary, large}) {
    std::string path = dir / "data";
    REQUIRE(WriteFileAtomic(path, content).ok());
    auto read = ReadFile(path);
    REQUIRE(read.ok());
    CHECK(read->size() == content.size());
    CHECK(*read == content);
  }
}

TEST_CASE("WriteFileAtomic overwrites and leaves no temporary files", "[files]") {
  ScratchDir dir;
  std::string path = dir / "state";
  REQUIRE(WriteFileAtomic(path, "a much longer first version", 0644).ok());
  REQUIRE(WriteFileAtomic(path, "second", 0600).ok());
  auto read = ReadFile(path);
  REQUIRE(read.ok());
  CHECK(*read == "second");
  CHECK(ModeOf(path) == 0600);
  CHECK(Entries(dir.path()) == std::vector<std::string>{"state"});
}

TEST_CASE("WriteFileAtomic replaces a symlink rather than writing through it", "[files]") {
  ScratchDir dir;
  std::string target = dir / "target";
  REQUIRE(WriteFileAtomic(target, "original").ok());
  std::string link = dir / "link";
  REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
  REQUIRE(WriteFileAtomic(link, "new").ok());
  CHECK(*ReadFile(target) == "original");
  CHECK(*ReadFile(link) == "new");
  CHECK_FALSE(fs::is_symlink(link));
}

TEST_CASE("WriteFileAtomic from concurrent threads never mixes contents", "[files]") {
  ScratchDir dir;
  std::string path = dir / "shared";
  // Different lengths, so an interleaving of two writers shows up as a mixed file.
  std::vector<std::string> contents;
  for (int t = 0; t < 4; ++t) contents.push_back(std::string(1000 + 3000 * t, 'a' + t));
  REQUIRE(WriteFileAtomic(path, contents[0]).ok());
  std::atomic<int> failures{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        if (!WriteFileAtomic(path, contents[t]).ok()) ++failures;
      }
    });
  }
  std::atomic<int> mixed{0};
  std::thread reader([&] {
    while (!done) {
      auto read = ReadFile(path);
      if (!read.ok() || std::find(contents.begin(), contents.end(), *read) == contents.end()) {
        ++mixed;
      }
    }
  });
  for (auto& w : writers) w.join();
  done = true;
  reader.join();
  CHECK(failures == 0);
  CHECK(mixed == 0);
  auto final_content = ReadFile(path);
  REQUIRE(final_content.ok());
  CHECK(std::find(contents.begin(), contents.end(), *final_content) != contents.end());
  CHECK(Entries(dir.path()) == std::vector<std::string>{"shared"});
}

TEST_CASE("WriteFileAtomic and ReadFile report missing directories", "[files]") {
  ScratchDir dir;
  auto s = WriteFileAtomic(dir / "missing/file", "x");
  CHECK(s.code() == absl::StatusCode::kNotFound);
  CHECK(ReadFile(dir / "nope").status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("EnsureDir creates parents and forces the mode", "[files]") {
  ScratchDir dir;
  {
    ScopedUmask umask(077);
    std::string nested = dir / "a/b/c";
    REQUIRE(EnsureDir(nested, 0750).ok());
    CHECK(fs::is_directory(nested));
    CHECK(ModeOf(nested) == 0750);
    CHECK(ModeOf(dir / "a/b") == 0750);
    CHECK(ModeOf(dir / "a") == 0750);
  }
  {
    ScopedUmask umask(022);
    REQUIRE(EnsureDir(dir / "d").ok());
    CHECK(ModeOf(dir / "d") == 0700);
    // An existing directory is narrowed to the requested mode.
    REQUIRE(::chmod((dir / "d").c_str(), 0777) == 0);
    REQUIRE(EnsureDir(dir / "d", 0700).ok());
    CHECK(ModeOf(dir / "d") == 0700);
  }
  // A file in the way is an error, not silently accepted.
  REQUIRE(WriteFileAtomic(dir / "file", "x").ok());
  CHECK_FALSE(EnsureDir(dir / "file").ok());
  CHECK_FALSE(EnsureDir("").ok());
}

TEST_CASE("RemoveTree removes a tree and does not follow symlinks", "[files]") {
  ScratchDir dir;
  std::string outside = dir / "outside";
  REQUIRE(EnsureDir(outside).ok());
  REQUIRE(WriteFileAtomic(outside + "/precious", "keep me").ok());

  std::string tree = dir / "tree";
  REQUIRE(EnsureDir(tree + "/sub/deeper").ok());
  REQUIRE(WriteFileAtomic(tree + "/sub/deeper/f", "x").ok());
  REQUIRE(WriteFileAtomic(tree + "/g", "y").ok());
  REQUIRE(::symlink(outside.c_str(), (tree + "/link_to_outside").c_str()) == 0);
  REQUIRE(::symlink((outside + "/precious").c_str(), (tree + "/sub/link_to_file").c_str()) == 0);

  REQUIRE(RemoveTree(tree).ok());
  CHECK_FALSE(Exists(tree));
  CHECK(Exists(outside + "/precious"));
  CHECK(*ReadFile(outside + "/precious") == "keep me");

  // A symlink given as the root is removed itself; its target stays.
  std::string root_link = dir / "root_link";
  REQUIRE(::symlink(outside.c_str(), root_link.c_str()) == 0);
  REQUIRE(RemoveTree(root_link).ok());
  CHECK_FALSE(Exists(root_link));
  CHECK(Exists(outside + "/precious"));

  // Missing is fine.
  CHECK(RemoveTree(dir / "never_existed").ok());
}

TEST_CASE("Exists does not follow symlinks", "[files]") {
  ScratchDir dir;
  std::string dangling = dir / "dangling";
  REQUIRE(::symlink((dir / "nothing").c_str(), dangling.c_str()) == 0);
  CHECK(Exists(dangling));
  CHECK_FALSE(Exists(dir / "nothing"));
}

TEST_CASE("MakeTempDir makes fresh private directories", "[files]") {
  ScratchDir dir;
  ScopedUmask umask(022);
  auto a = MakeTempDir(dir.path(), "work-");
  auto b = MakeTempDir(dir.path(), "work-");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(*a != *b);
  CHECK(a->rfind(dir / "work-", 0) == 0);
  CHECK(fs::is_directory(*a));
  CHECK(ModeOf(*a) == 0700);
  CHECK(ModeOf(*b) == 0700);
  CHECK_FALSE(MakeTempDir(dir / "missing", "x").ok());
  // Exactly 0700 even when the umask would take more away.
  ScopedUmask strict(0177);
  auto c = MakeTempDir(dir.path(), "strict-");
  REQUIRE(c.ok());
  CHECK(ModeOf(*c) == 0700);
}

}  // namespace
}  // namespace ovvoc::files
