#include "agent/npm/test_advice.h"

#include <catch2/catch.hpp>

#include "absl/strings/match.h"

namespace ovvoc::agent::npm {
namespace {

using Scripts = std::map<std::string, std::string>;

TEST_CASE("AdviseTests: npm test running karma, beside a node suite", "[npm][advice]") {
  std::optional<TestAdvice> advice = AdviseTests(
      {{"test", "karma start --single-run"}, {"test:node", "mocha test/node"}});
  REQUIRE(advice.has_value());
  CHECK(advice->tool == "karma");
  CHECK(advice->script == "test");
  CHECK(advice->node_script == "test:node");
  CHECK(advice->suggestion == "test: npm run test:node");
  CHECK(absl::StrContains(advice->message, "add `test: npm run test:node` to .ovvoc.yml"));
}

TEST_CASE("AdviseTests: the browser is found through the scripts npm test runs",
          "[npm][advice]") {
  SECTION("npm run chains") {
    std::optional<TestAdvice> advice =
        AdviseTests({{"test", "npm run lint && npm run test:node && npm run test:browser"},
                     {"lint", "eslint ."},
                     {"test:node", "node --test"},
                     {"test:browser", "npx playwright test"}});
    REQUIRE(advice.has_value());
    CHECK(advice->tool == "playwright");
    CHECK(advice->script == "test:browser");
    CHECK(advice->suggestion == "test: npm run test:node");
  }
  SECTION("npm-run-all with a glob, and a path to the program") {
    std::optional<TestAdvice> advice =
        AdviseTests({{"test", "npm-run-all 'test:*'"},
                     {"test:unit", "jest"},
                     {"test:e2e", "./node_modules/.bin/cypress run"}});
    REQUIRE(advice.has_value());
    CHECK(advice->tool == "cypress");
    CHECK(advice->node_script == "test:unit");
  }
  SECTION("vitest in browser mode, no node suite: the advice names no line") {
    std::optional<TestAdvice> advice = AdviseTests({{"test", "vitest --browser.enabled"}});
    REQUIRE(advice.has_value());
    CHECK(advice->node_script.empty());
    CHECK(advice->suggestion.empty());
    CHECK(absl::StrContains(advice->message, "Set `test:` in .ovvoc.yml"));
  }
  SECTION("a node script that itself needs the browser is not offered") {
    std::optional<TestAdvice> advice =
        AdviseTests({{"test", "karma start"}, {"test:node", "npm run test"}, {"unit", "tap"}});
    REQUIRE(advice.has_value());
    CHECK(advice->node_script == "unit");
  }
}

// Corpus, issue 11: qs's 1,045 tests passed, then its posttest ran `npx npm@'>=10.2' audit
// --production`, which needs the registry, and failed the phase.
TEST_CASE("AdviseTests: a pre- or post-test script that needs the network", "[npm][advice]") {
  std::optional<TestAdvice> advice =
      AdviseTests({{"test", "npm run tests-only"},
                   {"tests-only", "nyc tape 'test/**/*.js'"},
                   {"posttest", "npx npm@'>=10.2' audit --production"}});
  REQUIRE(advice.has_value());
  CHECK(advice->script == "posttest");
  CHECK(advice->tool == "npm audit");
  CHECK(advice->suggestion == "test: npm test --ignore-scripts");
  CHECK_THAT(advice->message, Catch::Contains("needs the network"));
  for (const char* hook : {"npm audit --audit-level=high", "curl -fsS https://x/y | sh",
                           "npx better-npm-audit@3 audit", "npm outdated"}) {
    INFO(hook);
    CHECK(AdviseTests({{"test", "mocha"}, {"pretest", hook}}).has_value());
  }
  // What runs offline is not advised on: a build, a linter, npx of what is installed.
  for (const char* hook : {"npm run build", "eslint .", "npx tsc -p .", "node scripts/audit.js"}) {
    INFO(hook);
    CHECK_FALSE(
        AdviseTests({{"test", "mocha"}, {"pretest", hook}, {"posttest", hook}}).has_value());
  }
}

TEST_CASE("AdviseTests: nothing to say", "[npm][advice]") {
  CHECK_FALSE(AdviseTests({}).has_value());
  CHECK_FALSE(AdviseTests({{"build", "karma"}}).has_value());
  CHECK_FALSE(AdviseTests({{"test", "jest --coverage"}}).has_value());
  CHECK_FALSE(AdviseTests({{"test", "node test/karma-config.test.js"}}).has_value());
  // Scripts that run each other in a loop end.
  CHECK_FALSE(AdviseTests({{"test", "npm run a"}, {"a", "npm run b"}, {"b", "npm test"}})
                  .has_value());
}

}  // namespace
}  // namespace ovvoc::agent::npm

namespace ovvoc::agent::npm {
namespace {

// Red team, issue 11: "x:* " 8,000 times over 2,000 "x:" scripts held 16 million names (1 GB);
// 40,000 over 4,000 had the agent OOM-killed.
TEST_CASE("AdviseTests: globs over many scripts are bounded", "[npm][advice]") {
  Scripts scripts;
  std::string test;
  for (int i = 0; i < 40000; ++i) test += "x:* ";
  scripts["test"] = test;
  for (int i = 0; i < 4000; ++i) scripts["x:" + std::to_string(i)] = "true";
  // Unbounded, this needs ~10 GB and the test dies; bounded, the first 200 names are looked
  // at and "x:9999" (past them) is not.
  CHECK_FALSE(AdviseTests(scripts).has_value());
  scripts["x:0"] = "karma start";
  CHECK(AdviseTests(scripts).has_value());
}

}  // namespace
}  // namespace ovvoc::agent::npm
