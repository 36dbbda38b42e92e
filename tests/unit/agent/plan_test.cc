// The update plan (agent/npm/plan.h): the decision for each dependency, from a project, a
// policy and packuments served from memory.
#include "agent/npm/plan.h"

#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/plan_text.h"

namespace ovvoc::agent::npm {
namespace {

using ovvoc::v1::Plan;
using ovvoc::v1::PlannedDependency;

const absl::Time kNow = absl::FromUnixSeconds(1800000000);  // 2027-01-15 08:00 UTC

std::string DaysAgo(double days) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", kNow - absl::Hours(24 * days), absl::UTCTimeZone());
}

// Packuments from memory; a name without one is a 404.
class MemorySource final : public PackumentSource {
 public:
  std::map<std::string, std::string> json;
  std::vector<std::string> asked;
  std::vector<Fetched> Fetch(const std::vector<std::string>& names) override {
    std::vector<Fetched> out;
    for (const std::string& name : names) {
      asked.push_back(name);
      Fetched fetched;
      fetched.registry = "https://registry.example/";
      auto it = json.find(name);
      fetched.packument = it == json.end() ? absl::StatusOr<Packument>(absl::NotFoundError("404"))
                                           : ParsePackument(it->second);
      out.push_back(std::move(fetched));
    }
    return out;
  }
};

// A packument: versions "1.0.0@30" (published 30 days ago), with `extra` JSON per version.
std::string MakePackument(const std::string& name, const std::string& latest,
                          const std::vector<std::pair<std::string, double>>& versions,
                          const std::map<std::string, std::string>& extra = {}) {
  std::string v, t;
  for (const auto& [version, age] : versions) {
    auto it = extra.find(version);
    absl::StrAppend(&v, v.empty() ? "" : ",", "\"", version, "\":{",
                    it == extra.end() ? "" : it->second, "}");
    absl::StrAppend(&t, ",\"", version, "\":\"", DaysAgo(age), "\"");
  }
  return absl::StrCat("{\"name\":\"", name, "\",\"dist-tags\":{\"latest\":\"", latest,
                      "\"},\"versions\":{", v, "},\"time\":{\"created\":\"", DaysAgo(1000), "\"",
                      t, "}}");
}

Project MakeProject(const std::string& package_json, const std::string& lockfile = "") {
  Project project;
  project.root = ParsePackageJson(package_json, "", project.diagnostics);
  if (!lockfile.empty()) {
    project.lockfile = ParseLockfile(lockfile, "package-lock.json", project.diagnostics);
    if (project.lockfile) MatchLockfile(*project.lockfile, {&project.root}, project.diagnostics);
  }
  return project;
}

// A v3 lockfile installing `versions` (name -> version) at the top level.
std::string Lock(const std::map<std::string, std::string>& versions) {
  std::string packages = "\"\": {}";
  for (const auto& [name, version] : versions) {
    absl::StrAppend(&packages, ", \"node_modules/", name, "\": {\"version\": \"", version, "\"}");
  }
  return absl::StrCat("{\"lockfileVersion\": 3, \"packages\": {", packages, "}}");
}

Plan MakeTestPlan(const Project& project, MemorySource& source, const std::string& policy_yaml = "",
                  const std::string& node = "v24.1.0") {
  Policy policy = policy_yaml.empty() ? DefaultPolicy()
                                      : ParsePolicy(policy_yaml, ".ovvoc.yml", PolicyFormat::kOvvoc);
  REQUIRE_FALSE(policy.HasErrors());
  return MakePlan(project, policy, source,
                  PlanOptions{.now = kNow, .node_version = node, .npm_version = "11.6.0"});
}

const PlannedDependency& Row(const Plan& plan, const std::string& name) {
  for (const PlannedDependency& d : plan.dependencies()) {
    if (d.name() == name) return d;
  }
  FAIL("no row for " << name);
  throw;
}

TEST_CASE("the plan proposes the newest version the rules allow, and says why not newer",
          "[plan]") {
  MemorySource source;
  source.json["a"] = MakePackument("a", "2.1.0",
                                   {{"1.0.0", 400}, {"1.1.0", 300}, {"2.0.0", 100}, {"2.1.0", 1}});
  source.json["b"] = MakePackument("b", "1.4.0",
                                   {{"1.0.0", 400}, {"1.2.0", 50}, {"1.3.0", 40}, {"1.4.0", 30}},
                                   {{"1.4.0", "\"deprecated\":\"broken, use 1.3\""},
                                    {"1.3.0", "\"engines\":{\"node\":\">=26\"}"}});
  source.json["c"] = MakePackument("c", "3.0.0", {{"3.0.0", 500}});
  const Project project = MakeProject(
      R"({"name": "app", "private": true, "dependencies": {"a": "^1.0.0", "b": "~1.0.0",
          "c": "^3.0.0", "d": "github:x/d"}})",
      Lock({{"a", "1.0.0"}, {"b", "1.0.0"}, {"c", "3.0.0"}}));
  const Plan plan = MakeTestPlan(project, source);

  const PlannedDependency& a = Row(plan, "a");
  CHECK(a.current() == "1.0.0");
  CHECK(a.wanted() == "1.1.0");
  CHECK(a.latest() == "2.1.0");
  CHECK(a.decision() == ovvoc::v1::PLAN_DECISION_UPDATE);
  CHECK(a.target() == "2.0.0");  // 2.1.0 is a day old: the default cooldown is 3 days
  CHECK(a.new_spec() == "^2.0.0");
  CHECK(a.update_type() == ovvoc::v1::UPDATE_TYPE_MAJOR);
  CHECK(a.versioning_strategy() == "increase");  // a private package: an application
  REQUIRE(a.passed_over_size() == 1);
  CHECK(a.passed_over(0).version() == "2.1.0");
  CHECK(absl::StartsWith(a.passed_over(0).reason(), "cooldown until "));
  CHECK(absl::StrContains(a.reason(), "2.1.0: cooldown until"));
  CHECK(a.target_published().seconds() ==
        absl::ToUnixSeconds(kNow - absl::Hours(24 * 100)));

  const PlannedDependency& b = Row(plan, "b");
  CHECK(b.wanted() == "1.0.0");
  CHECK(b.latest() == "1.2.0");  // npm skips the deprecated latest and the node-26-only one
  CHECK(b.target() == "1.2.0");
  CHECK(b.new_spec() == "~1.2.0");
  CHECK(b.update_type() == ovvoc::v1::UPDATE_TYPE_MINOR);
  REQUIRE(b.passed_over_size() == 2);
  CHECK(b.passed_over(0).reason() == "deprecated: broken, use 1.3");
  CHECK(absl::StartsWith(b.passed_over(1).reason(), "engines need node >=26"));

  CHECK(Row(plan, "c").decision() == ovvoc::v1::PLAN_DECISION_UP_TO_DATE);
  const PlannedDependency& d = Row(plan, "d");
  CHECK(d.decision() == ovvoc::v1::PLAN_DECISION_SKIPPED);
  CHECK(absl::StrContains(d.reason(), "git"));
  CHECK(source.asked == std::vector<std::string>{"a", "b", "c"});  // never d

  // Proposals: minor before major.
  REQUIRE(plan.proposals_size() == 2);
  CHECK(plan.dependencies(plan.proposals(0).dependencies(0)).name() == "b");
  CHECK(plan.dependencies(plan.proposals(1).dependencies(0)).name() == "a");
}

