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
