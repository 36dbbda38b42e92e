#include "agent/npm/policy.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tests/support/temp_dir.h"

namespace ovvoc::agent::npm {
namespace {

using ovvoc::v1::DEPENDENCY_KIND_DEV;
using ovvoc::v1::DEPENDENCY_KIND_OPTIONAL;
using ovvoc::v1::DEPENDENCY_KIND_PEER;
using ovvoc::v1::DEPENDENCY_KIND_PROD;
using ovvoc::v1::UPDATE_TYPE_MAJOR;
using ovvoc::v1::UPDATE_TYPE_MINOR;
using ovvoc::v1::UPDATE_TYPE_PATCH;

Policy Ovvoc(const std::string& text) {
  return ParsePolicy(text, ".ovvoc.yml", PolicyFormat::kOvvoc);
}

Policy Dependabot(const std::string& text) {
  return ParsePolicy(text, ".github/dependabot.yml", PolicyFormat::kDependabot);
}

std::string Diagnostics(const Policy& p) {
  std::string all;
  for (const Diagnostic& d : p.diagnostics) absl::StrAppend(&all, d.ToString(), "\n");
  return all;
}

void Write(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}

TEST_CASE("Ovvoc's defaults") {
  Policy p = DefaultPolicy();
  REQUIRE(p.entries.size() == 1);
  const PolicyEntry& e = p.entries[0];
  CHECK(e.directories == std::vector<std::string>{"/"});
  CHECK(e.versioning_strategy == VersioningStrategy::kAuto);
  CHECK(e.open_pull_requests_limit == 5);
  CHECK(e.cooldown.default_days == 3);
  CHECK(CooldownDays(e, "anything", UPDATE_TYPE_MAJOR) == 3);
  CHECK(CooldownDays(e, "anything", UPDATE_TYPE_PATCH) == 3);
  CHECK(Allows(e, "lodash", DEPENDENCY_KIND_DEV));
  CHECK_FALSE(Allows(e, "lodash", DEPENDENCY_KIND_PROD, /*direct=*/false));
  CHECK_FALSE(IgnoreReason(e, "lodash", "5.0.0", UPDATE_TYPE_MAJOR));
  CHECK(GroupOf(e, "lodash", DEPENDENCY_KIND_PROD, UPDATE_TYPE_MINOR) == nullptr);
  CHECK_FALSE(e.labels.has_value());
  CHECK_FALSE(e.schedule.has_value());
  CHECK(p.safeguards.skip_deprecated);
  CHECK(p.safeguards.stay_within_latest);
  CHECK(p.safeguards.prerelease_line_only);
  CHECK_FALSE(p.HasErrors());
  CHECK(Ovvoc("").diagnostics.empty());  // an empty file: the defaults
}

TEST_CASE("every key of an .ovvoc.yml entry") {
  Policy p = Ovvoc(R"y(version: 2
registries:
  private:
    url: https://npm.example.com
    token-name: NPM_TOKEN
updates:
  - package-ecosystem: npm
    directories: ["/", "packages/*/"]
    allow:
      - dependency-name: "react*"
      - dependency-type: development
    ignore:
      - dependency-name: eslint
        versions: [">=9"]
      - dependency-name: "*"
        update-types: ["version-update:semver-major"]
    versioning-strategy: increase-if-necessary
    groups:
      dev-tools:
        dependency-type: development
        patterns: ["@types/*", "eslint*"]
        exclude-patterns: ["eslint-plugin-local"]
        update-types: [minor, patch]
      security:
        applies-to: security-updates
        patterns: ["*"]
    cooldown:
      default-days: 5
      semver-major-days: 30
      semver-minor-days: 7
      semver-patch-days: 2
      include: ["*"]
      exclude: ["@my-org/*"]
    open-pull-requests-limit: 10
    labels: [deps, javascript]
    commit-message:
      prefix: "chore"
      prefix-development: "chore(dev)"
      include: scope
    target-branch: develop
    registries: [private]
    schedule:
      interval: weekly
      day: tuesday
      time: "09:30"
      timezone: Europe/Berlin
    node: ">=20 <23"
    test: npm run test:ci
    build: [npm run lint, npm run build]
)y");
  INFO(Diagnostics(p));
  CHECK(p.diagnostics.empty());
  CHECK(p.source == PolicySource::kOvvocFile);
  REQUIRE(p.registries.size() == 1);
  CHECK(p.registries[0].name == "private");
  CHECK(p.registries[0].type == "npm-registry");
  CHECK(p.registries[0].url == "https://npm.example.com");
  CHECK(p.registries[0].token_name == "NPM_TOKEN");
  REQUIRE(p.entries.size() == 1);
  const PolicyEntry& e = p.entries[0];
  CHECK(e.where.ToString() == ".ovvoc.yml:7");
  CHECK(e.directories == std::vector<std::string>{"/", "/packages/*"});
  REQUIRE(e.allow.size() == 2);
  CHECK(e.allow[0].dependency_name == "react*");
  CHECK(e.allow[1].dependency_type == DependencyType::kDevelopment);
  REQUIRE(e.ignore.size() == 2);
  CHECK(e.ignore[0].versions == std::vector<std::string>{">=9"});
  CHECK(e.ignore[1].update_types == std::vector<ovvoc::v1::UpdateType>{UPDATE_TYPE_MAJOR});
  CHECK(e.versioning_strategy == VersioningStrategy::kIncreaseIfNecessary);
  REQUIRE(e.groups.size() == 2);
  CHECK(e.groups[0].name == "dev-tools");
  CHECK(e.groups[0].exclude_patterns == std::vector<std::string>{"eslint-plugin-local"});
  CHECK(e.groups[1].applies_to == AppliesTo::kSecurityUpdates);
  CHECK(e.cooldown.default_days == 5);
  CHECK(e.cooldown.semver_patch_days == 2);
  CHECK(e.cooldown.exclude == std::vector<std::string>{"@my-org/*"});
  CHECK(e.open_pull_requests_limit == 10);
  CHECK(e.labels == std::vector<std::string>{"deps", "javascript"});
  CHECK(e.commit_message.prefix == "chore");
  CHECK(e.commit_message.prefix_development == "chore(dev)");
  CHECK(e.commit_message.include_scope);
  CHECK(e.target_branch == "develop");
  CHECK(e.registries == std::vector<std::string>{"private"});
  REQUIRE(e.schedule.has_value());
  CHECK(e.schedule->interval == ScheduleInterval::kWeekly);
  CHECK(e.schedule->day == "tuesday");
  CHECK(e.schedule->time == "09:30");
  CHECK(e.schedule->timezone == "Europe/Berlin");
  CHECK(e.node == ">=20 <23");
  CHECK(e.test == std::vector<std::string>{"npm run test:ci"});
  CHECK(e.build == std::vector<std::string>{"npm run lint", "npm run build"});
}

TEST_CASE(".ovvoc.yml may hold one entry's keys at the top level, without updates") {
  Policy p = Ovvoc("cooldown:\n  default-days: 7\nlabels: []\n");
  INFO(Diagnostics(p));
  CHECK(p.diagnostics.empty());
  REQUIRE(p.entries.size() == 1);
  CHECK(p.entries[0].cooldown.default_days == 7);
  CHECK(p.entries[0].labels == std::vector<std::string>{});  // no labels at all
  CHECK(p.entries[0].directories == std::vector<std::string>{"/"});

  Policy mixed = Ovvoc("labels: [x]\nupdates:\n  - directory: /\n");
  CHECK(mixed.HasErrors());
  CHECK_THAT(Diagnostics(mixed),
             Catch::Contains(".ovvoc.yml:1:1: \"labels\" at the top level: with updates:"));
}

TEST_CASE("dependabot.yml: only its npm entries count, with Dependabot's required keys") {
  Policy p = Dependabot(R"y(version: 2
updates:
  - package-ecosystem: docker
    directory: /
    no-such-docker-key: 1
    schedule: {interval: daily}
  - package-ecosystem: npm
    directory: /web
    schedule: {interval: monthly}
    assignees: [octocat]
    node: "22"
)y");
  INFO(Diagnostics(p));
  CHECK(p.source == PolicySource::kDependabotFile);
  REQUIRE(p.entries.size() == 1);
  CHECK(p.entries[0].directories == std::vector<std::string>{"/web"});
  CHECK(p.entries[0].schedule->interval == ScheduleInterval::kMonthly);
  CHECK(p.entries[0].node.empty());    // an Ovvoc key: unknown to Dependabot's format
  REQUIRE(p.diagnostics.size() == 1);  // the docker entry is not even looked at
  CHECK(p.diagnostics[0].ToString() ==
        ".github/dependabot.yml:11: unknown key \"node\" in updates[1]");

  Policy missing = Dependabot("updates:\n  - package-ecosystem: npm\n");
  CHECK_THAT(Diagnostics(missing), Catch::Contains("needs version: 2") &&
                                       Catch::Contains("needs directory or directories") &&
                                       Catch::Contains("needs schedule.interval"));

  Policy no_npm = Dependabot(
      "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /\n"
      "    schedule: {interval: daily}\n");
  CHECK(no_npm.source == PolicySource::kDefaults);
  CHECK_FALSE(no_npm.HasErrors());
  CHECK_THAT(Diagnostics(no_npm), Catch::Contains("no npm entry"));
  CHECK(no_npm.entries.size() == 1);
}

TEST_CASE("precedence: --policy, then .ovvoc.yml, then .github/dependabot.yml, then defaults") {
  testing::TempDir dir;
  const std::string dependabot =
      "version: 2\nupdates:\n  - package-ecosystem: npm\n    directory: /\n"
      "    schedule: {interval: daily}\n    open-pull-requests-limit: 2\n";
  absl::StatusOr<Policy> none = LoadPolicy(dir.path());
  REQUIRE(none.ok());
  CHECK(none->source == PolicySource::kDefaults);

  Write(dir.Sub(".github/dependabot.yaml"), dependabot);
  absl::StatusOr<Policy> from_yaml = LoadPolicy(dir.path());
  REQUIRE(from_yaml.ok());
  CHECK(from_yaml->source == PolicySource::kDependabotFile);
  CHECK(from_yaml->file == ".github/dependabot.yaml");
  CHECK(from_yaml->entries[0].open_pull_requests_limit == 2);

  Write(dir.Sub(".ovvoc.yml"), "open-pull-requests-limit: 3\n");
  absl::StatusOr<Policy> ovvoc = LoadPolicy(dir.path());
  REQUIRE(ovvoc.ok());
  CHECK(ovvoc->source == PolicySource::kOvvocFile);
  CHECK(ovvoc->entries[0].open_pull_requests_limit == 3);
  CHECK(ovvoc->entries[0].cooldown.default_days == 3);  // unset keys keep Ovvoc's defaults

  Write(dir.Sub("operator/dependabot.yml"), dependabot);
  absl::StatusOr<Policy> flag = LoadPolicy(dir.path(), {dir.Sub("operator/dependabot.yml")});
  REQUIRE(flag.ok());
  CHECK(flag->source == PolicySource::kPolicyFlag);
  CHECK(flag->entries[0].open_pull_requests_limit == 2);
  CHECK(absl::IsNotFound(LoadPolicy(dir.path(), {dir.Sub("nope.yml")}).status()));
}

TEST_CASE("a symlinked policy file is not followed, and does not fall through") {
  testing::TempDir dir;
  Write(dir.Sub("outside.yml"), "open-pull-requests-limit: 99\n");
  Write(dir.Sub("repo/.github/dependabot.yml"), "version: 2\nupdates: []\n");
  REQUIRE(symlink(dir.Sub("outside.yml").c_str(), dir.Sub("repo/.ovvoc.yml").c_str()) == 0);
  absl::StatusOr<Policy> p = LoadPolicy(dir.Sub("repo"));
  REQUIRE(p.ok());
  CHECK(p->HasErrors());
  CHECK_THAT(Diagnostics(*p), Catch::StartsWith(".ovvoc.yml: not read"));
  CHECK(p->source == PolicySource::kDefaults);
  CHECK(p->entries[0].open_pull_requests_limit == 5);
}

TEST_CASE("unknown keys are warnings with file and line") {
  Policy p = Ovvoc(
      "updates:\n  - directory: /\n    foo: 1\n    groups:\n      g:\n"
      "        patterns: [a]\n        colour: red\n");
  REQUIRE(p.diagnostics.size() == 2);
  CHECK_FALSE(p.HasErrors());
  CHECK(p.diagnostics[0].ToString() == ".ovvoc.yml:3: unknown key \"foo\" in updates[0]");
  CHECK(p.diagnostics[1].ToString() ==
        ".ovvoc.yml:7: unknown key \"colour\" in updates[0].groups.\"g\"");
  CHECK(p.entries[0].groups.size() == 1);
}

TEST_CASE("wrong types and values are errors with line and column, and the key keeps its default") {
  Policy p = Ovvoc(
      "open-pull-requests-limit: five\n"
      "labels: deps\n"
      "versioning-strategy: sideways\n"
      "cooldown:\n  default-days: 91\n  semver-major-days: \"30\"\n"
      "target-branch: \"-x\"\n"
      "node: soon\n"
      "directory: ../elsewhere\n"
      "commit-message: {prefix: " +
      std::string(51, 'p') + "}\n");
  const std::string all = Diagnostics(p);
  INFO(all);
  CHECK(p.HasErrors());
  CHECK_THAT(all, Catch::Contains(
                      ".ovvoc.yml:1:27: open-pull-requests-limit: expected a whole number, found "
                      "\"five\""));
  CHECK_THAT(all, Catch::Contains(".ovvoc.yml:2:9: labels: expected a list, found \"deps\""));
  CHECK_THAT(all,
             Catch::Contains(".ovvoc.yml:3:22: versioning-strategy: \"sideways\" is not one "
                             "of auto, increase, increase-if-necessary, widen, lockfile-only"));
  CHECK_THAT(all, Catch::Contains(".ovvoc.yml:5:17: cooldown.default-days: 91 is not between 0 "
                                  "and 90"));
  CHECK_THAT(all, Catch::Contains(".ovvoc.yml:6:22: cooldown.semver-major-days: expected a whole "
                                  "number"));
  CHECK_THAT(all, Catch::Contains("target-branch: \"-x\" is not a valid branch name"));
  CHECK_THAT(all, Catch::Contains("node: \"soon\" is not a node version or range"));
  CHECK_THAT(all, Catch::Contains("directory: \"../elsewhere\" is not a directory"));
  CHECK_THAT(all, Catch::Contains("commit-message.prefix: longer than 50 bytes"));
  const PolicyEntry& e = p.entries[0];
  CHECK(e.open_pull_requests_limit == 5);
  CHECK_FALSE(e.labels.has_value());
  CHECK(e.versioning_strategy == VersioningStrategy::kAuto);
  CHECK(e.cooldown.default_days == 3);
  CHECK_FALSE(e.cooldown.semver_major_days.has_value());
  CHECK(e.target_branch.empty());
  CHECK(e.node.empty());
  CHECK(e.directories == std::vector<std::string>{"/"});
}

TEST_CASE("an ignore rule with a bad version ignores every version: the safe side") {
  Policy p = Ovvoc(
      "ignore:\n  - dependency-name: eslint\n    versions: [\">=9\", \"not a range\"]\n"
      "  - versions: [\"1.x\"]\n");
  CHECK_THAT(Diagnostics(p), Catch::Contains("\"not a range\" is not an npm range") &&
                                 Catch::Contains("ignore[1]: needs dependency-name"));
  REQUIRE(p.entries[0].ignore.size() == 1);
  CHECK(IgnoreReason(p.entries[0], "eslint", "8.0.1", UPDATE_TYPE_PATCH).has_value());
}

TEST_CASE("schedule: validated and kept for the control plane") {
  Policy good = Ovvoc("schedule: {interval: cron, cronjob: \"0 9 * * 1-5\"}\n");
  INFO(Diagnostics(good));
  CHECK(good.diagnostics.empty());
  CHECK(good.entries[0].schedule->cronjob == "0 9 * * 1-5");
  CHECK(Ovvoc("schedule: {interval: cron, cronjob: every day at 5pm}\n").diagnostics.empty());
  CHECK(Ovvoc("schedule: {interval: weekly, day: sunday, time: \"23:59\", timezone: UTC}\n")
            .diagnostics.empty());

  for (const char* bad :
       {"schedule: {interval: cron}\n", "schedule: {interval: hourly}\n",
        "schedule: {day: monday}\n", "schedule: {interval: daily, time: \"24:00\"}\n",
        "schedule: {interval: daily, timezone: ../../../etc/passwd}\n",
        "schedule: {interval: daily, timezone: /etc/localtime}\n",
        "schedule: {interval: daily, timezone: Mars/Olympus_Mons}\n",
        "schedule: {interval: cron, cronjob: \"61 * * * *\"}\n"}) {
    Policy p = Ovvoc(bad);
    INFO(bad << Diagnostics(p));
    CHECK(p.HasErrors());
    CHECK_FALSE(p.entries[0].schedule.has_value());
  }
  CHECK_THAT(Diagnostics(Ovvoc("schedule: {interval: daily, day: monday}\n")),
             Catch::Contains("day is used only with interval: weekly"));
}

TEST_CASE("registries: locations only, and secrets do not belong in .ovvoc.yml") {
  Policy p = Ovvoc(
      "registries:\n  corp:\n    url: https://npm.corp\n    token: abc\n"
      "registries-of-entry-are-below: 0\n");
  CHECK_THAT(Diagnostics(p), Catch::Contains(".ovvoc.yml:4:5: registries.\"corp\".token: "
                                             "credentials do not belong in the repository"));
  Policy unknown = Ovvoc("registries: [nope]\n");
  CHECK_THAT(Diagnostics(unknown), Catch::Contains("\"nope\" is not defined"));
  Policy dependabot = Dependabot(R"y(version: 2
registries:
  npm-gh:
    type: npm-registry
    url: https://npm.pkg.github.com
    token: ${{secrets.GH_TOKEN}}
updates:
  - package-ecosystem: npm
    directory: /
    schedule: {interval: daily}
    registries: "*"
)y");
  INFO(Diagnostics(dependabot));
  CHECK(dependabot.diagnostics.empty());
  REQUIRE(dependabot.registries.size() == 1);
  CHECK(dependabot.registries[0].token_name.empty());  // the secret reference is not kept
  CHECK(dependabot.entries[0].registries == std::vector<std::string>{"*"});
}

TEST_CASE("YAML merge keys and anchors are read, duplicate keys are errors") {
  Policy p = Ovvoc(R"y(defaults: &defaults
  cooldown: {default-days: 9}
  labels: [a]
updates:
  - <<: *defaults
    directory: /a
    labels: [b]
)y");
  // "defaults" is not an entry key: with updates: it is an error at the top level.
  CHECK_THAT(Diagnostics(p), Catch::Contains("\"defaults\" at the top level"));
  REQUIRE(p.entries.size() == 1);
  CHECK(p.entries[0].cooldown.default_days == 9);
  CHECK(p.entries[0].labels == std::vector<std::string>{"b"});  // the entry's own key wins

  Policy dup = Ovvoc("labels: [a]\nlabels: [b]\n");
  CHECK_THAT(Diagnostics(dup), Catch::Contains(".ovvoc.yml:2:1: duplicate key \"labels\""));
  CHECK(dup.entries[0].labels == std::vector<std::string>{"a"});
}

TEST_CASE("malformed YAML is one error where yaml-cpp stopped") {
  Policy p = Ovvoc("updates:\n  - directory: /\n    labels: [a, b\n");
  REQUIRE(p.diagnostics.size() == 1);
  CHECK(p.HasErrors());
  CHECK(p.diagnostics[0].line > 0);
  CHECK(p.diagnostics[0].column > 0);
  CHECK(p.entries.size() == 1);  // the defaults
  CHECK(Ovvoc("[1, 2]").HasErrors());
  CHECK(Ovvoc("\"just a string\"").HasErrors());
}

TEST_CASE("hostile YAML: an anchor bomb, a wide alias list, deep nesting, a huge file") {
  // Nine levels of ten aliases each: 10^9 strings if anything expanded them.
  std::string bomb = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i <= 9; ++i) {
    absl::StrAppend(&bomb, "a", i, ": &a", i, " [");
    for (int j = 0; j < 10; ++j) absl::StrAppend(&bomb, j ? ", " : "", "*a", i - 1);
    absl::StrAppend(&bomb, "]\n");
  }
  for (const char* use : {"labels", "directories", "test", "ignore", "allow"}) {
    Policy p = Ovvoc(absl::StrCat(bomb, use, ": *a9\n"));
    CHECK(p.HasErrors());
    CHECK(p.diagnostics.size() <= kMaxPolicyDiagnostics + 1);
  }
  Policy in_groups = Ovvoc(absl::StrCat(bomb, "groups: {g: {patterns: *a9}, h: *a9}\n"));
  CHECK(in_groups.HasErrors());
  CHECK(in_groups.entries[0].groups.empty());

