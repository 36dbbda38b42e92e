// The Docker backend's image parts (PrepareDockerImage), from a tiny image tar of the test's own.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

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

TEST_CASE("the docker frame is the image without /usr's contents, and a changed frame is refused") {
  testing::TempDir dir;
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
  const std::string digest = "sha256:" + *hex;

  absl::StatusOr<DockerImageParts> parts = PrepareDockerImage(config, digest, dir.Sub("state"));
  REQUIRE(parts.ok());
  const std::string listing = Listing(parts->frame_tar);
  CHECK(absl::StrContains(listing, "./etc/passwd"));
  CHECK(absl::StrContains(listing, "./bin"));
  CHECK(absl::StrContains(listing, "./usr/"));
  CHECK_FALSE(absl::StrContains(listing, "./usr/bin"));
  CHECK(fs::exists(parts->rootfs_image));
  // The tree went once the ext4 image was made.
  CHECK_FALSE(fs::exists(absl::StrCat(dir.Sub("state"), "/images/", *hex, "/rootfs")));
  absl::StatusOr<DockerImageParts> again = PrepareDockerImage(config, digest, dir.Sub("state"));
  REQUIRE(again.ok());
  CHECK(again->frame_digest == parts->frame_digest);

  // A frame changed on disk is not the one the agent made.
  std::ofstream(parts->frame_tar, std::ios::app) << "appended";
  absl::StatusOr<DockerImageParts> changed = PrepareDockerImage(config, digest, dir.Sub("state"));
  REQUIRE_FALSE(changed.ok());
  CHECK(absl::IsDataLoss(changed.status()));
  CHECK(absl::StrContains(changed.status().message(), "not the one the agent made"));
}

}  // namespace
}  // namespace ovvoc::agent::sandbox