TEST_CASE("prereleases stay in their line, and nothing goes past latest unless already there",
          "[plan]") {
  MemorySource source;
  source.json["p"] = MakePackument(
      "p", "1.0.0",
      {{"1.0.0", 400}, {"2.0.0-beta.1", 300}, {"2.0.0-beta.2", 200}, {"2.0.0-rc.1", 100},
       {"3.0.0-alpha.1", 90}, {"1.1.0", 80}});
  const Project on_latest = MakeProject(R"({"dependencies": {"p": "^1.0.0"}})", Lock({{"p", "1.0.0"}}));
  Plan plan = MakeTestPlan(on_latest, source);
  const PlannedDependency& p = Row(plan, "p");
  CHECK(p.decision() == ovvoc::v1::PLAN_DECISION_HELD);
  CHECK(p.passed_over(0).version() == "1.1.0");
  CHECK(p.passed_over(0).reason() == "newer than the latest tag (1.0.0)");
  CHECK(p.passed_over(1).reason() == "4 prereleases: not in the current prerelease line");

  const Project on_beta =
      MakeProject(R"({"dependencies": {"p": "^2.0.0-beta.1"}})", Lock({{"p", "2.0.0-beta.1"}}));
  plan = MakeTestPlan(on_beta, source);
  CHECK(Row(plan, "p").target() == "2.0.0-rc.1");  // its own line; past latest already
  CHECK(Row(plan, "p").update_type() == ovvoc::v1::UPDATE_TYPE_PATCH);
}

