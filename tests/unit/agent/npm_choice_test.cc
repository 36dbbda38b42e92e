// Which npm a project's jobs run (agent/npm/npm_choice.h).
#include "agent/npm/npm_choice.h"

#include <catch2/catch.hpp>

#include "absl/strings/match.h"

namespace ovvoc::agent::npm {
namespace {

const std::map<int, std::string> kImage = {{6, "6.14.18"}, {8, "8.19.4"}, {10, "10.9.9"}};

Project With(const std::string& package_manager, int lockfile_version) {
  Project project;
  project.root.package_manager = package_manager;
  if (lockfile_version > 0) {
    project.lockfile = Lockfile{"package-lock.json", lockfile_version, {}};
  }
  return project;
}

TEST_CASE("ChooseNpm: packageManager, then a v1 lockfile, else the image's npm", "[npm_choice]") {
  NpmChoice choice = ChooseNpm(With("", 3), "11.21.2", kImage);
  CHECK(choice.major == 0);
  CHECK(choice.version == "11.21.2");
  CHECK(choice.source == "default");

  choice = ChooseNpm(With("", 2), "11.21.2", kImage);  // npm 11 keeps v2
  CHECK(choice.major == 0);

  choice = ChooseNpm(With("", 1), "11.21.2", kImage);
  CHECK(choice.major == 6);
  CHECK(choice.version == "6.14.18");
  CHECK(choice.source == "lockfileVersion 1");
  CHECK(absl::StrContains(choice.reason, "would rewrite as version 3"));

  for (const auto& [pin, major] : std::vector<std::pair<std::string, int>>{
           {"npm@6.14.4", 6}, {"npm@7.24.0", 8}, {"npm@8.19.4", 8}, {"npm@9.9.3", 10},
           {"npm@10.2.4+sha512.abc", 10}, {"npm@11.0.0", 0}, {"npm@12.1.0", 0}}) {
    INFO(pin);
    choice = ChooseNpm(With(pin, 1), "11.21.2", kImage);  // the pin wins over the lockfile
    CHECK(choice.major == major);
    CHECK(choice.source == "packageManager");
  }
}

TEST_CASE("ChooseNpm: what the image lacks, or another manager, is the default", "[npm_choice]") {
  NpmChoice choice = ChooseNpm(With("npm@8.1.0", 0), "11.21.2", {{6, "6.14.18"}});
  CHECK(choice.major == 0);
  CHECK(choice.version == "11.21.2");
  CHECK(absl::StrContains(choice.reason, "the image has no npm 8"));
  // yarn and pnpm are not npm: the lockfile decides.
  CHECK(ChooseNpm(With("yarn@1.22.19", 1), "11.21.2", kImage).major == 6);
  CHECK(ChooseNpm(With("pnpm@9.0.0", 3), "11.21.2", kImage).major == 0);
  // A pin that is not a version is not a pin.
  CHECK(ChooseNpm(With("npm@latest", 3), "11.21.2", kImage).major == 0);
  // Hostile text is inert in the reason.
  choice = ChooseNpm(With("npm@8.0.0\x1b[31m", 0), "11.21.2", kImage);
  CHECK_FALSE(absl::StrContains(choice.reason, "\x1b"));
}

}  // namespace
}  // namespace ovvoc::agent::npm
