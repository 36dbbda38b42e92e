// Pieces of ReadProject (agent/npm/project.h) that live in their own files.
#ifndef OVVOC_AGENT_NPM_INTERNAL_PROJECT_PARTS_H_
#define OVVOC_AGENT_NPM_INTERNAL_PROJECT_PARTS_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "agent/npm/project.h"

namespace ovvoc::agent::npm::internal {

// @npmcli/map-workspaces: the member directories (relative, "packages/a") that `patterns`
// select under `root`, in npm's order: `*`, `**`, `?`, `[...]`, `{a,b}`, literal paths and
// `!negations`; dot directories only when named; never node_modules; only directories holding
// a regular package.json; no symlink followed.
std::vector<std::string> ExpandWorkspaces(const std::string& root,
                                          const std::vector<std::string>& patterns,
                                          std::vector<ProjectDiagnostic>& diagnostics);

// minimatch(path, pattern) for '/'-separated relative paths, as map-workspaces uses it.
bool MatchWorkspacePattern(absl::string_view path, absl::string_view pattern);

}  // namespace ovvoc::agent::npm::internal

#endif  // OVVOC_AGENT_NPM_INTERNAL_PROJECT_PARTS_H_
