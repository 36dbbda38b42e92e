// Which npm a project's jobs run, so that regenerating its lockfile changes nothing but the
// update: npm 11 (the image's default) reads and keeps lockfileVersion 2 and 3, but rewrites a
// v1 lockfile as v3; a `packageManager` pin says which npm the project's own people run. The
// job images carry npm 6, 8 and 10 beside it (deploy/image/build.sh; image.json lists them).
#ifndef OVVOC_AGENT_NPM_NPM_CHOICE_H_
#define OVVOC_AGENT_NPM_NPM_CHOICE_H_

#include <map>
#include <string>

#include "absl/strings/string_view.h"
#include "agent/npm/project.h"

namespace ovvoc::agent::npm {

struct NpmChoice {
  int major = 0;        // of `available`; 0: the image's default npm
  std::string version;  // what runs: "6.14.18", or the default's
  std::string source;   // "packageManager", "lockfileVersion 1", "default"
  std::string reason;   // one line for the result
};

// `default_npm`: the image's own npm ("11.21.2"); `available`: the other npms it carries, by
// major ("6" -> "6.14.18"). A `packageManager` of npm names the major (6; 7 and 8 -> 8; 9 and
// 10 -> 10; later: the default), else a lockfileVersion 1 lockfile gets npm 6, else the
// default runs. A major the image lacks is the default, and the reason says so.
NpmChoice ChooseNpm(const Project& project, absl::string_view default_npm,
                    const std::map<int, std::string>& available);

}  // namespace ovvoc::agent::npm

#endif  // OVVOC_AGENT_NPM_NPM_CHOICE_H_