TEST_CASE("policy rules: ignore, allow, lockfile-only, cooldown by type, groups, limits",
          "[plan]") {
  MemorySource source;
  for (const char* name : {"eslint", "eslint-plugin-x", "react", "left"}) {
    source.json[name] = MakePackument(name, "2.0.0", {{"1.0.0", 400}, {"1.0.1", 20}, {"1.5.0", 10},
                                                      {"2.0.0", 5}});
  }
  const Project project = MakeProject(
      R"({"name": "lib", "version": "1.0.0",
          "dependencies": {"react": "^1.0.0", "left": "1.0.0"},
          "devDependencies": {"eslint": "^1.0.0", "eslint-plugin-x": "^1.0.0"}})",
      Lock({{"eslint", "1.0.0"}, {"eslint-plugin-x", "1.0.0"}, {"react", "1.0.0"},
            {"left", "1.0.0"}}));
  const Plan plan = MakeTestPlan(project, source, R"(
updates:
  - directory: "/"
    open-pull-requests-limit: 1
    cooldown:
      default-days: 1
      semver-major-days: 30
      semver-minor-days: 15
    ignore:
      - dependency-name: "react"
        update-types: ["version-update:semver-major"]
    allow:
      - dependency-type: "all"
    groups:
      lint:
        patterns: ["eslint*"]
)");
  const PlannedDependency& react = Row(plan, "react");
  CHECK(react.target() == "1.0.1");  // 2.0.0 ignored (major), 1.5.0 cooling down (minor: 15d)
  CHECK(react.versioning_strategy() == "widen");  // a library
  CHECK(react.new_spec() == "^1.0.0");            // widen keeps a range that allows 1.0.1
  REQUIRE(react.passed_over_size() == 2);
  CHECK(absl::StrContains(react.passed_over(0).reason(), "react"));
  CHECK(absl::StartsWith(react.passed_over(1).reason(), "cooldown until"));
  const PlannedDependency& left = Row(plan, "left");
  CHECK(left.target() == "1.0.1");
  CHECK(left.new_spec() == "1.0.1");  // an exact pin stays exact
  CHECK(Row(plan, "eslint").group() == "lint");
  CHECK(Row(plan, "eslint-plugin-x").group() == "lint");
  // The group first, then patches by name; one pull request allowed, the rest deferred.
  REQUIRE(plan.proposals_size() == 3);
  CHECK(plan.proposals(0).group() == "lint");
  CHECK(plan.proposals(0).dependencies_size() == 2);
  CHECK_FALSE(plan.proposals(0).deferred());
  CHECK(plan.proposals(1).deferred());
  CHECK(plan.proposals(2).deferred());

  const Plan locked = MakeTestPlan(project, source, R"(
versioning-strategy: lockfile-only
cooldown:
  default-days: 0
)");
  CHECK(Row(locked, "react").target() == "1.5.0");
  CHECK(Row(locked, "react").new_spec() == "^1.0.0");
  CHECK(absl::StrContains(Row(locked, "react").passed_over(0).reason(), "lockfile-only"));
  CHECK(Row(locked, "left").decision() == ovvoc::v1::PLAN_DECISION_HELD);
}

