#include "agent/npm/test_advice.h"

#include <deque>
#include <set>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/inert.h"

namespace ovvoc::agent::npm {
namespace {

// Scripts followed from `npm test` (a chain or fan-out of `npm run`), at most; and the names one
// script may hand on (a glob like "test:*" names every matching script: without a bound, a
// script of 8,000 globs over 2,000 scripts held 16 million names; red team, issue 11).
constexpr int kMaxScriptsFollowed = 50;
constexpr size_t kMaxScriptBytes = 4096;
constexpr size_t kMaxScriptsNamed = 200;

// Programs that drive a browser or need a display, as they appear in a script's words.
constexpr const char* kBrowserTools[] = {
    "karma",         "puppeteer",  "playwright", "cypress",   "testcafe", "nightwatch",
    "wdio",          "web-test-runner", "wtr",   "xvfb-run",  "mocha-headless-chrome",
    "airtap",        "zuul",       "testem",     "jest-puppeteer"};

// Names of scripts that, by convention, run the node side of a suite; in order of preference.
constexpr const char* kNodeScriptNames[] = {"test:node", "test-node", "test:nodejs", "node-test",
                                            "test:unit", "test-unit", "unit",        "test:server",
                                            "test:ci",   "test:cjs",  "test:esm"};

bool IsWordChar(char c) {
  return absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '@' || c == '/' || c == '.' || c == ':';
}

// The words of a script: runs of name characters, so that "npx karma start" and
// "./node_modules/.bin/karma" both yield "karma".
std::vector<std::string> Words(const std::string& script) {
  std::vector<std::string> out;
  std::string word;
  for (char c : script.substr(0, kMaxScriptBytes)) {
    if (IsWordChar(c)) {
      word.push_back(c);
      continue;
    }
    if (!word.empty()) out.push_back(std::move(word));
    word.clear();
  }
  if (!word.empty()) out.push_back(std::move(word));
  for (std::string& w : out) {
    // A path or a package name: its last part (node_modules/.bin/karma, @playwright/test).
    if (absl::StrContains(w, '/')) {
      const std::string last = w.substr(w.rfind('/') + 1);
      if (absl::StartsWith(w, "@playwright/")) w = "playwright";
      else if (!last.empty()) w = last;
    }
  }
  return out;
}

std::string BrowserToolIn(const std::string& script) {
  for (const std::string& word : Words(script)) {
    for (const char* tool : kBrowserTools) {
      if (word == tool) return tool;
    }
    // `vitest --browser`, `jest --env=puppeteer`.
    if (word == "--browser" || absl::StartsWith(word, "--browser.")) return "a browser runner";
  }
  return "";
}

// Scripts that `script` runs by name: `npm run X`, `npm run-script X`, `yarn X`, `pnpm X`,
// `npm-run-all X Y`, `run-s X`, `run-p X` (globs as `npm-run-all` reads them: "test:*").
std::set<std::string> ScriptsRun(const std::string& script,
                                 const std::map<std::string, std::string>& scripts) {
  std::set<std::string> out;
  const std::string text = script.substr(0, kMaxScriptBytes);
  std::vector<std::string> words = Words(text);
  auto add = [&](const std::string& name) {
    if (absl::EndsWith(name, ":*")) {
      const std::string prefix = name.substr(0, name.size() - 1);
      for (auto it = scripts.lower_bound(prefix);
           it != scripts.end() && absl::StartsWith(it->first, prefix) &&
           out.size() < kMaxScriptsNamed;
           ++it) {
        out.insert(it->first);
      }
    } else if (scripts.count(name) > 0 && out.size() < kMaxScriptsNamed) {
      out.insert(name);
    }
  };
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if ((w == "npm" || w == "pnpm" || w == "yarn") && i + 1 < words.size()) {
      size_t next = i + 1;
      if (words[next] == "run" || words[next] == "run-script") ++next;
      while (next < words.size() && absl::StartsWith(words[next], "-")) ++next;
      if (next < words.size()) add(words[next]);
      if (words[i + 1] == "test" || words[i + 1] == "t") add("test");
    } else if (w == "npm-run-all" || w == "run-s" || w == "run-p") {
      for (size_t j = i + 1; j < words.size() && words[j] != "&&"; ++j) {
        if (!absl::StartsWith(words[j], "-")) add(words[j]);
      }
    }
  }
  // A ':'-glob survives Words() as "test:*" only if '*' were a word char; look for it raw.
  for (absl::string_view piece : absl::StrSplit(text, absl::ByAnyChar(" \t'\""))) {
    if (absl::EndsWith(piece, ":*")) add(std::string(piece));
  }
  return out;
}

// The first browser tool among `start` and the scripts it runs, and the script that names it.
std::pair<std::string, std::string> FindBrowser(const std::string& start,
                                                const std::map<std::string, std::string>& scripts) {
  std::deque<std::string> queue = {start};
  std::set<std::string> seen;
  int followed = 0;
  while (!queue.empty() && followed < kMaxScriptsFollowed) {
    const std::string name = std::move(queue.front());
    queue.pop_front();
    if (!seen.insert(name).second) continue;
    ++followed;
    auto it = scripts.find(name);
    if (it == scripts.end()) continue;
    if (std::string tool = BrowserToolIn(it->second); !tool.empty()) return {tool, name};
    for (const std::string& next : ScriptsRun(it->second, scripts)) {
      if (seen.count(next) == 0 && queue.size() < kMaxScriptsNamed) queue.push_back(next);
    }
  }
  return {"", ""};
}

// What in `script` needs the network, which tests never have in the sandbox: npm's registry
// commands (`npm audit`, also as `npx npm@10 audit`), `npx` of a version it must download,
// and the usual downloaders and audit services. "" when nothing is seen.
std::string NetworkToolIn(const std::string& script) {
  static constexpr const char* kNpmNetworkCommands[] = {"audit", "outdated", "view", "info",
                                                        "show",  "publish",  "ping", "doctor"};
  static constexpr const char* kNetworkTools[] = {
      "curl", "wget", "snyk", "audit-ci", "better-npm-audit", "nsp"};
  const std::vector<std::string> words = Words(script);
  // npm's own commands first: `npx npm@10 audit` is an audit.
  for (size_t i = 0; i + 1 < words.size(); ++i) {
    if (words[i] != "npm" && !absl::StartsWith(words[i], "npm@")) continue;
    size_t next = i + 1;  // past a quoted version's pieces: npx npm@'>=10.2' audit
    while (next < words.size() && absl::ascii_isdigit(static_cast<unsigned char>(words[next][0]))) {
      ++next;
    }
    for (const char* command : kNpmNetworkCommands) {
      if (next < words.size() && words[next] == command) return absl::StrCat("npm ", command);
    }
  }
  for (size_t i = 0; i < words.size(); ++i) {
    for (const char* tool : kNetworkTools) {
      if (words[i] == tool) return tool;
    }
    if (words[i] == "npx" && i + 1 < words.size() &&
        words[i + 1].find('@', 1) != std::string::npos) {
      return absl::StrCat("npx ", words[i + 1]);
    }
  }
  return "";
}

// `npm test` runs `pretest` and `posttest` around the test script; one that needs the network
// fails the phase whatever the tests said (qs's posttest runs `npx npm@'>=10.2' audit`).
std::optional<TestAdvice> AdviseNetworkHooks(const std::map<std::string, std::string>& scripts) {
  for (const char* hook : {"pretest", "posttest"}) {
    auto it = scripts.find(hook);
    if (it == scripts.end()) continue;
    const std::string tool = NetworkToolIn(it->second);
    if (tool.empty()) continue;
    TestAdvice advice;
    advice.tool = tool;
    advice.script = hook;
    advice.suggestion = "test: npm test --ignore-scripts";
    advice.message = absl::StrCat(
        "`npm test` runs the ", hook, " script, which needs the network (", InertLine(tool, 100),
        "); tests run with none in the sandbox. `npm test "
        "--ignore-scripts` runs the test script without its pre- and post-scripts: add `",
        advice.suggestion, "` to .ovvoc.yml");
    return advice;
  }
  return std::nullopt;
}

}  // namespace

