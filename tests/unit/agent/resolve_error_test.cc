// npm's ERESOLVE report read back (agent/npm/resolve_error.h).
#include "agent/npm/resolve_error.h"

#include <catch2/catch.hpp>
#include <string>

namespace ovvoc::agent::npm {
namespace {

// What npm 11.6 printed for react 17 beside react-dom 18 (`npm install --package-lock-only`).
constexpr char kNpm11[] = R"(npm error code ERESOLVE
npm error ERESOLVE unable to resolve dependency tree
npm error
npm error While resolving: app@1.0.0
npm error Found: react@17.0.2
npm error node_modules/react
npm error   react@"17.0.2" from the root project
npm error
npm error Could not resolve dependency:
npm error peer react@"^18.2.0" from react-dom@18.2.0
npm error node_modules/react-dom
npm error   react-dom@"18.2.0" from the root project
npm error
npm error Fix the upstream dependency conflict, or retry this command with --force or --legacy-peer-deps to accept an incorrect (and potentially broken) dependency resolution.
)";

TEST_CASE("npm 11's ERESOLVE report names both edges") {
  const std::optional<ResolveConflict> c = ParseResolveConflict(kNpm11);
  REQUIRE(c.has_value());
  CHECK(c->while_resolving == "app@1.0.0");
  CHECK(c->found == "react@17.0.2");
  CHECK(c->found_by == "react@\"17.0.2\" from the root project");
  CHECK(c->unresolved == "peer react@\"^18.2.0\" from react-dom@18.2.0");
  CHECK(c->culprit == "react-dom@18.2.0");
  CHECK(DescribeResolveConflict(*c) ==
        "npm could not resolve the tree (ERESOLVE): peer react@\"^18.2.0\" from "
        "react-dom@18.2.0, but react@17.0.2 is there (react@\"17.0.2\" from the root project)");
}

TEST_CASE("npm 7's ERESOLVE could not resolve, with its conflicting peer, CRLF and all") {
  const std::optional<ResolveConflict> c = ParseResolveConflict(
      "npm ERR! code ERESOLVE\r\n"
      "npm ERR! ERESOLVE could not resolve\r\n"
      "npm ERR! \r\n"
      "npm ERR! While resolving: plugin@2.0.0\r\n"
      "npm ERR! Found: eslint@8.57.0\r\n"
      "npm ERR! node_modules/eslint\r\n"
      "npm ERR!   dev eslint@\"^8.0.0\" from the root project\r\n"
      "npm ERR! \r\n"
      "npm ERR! Could not resolve dependency:\r\n"
      "npm ERR! peer eslint@\"^9.0.0\" from plugin@2.0.0\r\n"
      "npm ERR! \r\n"
      "npm ERR! Conflicting peer dependency: eslint@9.1.0\r\n");
  REQUIRE(c.has_value());
  CHECK(c->found_by == "dev eslint@\"^8.0.0\" from the root project");
  CHECK(c->culprit == "plugin@2.0.0");
  CHECK(c->conflicting_peer == "eslint@9.1.0");
}

TEST_CASE("no ERESOLVE, no conflict, and what a report quotes is made inert") {
  CHECK_FALSE(ParseResolveConflict("npm error code E404\nnpm error 404 Not Found").has_value());
  CHECK_FALSE(ParseResolveConflict("").has_value());
  CHECK_FALSE(ParseResolveConflict("ERESOLVE\n").has_value());
  const std::optional<ResolveConflict> c = ParseResolveConflict(
      "npm error code ERESOLVE\nnpm error Could not resolve dependency:\n"
      "npm error peer x@\"1\" from evil\x1b[2J@1.0.0\n");
  REQUIRE(c.has_value());
  CHECK(c->culprit == "evil\\x1b[2J@1.0.0");
  // A root edge names no package to blame.
  const std::optional<ResolveConflict> root = ParseResolveConflict(
      "npm error code ERESOLVE\nnpm error Could not resolve dependency:\n"
      "npm error react@\"^19\" from the root project\n");
  REQUIRE(root.has_value());
  CHECK(root->culprit.empty());
}

}  // namespace
}  // namespace ovvoc::agent::npm