TEST_CASE("bad registry answers are lines in the plan, and the rest is still planned", "[plan]") {
  MemorySource source;
  source.json["ok"] = MakePackument("ok", "1.1.0", {{"1.0.0", 400}, {"1.1.0", 100}});
  source.json["broken"] = "{\"versions\": [";
  source.json["untimed"] =
      R"({"name": "untimed", "dist-tags": {"latest": "1.1.0"}, "versions": {"1.0.0": {}, "1.1.0": {}}})";
  source.json["ghost"] =
      R"({"name": "ghost", "dist-tags": {"latest": "9.0.0"}, "versions": {"1.0.0": {}}})";
  source.json["falsy"] = MakePackument("falsy", "1.1.0", {{"1.0.0", 400}, {"1.1.0", 100}},
                                       {{"1.1.0", "\"deprecated\": false"}});
  source.json["tagged"] = R"({"name": "tagged", "dist-tags": {"latest": "1.0.0", "next": "2.0.0"},
      "versions": {"1.0.0": {}, "2.0.0": {}}})";
  const Project project = MakeProject(
      R"({"dependencies": {"ok": "^1.0.0", "missing": "^1.0.0", "broken": "^1.0.0",
          "untimed": "^1.0.0", "ghost": "^1.0.0", "falsy": "^1.0.0", "tagged": "next"}})",
      Lock({{"ok", "1.0.0"}, {"untimed", "1.0.0"}, {"ghost", "1.0.0"}, {"falsy", "1.0.0"}}));
  const Plan plan = MakeTestPlan(project, source);
  CHECK(Row(plan, "ok").target() == "1.1.0");
  CHECK(Row(plan, "missing").decision() == ovvoc::v1::PLAN_DECISION_ERROR);
  CHECK(Row(plan, "missing").reason() == "not found on https://registry.example/");
  CHECK(Row(plan, "broken").decision() == ovvoc::v1::PLAN_DECISION_ERROR);
  CHECK(Row(plan, "untimed").decision() == ovvoc::v1::PLAN_DECISION_HELD);
  CHECK(absl::StrContains(Row(plan, "untimed").reason(), "no publish time"));
  CHECK(Row(plan, "ghost").latest() == "1.0.0");  // the tag names nothing: the highest
  CHECK(Row(plan, "ghost").decision() == ovvoc::v1::PLAN_DECISION_UP_TO_DATE);
  CHECK(Row(plan, "falsy").target() == "1.1.0");  // `deprecated: false` is not deprecated
  CHECK(Row(plan, "tagged").decision() == ovvoc::v1::PLAN_DECISION_SKIPPED);
  CHECK(Row(plan, "tagged").wanted() == "2.0.0");  // as npm outdated shows it
  bool named_broken = false;
  for (const auto& problem : plan.problems()) named_broken |= problem.subject() == "broken";
  CHECK(named_broken);
  // Readable, whatever the rows hold.
  const std::string text = ovvoc::DescribePlan(plan);
  CHECK(absl::StrContains(text, "Package"));
  CHECK(absl::StrContains(text, "ok"));
}

TEST_CASE("thousands of versions, a disagreeing lockfile and a huge range stay lines", "[plan]") {
  MemorySource source;
  std::vector<std::pair<std::string, double>> versions;
  for (int minor = 0; minor < 100; ++minor) {
    for (int patch = 0; patch < 50; ++patch) {
      versions.push_back({absl::StrCat("1.", minor, ".", patch), 400 - minor});
    }
  }
  source.json["many"] = MakePackument("many", "1.99.49", versions);
  source.json["other"] = MakePackument("other", "1.0.0", {{"1.0.0", 400}});
  std::string huge = "^1.0.0";
  while (huge.size() <= kMaxPlannedSpec) huge += " || ^1.0.0";
  const Project project = MakeProject(
      absl::StrCat(R"({"dependencies": {"many": "~1.2.0", "other": "^2.0.0", "huge": ")", huge,
                   R"("}})"),
      Lock({{"many", "1.2.3"}, {"other", "1.0.0"}}));
  const Plan plan = MakeTestPlan(project, source);
  const PlannedDependency& many = Row(plan, "many");
  CHECK(many.wanted() == "1.2.49");
  CHECK(many.latest() == "1.99.49");
  CHECK(many.target() == "1.99.49");
  CHECK(many.new_spec() == "~1.99.49");
  // The lockfile's 1.0.0 does not satisfy ^2.0.0, and no 2.x exists: npm has nothing to want.
  const PlannedDependency& other = Row(plan, "other");
  CHECK(other.current() == "1.0.0");
  CHECK(other.wanted().empty());
  CHECK(other.decision() == ovvoc::v1::PLAN_DECISION_UP_TO_DATE);
  bool disagreement = false;
  for (const auto& problem : plan.problems()) {
    disagreement |= absl::StrContains(problem.message(), "other");
  }
  CHECK(disagreement);
  CHECK(Row(plan, "huge").decision() == ovvoc::v1::PLAN_DECISION_SKIPPED);
}