std::optional<TestAdvice> AdviseTests(const std::map<std::string, std::string>& scripts) {
  if (scripts.count("test") == 0) return std::nullopt;
  auto [tool, where] = FindBrowser("test", scripts);
  if (tool.empty()) return AdviseNetworkHooks(scripts);
  TestAdvice advice;
  advice.tool = tool;
  advice.script = where;
  for (const char* name : kNodeScriptNames) {
    if (scripts.count(name) == 0 || name == where) continue;
    if (FindBrowser(name, scripts).first.empty()) {
      advice.node_script = name;
      break;
    }
  }
  advice.message = absl::StrCat(
      "`npm test` runs ", tool,
      where == "test" ? "" : absl::StrCat(" (through the script \"", InertLine(where, 100), "\")"),
      ", which needs a browser or a display; the sandbox has neither, so its result says "
      "nothing about an update");
  if (!advice.node_script.empty()) {
    advice.suggestion = absl::StrCat("test: npm run ", advice.node_script);
    absl::StrAppend(&advice.message, ". The script \"", advice.node_script,
                    "\" runs in node alone: add `", advice.suggestion, "` to .ovvoc.yml");
  } else {
    absl::StrAppend(&advice.message,
                    ". Set `test:` in .ovvoc.yml to a command that runs the tests in node alone");
  }
  return advice;
}

}  // namespace ovvoc::agent::npm
