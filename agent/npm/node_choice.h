// Which node major a project's jobs run on, from what the project says, in this order (the
// first that names a supported major wins; each source is recorded either way):
//   1. `node:` in .ovvoc.yml (the caller passes it as `configured`);
//   2. .nvmrc, 3. .node-version, 4. .tool-versions (`nodejs` or `node`),
//   5. package.json `volta.node`, 6. `devEngines.runtime` (name "node"),
//   7. the node versions its CI workflows test (.github/workflows/*.yml: `node-version` keys,
//      matrices included; the newest supported one),
//   8. `engines.node` (the newest supported major it allows);
//   9. otherwise the default (the newest supported major).
// A version may be "20", "v20.11.1", "20.x", a range (">=18 <23"), "lts/*", "lts/iron",
// "node" or "latest"; it names the newest supported major it allows. Files are read through
// the no-symlink reader; nothing of the project runs.
#ifndef OVVOC_AGENT_NPM_NODE_CHOICE_H_
#define OVVOC_AGENT_NPM_NODE_CHOICE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/npm/project.h"

namespace ovvoc::agent::npm {

struct NodeChoice {
  int major = 0;
  std::string source;  // ".nvmrc", "engines.node", "default", ...
  std::string reason;  // "v20.11.1 in .nvmrc"
  // Every source read and what it said, in the order above, for the result.
  std::vector<std::string> considered;
};

// The newest of `supported` that `text` allows; nullopt when none or when it is not a version
// (`today` decides what "lts/*" means: an even major is LTS from October of 2013 + major / 2).
std::optional<int> SupportedMajor(absl::string_view text, const std::vector<int>& supported,
                                  absl::Time today);

NodeChoice ChooseNode(const std::string& root, const Project& project,
                      const std::vector<int>& supported, absl::string_view configured,
                      absl::Time today);

}  // namespace ovvoc::agent::npm

#endif  // OVVOC_AGENT_NPM_NODE_CHOICE_H_
