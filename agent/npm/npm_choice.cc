#include "agent/npm/npm_choice.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/inert.h"

namespace ovvoc::agent::npm {
namespace {

// The leading number of "11.21.2", "v8.1.0"; 0 when there is none.
int MajorOf(absl::string_view version) {
  absl::ConsumePrefix(&version, "v");
  int major = 0;
  return absl::SimpleAtoi(version.substr(0, version.find('.')), &major) ? major : 0;
}

}  // namespace

NpmChoice ChooseNpm(const Project& project, absl::string_view default_npm,
                    const std::map<int, std::string>& available) {
  NpmChoice choice;
  choice.version = std::string(default_npm);
  choice.source = "default";
  const int default_major = MajorOf(default_npm);
  // `major` when the image has it; else the default, saying why.
  auto pick = [&](int major, std::string source, std::string why) {
    choice.source = std::move(source);
    auto it = available.find(major);
    if (major != default_major && it != available.end()) {
      choice.major = major;
      choice.version = it->second;
      choice.reason = absl::StrCat(why, ": npm ", it->second);
    } else if (major == default_major) {
      choice.reason = absl::StrCat(why, ": the image's npm ", default_npm);
    } else {
      choice.reason = absl::StrCat(why, "; the image has no npm ", major, ": npm ", default_npm);
    }
  };
  absl::string_view manager = project.root.package_manager;
  if (absl::ConsumePrefix(&manager, "npm@")) {
    if (const int wanted = MajorOf(manager); wanted > 0) {
      // npm 7 wrote what npm 8 writes, npm 9 what npm 10 does.
      const int major = wanted <= 6 ? 6 : wanted <= 8 ? 8 : wanted <= 10 ? 10 : default_major;
      pick(major, "packageManager",
           absl::StrCat("packageManager pins npm@", InertLine(manager, 60)));
      return choice;
    }
  }
  if (project.lockfile.has_value() && project.lockfile->lockfile_version == 1 &&
      default_major > 6) {
    pick(6, "lockfileVersion 1",
         absl::StrCat(InertLine(project.lockfile->path, 40), " is lockfileVersion 1, which npm ",
                      default_major, " would rewrite as version 3"));
    return choice;
  }
  choice.reason = absl::StrCat("the image's npm ", default_npm);
  return choice;
}

}  // namespace ovvoc::agent::npm