  // Every use of an alias counts: 30,000 uses of one string exceed the node budget.
  std::string wide = "s: &s x\nlabels: [";
  for (int i = 0; i < 30000; ++i) absl::StrAppend(&wide, i ? "," : "", "*s");
  absl::StrAppend(&wide, "]\n");
  REQUIRE(wide.size() < kMaxPolicyBytes);
  Policy budget = Ovvoc(wide);
  CHECK_THAT(Diagnostics(budget), Catch::Contains("more than 20000 YAML nodes"));

  Policy deep = Ovvoc(std::string(200000, '['));
  CHECK(deep.HasErrors());
  Policy huge = Ovvoc(std::string(kMaxPolicyBytes + 1, '#'));
  CHECK_THAT(Diagnostics(huge), Catch::Contains("larger than 262144 bytes"));
}

TEST_CASE("globs are Dependabot's: `*` is any run, case is ignored") {
  CHECK(GlobMatch("*", "@scope/anything"));
  CHECK(GlobMatch("@types/*", "@types/node"));
  CHECK(GlobMatch("eslint*", "eslint"));
  CHECK(GlobMatch("eslint*", "eslint-plugin-react"));
  CHECK(GlobMatch("React", "react"));
  CHECK(GlobMatch("a*b*c", "abbbbc"));
  CHECK(GlobMatch("*-loader", "css-loader"));
  CHECK_FALSE(GlobMatch("eslint", "eslint-plugin-react"));
  CHECK_FALSE(GlobMatch("@types/*", "types/node"));
  CHECK_FALSE(GlobMatch("a*b*c", "abbbbcd"));
  CHECK(GlobMatch(std::string(100, '*') + "x", std::string(200, 'a') + "x"));
}

TEST_CASE("allow: name and type must both match one rule") {
  Policy p = Ovvoc(
      "allow:\n  - dependency-name: \"react*\"\n    dependency-type: production\n"
      "  - dependency-type: development\n");
  const PolicyEntry& e = p.entries[0];
  CHECK(Allows(e, "react-dom", DEPENDENCY_KIND_PROD));
  CHECK(Allows(e, "react-dom", DEPENDENCY_KIND_OPTIONAL));  // optional is production, as npm's
  CHECK_FALSE(Allows(e, "lodash", DEPENDENCY_KIND_PROD));
  CHECK(Allows(e, "jest", DEPENDENCY_KIND_DEV));
  CHECK(Allows(e, "typescript", DEPENDENCY_KIND_PEER));  // Dependabot: peer is not production
  CHECK_FALSE(Allows(e, "jest", DEPENDENCY_KIND_DEV, /*direct=*/false));
  Policy indirect = Ovvoc("allow: [{dependency-type: indirect}]\n");
  CHECK(Allows(indirect.entries[0], "x", DEPENDENCY_KIND_PROD, /*direct=*/false));
  CHECK_FALSE(Allows(indirect.entries[0], "x", DEPENDENCY_KIND_PROD));
}

TEST_CASE("ignore: names, npm version ranges and update types, each citing its rule") {
  Policy p = Ovvoc(R"y(ignore:
  - dependency-name: eslint
    versions: [">=9"]
  - dependency-name: "@types/*"
    update-types: [version-update:semver-major, version-update:semver-minor]
  - dependency-name: left-pad
)y");
  const PolicyEntry& e = p.entries[0];
  CHECK(IgnoreReason(e, "eslint", "9.1.0", UPDATE_TYPE_MAJOR) ==
        "ignored by .ovvoc.yml:2: \"eslint\" versions >=9");
  CHECK(IgnoreReason(e, "eslint", "10.0.0-beta.1", UPDATE_TYPE_MAJOR).has_value());
  CHECK_FALSE(IgnoreReason(e, "eslint", "8.57.1", UPDATE_TYPE_MINOR));
  CHECK(IgnoreReason(e, "@types/node", "22.0.0", UPDATE_TYPE_MAJOR) ==
        "ignored by .ovvoc.yml:4: \"@types/*\" version-update:semver-major");
  CHECK_FALSE(IgnoreReason(e, "@types/node", "20.11.2", UPDATE_TYPE_PATCH));
  CHECK(IgnoreReason(e, "left-pad", "1.3.1", UPDATE_TYPE_PATCH) ==
        "ignored by .ovvoc.yml:6: \"left-pad\" (every version)");
  CHECK_FALSE(IgnoreReason(e, "lodash", "5.0.0", UPDATE_TYPE_MAJOR));
}

TEST_CASE("cooldown: days per update type, include and exclude as Dependabot's") {
  Policy p = Ovvoc(R"y(cooldown:
  default-days: 5
  semver-major-days: 30
  include: ["@aws-sdk/*", react]
  exclude: [react]
)y");
  const PolicyEntry& e = p.entries[0];
  CHECK(CooldownDays(e, "@aws-sdk/client-s3", UPDATE_TYPE_MAJOR) == 30);
  CHECK(CooldownDays(e, "@aws-sdk/client-s3", UPDATE_TYPE_MINOR) == 5);  // unset: default-days
  CHECK(CooldownDays(e, "@aws-sdk/client-s3", UPDATE_TYPE_PATCH) == 5);
  CHECK(CooldownDays(e, "react", UPDATE_TYPE_MAJOR) == 0);   // exclude wins over include
  CHECK(CooldownDays(e, "lodash", UPDATE_TYPE_MAJOR) == 0);  // not included
  Policy off = Ovvoc("cooldown: {default-days: 0}\n");
  CHECK(CooldownDays(off.entries[0], "x", UPDATE_TYPE_PATCH) == 0);
  Policy only_major = Ovvoc("cooldown: {semver-major-days: 14}\n");
  CHECK(CooldownDays(only_major.entries[0], "x", UPDATE_TYPE_MAJOR) == 14);
  CHECK(CooldownDays(only_major.entries[0], "x", UPDATE_TYPE_MINOR) == 3);  // Ovvoc's default
}

TEST_CASE("groups: the first matching group, by patterns, type, update type and applies-to") {
  Policy p = Ovvoc(R"y(groups:
  dev:
    dependency-type: development
    update-types: [minor, patch]
  aws:
    patterns: ["@aws-sdk/*"]
    exclude-patterns: ["@aws-sdk/client-s3"]
  everything-security:
    applies-to: security-updates
    patterns: ["*"]
  broken:
    update-types: [huge]
  empty: {}
)y");
  CHECK_THAT(Diagnostics(p), Catch::Contains("\"huge\" is not one of major, minor, patch") &&
                                 Catch::Contains("needs patterns, exclude-patterns"));
  const PolicyEntry& e = p.entries[0];
  REQUIRE(e.groups.size() == 3);  // the broken ones are left out
  auto group = [&](const char* name, ovvoc::v1::DependencyKind kind, ovvoc::v1::UpdateType type,
                   bool security = false) {
    const Group* g = GroupOf(e, name, kind, type, security);
    return g == nullptr ? std::string("(none)") : g->name;
  };
  CHECK(group("jest", DEPENDENCY_KIND_DEV, UPDATE_TYPE_MINOR) == "dev");
  CHECK(group("jest", DEPENDENCY_KIND_DEV, UPDATE_TYPE_MAJOR) == "(none)");
  CHECK(group("@aws-sdk/client-ec2", DEPENDENCY_KIND_PROD, UPDATE_TYPE_MAJOR) == "aws");
  CHECK(group("@aws-sdk/client-ec2", DEPENDENCY_KIND_DEV, UPDATE_TYPE_PATCH) == "dev");  // first
  CHECK(group("@aws-sdk/client-s3", DEPENDENCY_KIND_PROD, UPDATE_TYPE_MINOR) == "(none)");
  CHECK(group("lodash", DEPENDENCY_KIND_PROD, UPDATE_TYPE_PATCH, true) == "everything-security");
  CHECK(group("jest", DEPENDENCY_KIND_DEV, UPDATE_TYPE_MINOR, true) == "everything-security");
}

TEST_CASE("the entry for a manifest's directory: directory, then directories globs") {
  Policy p = Ovvoc(R"y(updates:
  - directory: /
    labels: [root]
  - directories: ["/packages/*", "apps/**"]
    labels: [nested]
)y");
  CHECK(EntryFor(p, "/") == &p.entries[0]);
  CHECK(EntryFor(p, ".") == &p.entries[0]);
  CHECK(EntryFor(p, "packages/web") == &p.entries[1]);
  CHECK(EntryFor(p, "/apps/a/b/") == &p.entries[1]);
  CHECK(EntryFor(p, "apps") == &p.entries[1]);
  CHECK(EntryFor(p, "packages/web/sub") == nullptr);
  CHECK(EntryFor(p, "other") == nullptr);
  CHECK(EntryFor(p, "../x") == nullptr);
}

TEST_CASE("the policy for people and for programs") {
  Policy p = Ovvoc("labels: [\"\\e[31mred\"]\nfoo: 1\nopen-pull-requests-limit: -1\n");
  const std::string text = DescribePolicy(p);
  CHECK_THAT(text, Catch::Contains("policy: Ovvoc's defaults, then .ovvoc.yml"));
  CHECK_THAT(text, Catch::Contains("cooldown                  3 days (major 3, minor 3, patch 3)"));
  CHECK_THAT(text, Catch::Contains("\\x1b[31mred"));  // inert
  CHECK(text.find('\x1b') == std::string::npos);
  CHECK_THAT(text, Catch::Contains("warning: .ovvoc.yml:2: unknown key \"foo\""));
  CHECK_THAT(text, Catch::Contains("error: .ovvoc.yml:3:27: open-pull-requests-limit: -1 is not"));

  nlohmann::json json = nlohmann::json::parse(PolicyJson(p));
  CHECK(json["source"] == "ovvoc-file");
  CHECK(json["errors"] == true);
  CHECK(json["entries"][0]["cooldown"]["default-days"] == 3);
  CHECK(json["entries"][0]["labels"][0] == "\x1b[31mred");  // values as read, JSON-escaped
  CHECK(json["diagnostics"][0]["severity"] == "warning");
  CHECK(json["diagnostics"][1]["line"] == 3);
  CHECK(json["diagnostics"][1]["column"] == 27);
  CHECK(nlohmann::json::parse(PolicyJson(DefaultPolicy()))["source"] == "defaults");
}

}  // namespace
}  // namespace ovvoc::agent::npm
