// Whether a project's `npm test` needs a browser or a display (karma, puppeteer, playwright...),
// which the sandbox does not have, and whether the project has a test script that runs in node
// alone: the line of `.ovvoc.yml` that would make its jobs prove something. Else whether its
// `pretest` or `posttest` needs the network (`npm audit`, `npx pkg@version`, curl), which tests
// never have: then `npm test --ignore-scripts` runs the tests alone. Read from the manifest's
// scripts only; nothing runs.
#ifndef OVVOC_AGENT_NPM_TEST_ADVICE_H_
#define OVVOC_AGENT_NPM_TEST_ADVICE_H_

#include <map>
#include <optional>
#include <string>

namespace ovvoc::agent::npm {

struct TestAdvice {
  std::string tool;        // what needs the browser ("karma") or the network ("npm audit")
  std::string script;      // the script that runs it: "test", one `npm test` runs
                           // ("test:browser"), or its hook ("posttest")
  std::string node_script; // a script whose tests run in node alone ("test:node"); empty: none
  std::string message;     // one line for the result
  std::string suggestion;  // "test: npm run test:node"; empty when there is no node_script
};

// `scripts`: package.json's. nullopt when `npm test` needs no browser and no network that can be
// told (or there is no test script). Scripts that `npm test` runs through `npm run X`,
// `npm-run-all`, `run-s`/`run-p` are followed, a bounded number of steps.
std::optional<TestAdvice> AdviseTests(const std::map<std::string, std::string>& scripts);

}  // namespace ovvoc::agent::npm

#endif  // OVVOC_AGENT_NPM_TEST_ADVICE_H_