TEST_CASE("one package declared twice in a manifest moves in one proposal", "[plan]") {
  MemorySource source;
  source.json["react"] = MakePackument("react", "19.0.0", {{"18.2.0", 400}, {"19.0.0", 100}});
  const Project project = MakeProject(
      R"({"name": "lib", "version": "1.0.0", "peerDependencies": {"react": "^17 || ^18"},
          "devDependencies": {"react": "^18.2.0"}})",
      Lock({{"react", "18.2.0"}}));
  const Plan plan = MakeTestPlan(project, source);
  REQUIRE(plan.dependencies_size() == 2);
  CHECK(plan.dependencies(0).new_spec() == "^17 || ^18 || ^19.0.0");  // widened: a library
  CHECK(plan.dependencies(1).new_spec() == "^19.0.0");
  REQUIRE(plan.proposals_size() == 1);
  CHECK(plan.proposals(0).dependencies_size() == 2);
}

TEST_CASE("a package the root's overrides pin is held: npm resolves the override", "[plan]") {
  MemorySource source;
  source.json["ws"] = MakePackument("ws", "8.23.1",
                                    {{"8.21.0", 400}, {"8.21.3", 300}, {"8.23.1", 100}});
  const Project project = MakeProject(
      R"({"dependencies": {"ws": "~8.21.0"}, "overrides": {"ws": "8.21.0"}})",
      Lock({{"ws", "8.21.0"}}));
  const Plan plan = MakeTestPlan(project, source);
  const PlannedDependency& ws = Row(plan, "ws");
  CHECK(ws.wanted() == "8.21.0");  // npm outdated's: the override's
  CHECK(ws.latest() == "8.23.1");
  CHECK(ws.decision() == ovvoc::v1::PLAN_DECISION_HELD);
  CHECK(absl::StrContains(ws.reason(), "overrides"));
  CHECK(plan.proposals_size() == 0);
}

TEST_CASE("an alias is planned through its target and keeps its prefix", "[plan]") {
  MemorySource source;
  source.json["@scope/real"] =
      MakePackument("@scope/real", "2.0.0", {{"1.0.0", 400}, {"2.0.0", 100}});
  const Project project = MakeProject(R"({"dependencies": {"nick": "npm:@scope/real@^1.0.0"}})",
                                      Lock({{"nick", "1.0.0"}}));
  const Plan plan = MakeTestPlan(project, source);
  const PlannedDependency& nick = Row(plan, "nick");
  CHECK(nick.package() == "@scope/real");
  CHECK(nick.target() == "2.0.0");
  CHECK(nick.new_spec() == "npm:@scope/real@^2.0.0");
}

// The red team's findings on the plan (issue 10), each an attack that once worked.

TEST_CASE("a prerelease the latest tag names is still outside a stable line", "[plan]") {
  MemorySource source;
  source.json["p"] = MakePackument("p", "2.0.0-rc.1", {{"1.0.0", 400}, {"2.0.0-rc.1", 100}});
  const Plan plan =
      MakeTestPlan(MakeProject(R"({"dependencies": {"p": "^1.0.0"}})", Lock({{"p", "1.0.0"}})),
                   source);
  const PlannedDependency& p = Row(plan, "p");
  CHECK(p.decision() == ovvoc::v1::PLAN_DECISION_UP_TO_DATE);
  CHECK(p.passed_over(0).reason() == "1 prerelease: not in the current prerelease line");
}

TEST_CASE("an alias answers to the policy under the name of the package it installs", "[plan]") {
  MemorySource source;
  source.json["evil"] = MakePackument("evil", "2.0.0", {{"1.0.0", 400}, {"2.0.0", 10}});
  const Project project = MakeProject(
      R"({"dependencies": {"nice": "npm:evil@^1.0.0", "kind": "npm:evil@^1.0.0"}})",
      Lock({{"nice", "1.0.0"}, {"kind", "1.0.0"}}));
  const Plan ignored = MakeTestPlan(project, source, R"(
updates:
  - directory: /
    ignore:
      - dependency-name: evil
)");
  CHECK(Row(ignored, "nice").decision() == ovvoc::v1::PLAN_DECISION_HELD);
  CHECK_THAT(Row(ignored, "nice").reason(), Catch::Contains("ignored by .ovvoc.yml"));

  // A cooldown written for the package holds its alias too: 2.0.0 is 10 days old.
  const Plan cooled = MakeTestPlan(project, source, R"(
updates:
  - directory: /
    cooldown:
      default-days: 30
      include: [evil]
)");
  CHECK(Row(cooled, "nice").decision() == ovvoc::v1::PLAN_DECISION_HELD);
  CHECK_THAT(Row(cooled, "nice").reason(), Catch::Contains("cooldown until"));

  const Plan grouped = MakeTestPlan(project, source, R"(
updates:
  - directory: /
    groups:
      bad:
        patterns: [evil]
)");
  CHECK(Row(grouped, "nice").group() == "bad");
  CHECK(Row(grouped, "kind").group() == "bad");
}

