// The Docker backend's image parts (PrepareDockerImage), from a tiny image tar of the test's own.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/sandbox/image.h"
#include "tests/support/temp_dir.h"

namespace ovvoc::agent::sandbox {
namespace {

namespace fs = std::filesystem;

std::string Listing(const std::string& tar) {
  const std::string out = tar + ".list";
  REQUIRE(std::system(("/bin/tar -tf " + tar + " > " + out).c_str()) == 0);
  std::ifstream in(out);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A tiny image tar under `dir`/images, as deploy/image/build.sh lays one out: its config and
// digest.
std::pair<ImageConfig, std::string> TinyImage(const testing::TempDir& dir) {
  const std::string tree = dir.Sub("tree");
  fs::create_directories(tree + "/usr/bin");
  fs::create_directories(tree + "/etc");
  std::ofstream(tree + "/usr/bin/node") << "not really node";
  std::ofstream(tree + "/etc/passwd") << "root:x:0:0:root:/root:/bin/bash\n";
  fs::create_directory_symlink("usr/bin", tree + "/bin");
  const std::string tar = dir.Sub("rootfs.tar");
  REQUIRE(std::system(absl::StrCat("/bin/tar --numeric-owner -cf ", tar, " -C ", tree, " .").c_str()) == 0);
  absl::StatusOr<std::string> hex = Sha256OfFile(tar);
  REQUIRE(hex.ok());
  ImageConfig config{dir.Sub("images"), ""};
  fs::create_directories(config.image_dir + "/" + *hex);
  fs::rename(tar, absl::StrCat(config.image_dir, "/", *hex, "/rootfs.tar"));
  return {config, "sha256:" + *hex};
}

TEST_CASE("the docker frame is the image without /usr's contents, and a changed frame is refused") {
  testing::TempDir dir;
  const auto [config, digest] = TinyImage(dir);
  const std::string hex = DigestHex(digest);

  absl::StatusOr<DockerImageParts> parts = PrepareDockerImage(config, digest, dir.Sub("cache"));
  REQUIRE(parts.ok());
  const std::string listing = Listing(parts->frame_tar);
  CHECK(absl::StrContains(listing, "./etc/passwd"));
  CHECK(absl::StrContains(listing, "./bin"));
  CHECK(absl::StrContains(listing, "./usr/"));
  CHECK_FALSE(absl::StrContains(listing, "./usr/bin"));
  CHECK(fs::exists(parts->rootfs_image));
  // The tree went once the ext4 image was made.
  CHECK(fs::exists(absl::StrCat(dir.Sub("cache"), "/", hex, "/rootfs.ext4.complete")));
  CHECK_FALSE(fs::exists(absl::StrCat(dir.Sub("cache"), "/", hex, "/rootfs")));
  absl::StatusOr<DockerImageParts> again = PrepareDockerImage(config, digest, dir.Sub("cache"));
  REQUIRE(again.ok());
  CHECK(again->frame_digest == parts->frame_digest);

  // A frame changed on disk is not the one the agent made.
  std::ofstream(parts->frame_tar, std::ios::app) << "appended";
  absl::StatusOr<DockerImageParts> changed = PrepareDockerImage(config, digest, dir.Sub("cache"));
  REQUIRE_FALSE(changed.ok());
  CHECK(absl::IsDataLoss(changed.status()));
  CHECK(absl::StrContains(changed.status().message(), "not the one the agent made"));
}

TEST_CASE("agents sharing an image cache make each image once, one at a time") {
  testing::TempDir dir;
  const auto [config, digest] = TinyImage(dir);
  std::vector<absl::StatusOr<DockerImageParts>> made(4, absl::UnknownError("not run"));
  std::vector<std::thread> agents;
  for (size_t i = 0; i < made.size(); ++i) {
    agents.emplace_back([&, i] { made[i] = PrepareDockerImage(config, digest, dir.Sub("cache")); });
  }
  for (std::thread& agent : agents) agent.join();
  for (const absl::StatusOr<DockerImageParts>& parts : made) {
    REQUIRE(parts.ok());
    CHECK(parts->frame_digest == made[0]->frame_digest);
    CHECK(parts->rootfs_image == made[0]->rootfs_image);
  }
  // Had two made it at once, one would have found the other's half-made tree and frame.
  absl::StatusOr<std::string> image = PrepareRootfsImage(config, digest, dir.Sub("cache"));
  REQUIRE(image.ok());
  CHECK(*image == made[0]->rootfs_image);
  CHECK_FALSE(fs::exists(absl::StrCat(dir.Sub("cache"), "/", DigestHex(digest), "/rootfs")));
}

}  // namespace
}  // namespace ovvoc::agent::sandbox
