// Hostile git repositories, built with libgit2 as an attacker would build them: a few objects
// that expand into a huge checkout. Test support only.
#ifndef OVVOC_TESTS_SUPPORT_GIT_BOMB_H_
#define OVVOC_TESTS_SUPPORT_GIT_BOMB_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace ovvoc::testing {

// A bare repository at `path` whose main branch (HEAD) holds `files` (name -> content) at the
// bottom of `fanout`-wide directories nested `depth` deep, all sharing one subtree: fanout^depth
// copies of the files from a handful of objects.
absl::Status MakeGitBomb(const std::string& path,
                         const std::vector<std::pair<std::string, std::string>>& files, int fanout,
                         int depth);

}  // namespace ovvoc::testing

#endif  // OVVOC_TESTS_SUPPORT_GIT_BOMB_H_