TEST_CASE("a locked version that is not semver is held, never downgraded", "[plan]") {
  MemorySource source;
  source.json["a"] = MakePackument("a", "2.0.0", {{"0.1.0", 400}, {"1.0.0", 300}, {"2.0.0", 100}});
  const Plan plan =
      MakeTestPlan(MakeProject(R"({"dependencies": {"a": "*"}})", Lock({{"a", "banana"}})), source);
  const PlannedDependency& a = Row(plan, "a");
  CHECK(a.decision() == ovvoc::v1::PLAN_DECISION_HELD);
  CHECK(a.reason() == "the lockfile's version banana is not a semver version: nothing can be "
                      "called newer");
  CHECK(a.target().empty());
}

TEST_CASE("a latest tag naming no version keeps the cap at npm's own latest", "[plan]") {
  MemorySource source;
  // "latest" names a key that is no version (npm outdated shows it as Latest all the same); the
  // cap falls to what npm would pick for any release: 1.1.0, since 9.0.0 is deprecated.
  source.json["a"] = MakePackument(
      "a", "banana", {{"1.0.0", 400}, {"1.1.0", 300}, {"9.0.0", 200}, {"banana", 100}},
      {{"9.0.0", "\"deprecated\":\"a mistake\""}});
  const Plan plan = MakeTestPlan(
      MakeProject(R"({"dependencies": {"a": "^1.0.0"}})", Lock({{"a", "1.0.0"}})), source);
  const PlannedDependency& a = Row(plan, "a");
  CHECK(a.latest() == "banana");
  CHECK(a.target() == "1.1.0");
  bool said = false;
  for (const auto& c : a.passed_over()) {
    said = said || c.reason() == "the latest tag names banana, which is no version: nothing "
                                 "past 1.1.0 is proposed";
  }
  CHECK(said);

  // A tag naming a version that does not exist: the same.
  source.json["a"] = MakePackument("a", "7.0.0", {{"1.0.0", 400}, {"1.1.0", 300}});
  const Plan missing = MakeTestPlan(
      MakeProject(R"({"dependencies": {"a": "^1.0.0"}})", Lock({{"a", "1.0.0"}})), source);
  CHECK(Row(missing, "a").target() == "1.1.0");
}

TEST_CASE("an override spec is bounded like a declared one", "[plan]") {
  MemorySource source;
  source.json["a"] = MakePackument("a", "2.0.0", {{"1.0.0", 400}, {"2.0.0", 100}});
  std::string huge;
  for (int i = 0; i < 400; ++i) absl::StrAppend(&huge, i ? " || " : "", "1.0.", i);
  const Plan plan = MakeTestPlan(
      MakeProject(absl::StrCat(R"({"dependencies": {"a": "^1.0.0"}, "overrides": {"a": ")", huge,
                               R"("}})"),
                  Lock({{"a", "1.0.0"}})),
      source);
  CHECK(Row(plan, "a").decision() == ovvoc::v1::PLAN_DECISION_SKIPPED);
  CHECK_THAT(Row(plan, "a").reason(), Catch::Contains("an override spec longer than 1024"));
}

TEST_CASE("a project naming more packages than a plan looks up asks for no more", "[plan]") {
  MemorySource source;
  std::string dependencies;
  for (size_t i = 0; i < kMaxPlannedPackages + 3; ++i) {
    absl::StrAppend(&dependencies, i ? "," : "", "\"p", i, "\":\"^1.0.0\"");
  }
  const Plan plan =
      MakeTestPlan(MakeProject(absl::StrCat(R"({"dependencies": {)", dependencies, "}}")), source);
  CHECK(source.asked.size() == kMaxPlannedPackages);
  CHECK(plan.dependencies_size() == static_cast<int>(kMaxPlannedPackages + 3));
  const PlannedDependency& last = plan.dependencies(plan.dependencies_size() - 1);
  CHECK(last.decision() == ovvoc::v1::PLAN_DECISION_ERROR);
  CHECK_THAT(last.reason(), Catch::Contains("more than 5000 packages"));
  int problems = 0;
  for (const auto& problem : plan.problems()) {
    problems += absl::StrContains(problem.message(), "were not looked up");
  }
  CHECK(problems == 1);
}

TEST_CASE("thousands of versions refused one by one make one held line", "[plan]") {
  // Every newer version is refused by its engines; the ranges are the same few strings
  // (RangeCache keeps them parsed: checked by its own assertions below).
  MemorySource source;
  std::vector<std::pair<std::string, double>> versions = {{"1.0.0", 400}};
  std::map<std::string, std::string> extra;
  for (int i = 1; i <= 3000; ++i) {
    const std::string v = absl::StrCat("1.0.", i);
    versions.push_back({v, 100});
    extra[v] = R"("engines":{"node":">=99 || >=98 || >=97 || >=96"})";
  }
  source.json["a"] = MakePackument("a", "1.0.3000", versions, extra);
  const Plan plan = MakeTestPlan(
      MakeProject(R"({"dependencies": {"a": "^1.0.0"}})", Lock({{"a", "1.0.0"}})), source);
  const PlannedDependency& a = Row(plan, "a");
  CHECK(a.decision() == ovvoc::v1::PLAN_DECISION_HELD);
  CHECK_THAT(a.passed_over(0).reason(), Catch::StartsWith("engines need node >=99"));
  CHECK(a.passed_over(kMaxPassedOver).reason() == "2990 more newer versions");

  RangeCache cache;
  CHECK(cache.Satisfies("1.2.3", "^1.0.0", Options{}));
  CHECK_FALSE(cache.Satisfies("2.0.0", "^1.0.0", Options{}));
  CHECK_FALSE(cache.Satisfies("1.2.3-beta", "^1.0.0", Options{}));
  CHECK(cache.Satisfies("1.2.3-beta", "^1.0.0", Options{.include_prerelease = true}));
  CHECK_FALSE(cache.Satisfies("1.0.0", "not a range", Options{}));
  CHECK(cache.size() == 3);  // the options are part of the key
}

// The second red team's findings (issue 10).

TEST_CASE("aliases of one package past the declarations bound are not planned", "[plan]") {
  MemorySource source;
  source.json["foo"] = MakePackument("foo", "1.0.0", {{"1.0.0", 400}});
  // Three workspace members of 7,000 each (one manifest holds at most ~8,000: project.h).
  std::string dependencies;
  for (int i = 0; i < 7000; ++i) {
    absl::StrAppend(&dependencies, i ? "," : "", "\"d", i, "\":\"npm:foo@^1.0.0\"");
  }
  Project project = MakeProject(R"({"name": "root"})");
  for (const char* dir : {"a", "b", "c"}) {
    project.workspaces.push_back(ParsePackageJson(
        absl::StrCat(R"({"dependencies": {)", dependencies, "}}"), dir, project.diagnostics));
    REQUIRE(project.workspaces.back().dependencies.size() == 7000);
  }
  const Plan plan = MakeTestPlan(project, source);
  CHECK(plan.dependencies_size() == static_cast<int>(kMaxPlannedDeclarations));
  CHECK(source.asked.size() == 1);
  bool said = false;
  for (const auto& problem : plan.problems()) {
    said = said ||
           absl::StrContains(problem.message(), "the 1000 past the first 20000 were not planned");
  }
  CHECK(said);
}

TEST_CASE("when deciding runs out of time the rest are error lines, not a hang", "[plan]") {
  MemorySource source;
  source.json["a"] = MakePackument("a", "2.0.0", {{"1.0.0", 400}, {"2.0.0", 100}});
  const Project project = MakeProject(R"({"dependencies": {"a": "^1.0.0", "b": "npm:a@^1.0.0"}})",
                                      Lock({{"a", "1.0.0"}, {"b", "1.0.0"}}));
  Policy policy = DefaultPolicy();
  const Plan plan = MakePlan(project, policy, source,
                             PlanOptions{.now = kNow, .node_version = "v24.1.0",
                                         .work_deadline = absl::Now() - absl::Seconds(1)});
  for (const PlannedDependency& d : plan.dependencies()) {
    CHECK(d.decision() == ovvoc::v1::PLAN_DECISION_ERROR);
    CHECK_THAT(d.reason(), Catch::StartsWith("the plan's time for deciding ran out"));
  }
  CHECK(plan.proposals_size() == 0);
  REQUIRE(plan.problems_size() == 1);
  CHECK_THAT(plan.problems(0).message(), Catch::StartsWith("2 dependencies not decided"));
}

TEST_CASE("a rewritten range keeps no raw control characters", "[plan]") {
  MemorySource source;
  source.json["a"] = MakePackument("a", "9.0.0", {{"1.0.0", 400}, {"9.0.0", 100}});
  const Plan plan = MakeTestPlan(
      MakeProject("{\"dependencies\": {\"a\": \">=1.0.0 <1.5.0\\r\\n\"}}", Lock({{"a", "1.0.0"}})),
      source);
  const PlannedDependency& a = Row(plan, "a");
  REQUIRE(a.decision() == ovvoc::v1::PLAN_DECISION_UPDATE);
  CHECK(a.new_spec().find('\r') == std::string::npos);
  CHECK(a.new_spec().find('\n') == std::string::npos);
}

TEST_CASE("each version's engines are tested once however often the plan asks", "[plan]") {
  RangeCache cache;
  int computed = 0;
  const int key = 0;
  for (int i = 0; i < 3; ++i) CHECK(cache.Remember(&key, [&] { return ++computed > 0; }));
  CHECK(computed == 1);
}

TEST_CASE("an update carries the registry's word on its step: scripts, engines, publisher, "
          "provenance, a follow-up release",
          "[plan]") {
  MemorySource source;
  source.json["a"] = MakePackument(
      "a", "1.2.1", {{"1.0.0", 400}, {"1.2.0", 30}, {"1.2.1", 1}},
      {{"1.0.0",
        R"("engines":{"node":">=14"},"_npmUser":{"name":"alice","email":"a@x"},)"
        R"("dist":{"tarball":"t","attestations":{"url":"u","provenance":{"predicateType":"p"}}})"},
       {"1.2.0",
        R"("engines":{"node":">=18"},"scripts":{"postinstall":"node x"},)"
        R"("_npmUser":{"name":"mallory"},"dist":{"tarball":"t"})"},
       {"1.2.1", R"("_npmUser":{"name":42})"}});
  const Project project =
      MakeProject(R"({"name": "app", "private": true, "dependencies": {"a": "^1.0.0"}})",
                  Lock({{"a", "1.0.0"}}));
  const Plan plan = MakeTestPlan(project, source);
  const PlannedDependency& a = Row(plan, "a");
  REQUIRE(a.target() == "1.2.0");  // 1.2.1 is a day old: the cooldown holds it
  const ovvoc::v1::ReleaseSignals& s = a.signals();
  CHECK(s.current_known());
  CHECK_FALSE(s.current_install_script());
  CHECK(s.target_install_script());
  CHECK(s.current_engines_node() == ">=14");
  CHECK(s.target_engines_node() == ">=18");
  CHECK(s.current_publisher() == "alice");
  CHECK(s.target_publisher() == "mallory");
  CHECK(s.current_provenance());
  CHECK_FALSE(s.target_provenance());
  CHECK(s.current_published().seconds() == absl::ToUnixSeconds(kNow - absl::Hours(24 * 400)));
  CHECK(s.follow_up() == "1.2.1");
  CHECK(s.follow_up_published().seconds() == absl::ToUnixSeconds(kNow - absl::Hours(24)));

  // A current version the packument lacks: nothing said of it.
  const Project unknown =
      MakeProject(R"({"name": "app", "private": true, "dependencies": {"a": "^1.0.0"}})",
                  Lock({{"a", "1.0.5"}}));
  const Plan other = MakeTestPlan(unknown, source);
  const PlannedDependency& b = Row(other, "a");
  CHECK_FALSE(b.signals().current_known());
  CHECK(b.signals().current_publisher().empty());
}

}  // namespace
}  // namespace ovvoc::agent::npm
