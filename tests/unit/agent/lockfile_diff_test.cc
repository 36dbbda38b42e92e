#include "agent/npm/lockfile_diff.h"

#include <catch2/catch.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "agent/npm/project.h"

namespace ovvoc::agent::npm {
namespace {

using Names = std::vector<std::string>;

Lockfile Parse(const std::string& text) {
  std::vector<ProjectDiagnostic> diagnostics;
  std::optional<Lockfile> lock = ParseLockfile(text, "package-lock.json", diagnostics);
  REQUIRE(diagnostics.empty());
  REQUIRE(lock);
  return *lock;
}

std::string DependencyMap(const Names& names) {
  std::vector<std::string> fields;
  for (const std::string& name : names) fields.push_back(absl::StrCat("\"", name, "\": \"*\""));
  return absl::StrCat("{", absl::StrJoin(fields, ", "), "}");
}

// A registry package of a v2/v3 "packages" object at `key`, pinned as npm pins it.
std::string Entry(absl::string_view key, absl::string_view version, const Names& deps = {},
                  absl::string_view extra = "") {
  const std::string name(key.substr(key.rfind("node_modules/") + 13));
  return absl::StrCat(
      "\"", key, "\": {\"version\": \"", version, "\", \"resolved\": \"https://registry.npmjs.org/",
      name, "/-/", name, "-", version, ".tgz\", \"integrity\": \"sha512-", name, "-", version, "\"",
      deps.empty() ? "" : absl::StrCat(", \"dependencies\": ", DependencyMap(deps)), extra, "}");
}

// A lockfileVersion 3 of the project `app`, which depends on `root_deps`.
std::string V3(const Names& root_deps, const Names& entries, int version = 3) {
  return absl::StrCat("{\"name\": \"app\", \"lockfileVersion\": ", version,
                      ", \"requires\": true, \"packages\": {\"\": {\"name\": \"app\", "
                      "\"dependencies\": ",
                      DependencyMap(root_deps), "}", entries.empty() ? "" : ", ",
                      absl::StrJoin(entries, ", "), "}}");
}

absl::StatusOr<LockfileDiff> Verify(const std::string& before, const std::string& after,
                                    const std::vector<IntendedUpdate>& updates) {
  return VerifyLockfile(Parse(before), Parse(after), updates);
}

const std::vector<IntendedUpdate> kBumpA = {{"a", "", "1.1.0"}};

TEST_CASE("the parser keeps the names each entry and the root depend on") {
  const Lockfile v3 = Parse(R"({"lockfileVersion": 3, "packages": {
    "": {"name": "app", "dependencies": {"a": "^1"}, "devDependencies": {"d": "^1"},
         "optionalDependencies": {"o": "1"}, "peerDependencies": {"p": "1"}},
    "node_modules/a": {"version": "1.0.0", "dependencies": {"b": "^1"},
                       "optionalDependencies": {"c": "^1"}, "peerDependencies": {"e": "^1"},
                       "devDependencies": {"not-installed": "1"}},
    "packages/m": {"version": "0.1.0", "dependencies": {"a": "^1"},
                   "devDependencies": {"t": "^1"}},
    "node_modules/x": {"version": "1.0.0", "dependencies": ["not", "an", "object"]}}})");
  CHECK(v3.root_dependencies == Names{"a", "d", "o", "p"});
  REQUIRE(v3.packages.size() == 3);
  CHECK(v3.packages[0].dependencies == Names{"b", "c", "e"});
  CHECK(v3.packages[1].dependencies.empty());
  CHECK(v3.packages[2].dependencies == Names{"a", "t"});  // a member: npm installs its dev deps

  const Lockfile v1 = Parse(R"({"lockfileVersion": 1, "requires": true, "dependencies": {
    "a": {"version": "1.0.0", "requires": {"al": "npm:real@^1", "b": "^1"},
          "dependencies": {"b": {"version": "1.0.0", "requires": true}}}}})");
  CHECK(v1.root_dependencies.empty());
  REQUIRE(v1.packages.size() == 2);
  CHECK(v1.packages[0].dependencies == Names{"al", "b"});
  CHECK(v1.packages[1].dependencies.empty());
}

TEST_CASE("a simple bump changes one entry") {
  const std::string before =
      V3({"a", "b"}, {Entry("node_modules/a", "1.0.0"), Entry("node_modules/b", "1.0.0")});
  const std::string after =
      V3({"a", "b"}, {Entry("node_modules/a", "1.1.0"), Entry("node_modules/b", "1.0.0")});
  absl::StatusOr<LockfileDiff> diff = Verify(before, after, kBumpA);
  REQUIRE(diff.ok());
  CHECK(diff->changed == 1);
  CHECK(diff->added == 0);
  CHECK(diff->removed == 0);
  CHECK(diff->outside.empty());
  CHECK(diff->outside_total == 0);
  CHECK(diff->added_with_install_scripts.empty());
  // The same lockfile again: nothing changed, and the update must already hold.
  diff = Verify(after, after, kBumpA);
  REQUIRE(diff.ok());
  CHECK(diff->changed == 0);
}

TEST_CASE("a bump that adds a transitive package, with and without an install script") {
  const std::string before = V3({"a"}, {Entry("node_modules/a", "1.0.0")});
  const std::vector<IntendedUpdate> updates = {{"a", "", "2.0.0"}};
  absl::StatusOr<LockfileDiff> diff =
      Verify(before,
             V3({"a"}, {Entry("node_modules/a", "2.0.0", {"t"}), Entry("node_modules/t", "1.0.0")}),
             updates);
  REQUIRE(diff.ok());
  CHECK(diff->changed == 1);
  CHECK(diff->added == 1);
  CHECK(diff->outside.empty());
  CHECK(diff->added_with_install_scripts.empty());

  diff = Verify(before,
                V3({"a"}, {Entry("node_modules/a", "2.0.0", {"t"}),
                           Entry("node_modules/t", "1.0.0", {}, ", \"hasInstallScript\": true")}),
                updates);
  REQUIRE(diff.ok());
  CHECK(diff->added == 1);
  CHECK(diff->added_with_install_scripts == Names{"t@1.0.0"});
  CHECK(diff->install_scripts_total == 1);
  CHECK(diff->outside.empty());
}

TEST_CASE("a bump that drops a transitive package") {
  absl::StatusOr<LockfileDiff> diff =
      Verify(V3({"a"}, {Entry("node_modules/a", "1.0.0", {"t"}), Entry("node_modules/t", "1.0.0")}),
             V3({"a"}, {Entry("node_modules/a", "1.1.0")}), kBumpA);
  REQUIRE(diff.ok());
  CHECK(diff->changed == 1);
  CHECK(diff->removed == 1);
  CHECK(diff->outside.empty());
}

TEST_CASE("hoisting: a nested copy that moves to the top is explained, a swapped one is not") {
  // b needs x@2, nested under it while a@1 holds the top with x@1. a@2 needs x@2 too: npm
  // places x@2 at the top and prunes b's copy, which b no longer needs.
  const std::string before =
      V3({"a", "b"},
         {Entry("node_modules/a", "1.0.0", {"x"}), Entry("node_modules/b", "1.0.0", {"x"}),
          Entry("node_modules/b/node_modules/x", "2.0.0"), Entry("node_modules/x", "1.0.0")});
  const std::vector<IntendedUpdate> updates = {{"a", "", "2.0.0"}};
  absl::StatusOr<LockfileDiff> diff = Verify(
      before,
      V3({"a", "b"}, {Entry("node_modules/a", "2.0.0", {"x"}),
                      Entry("node_modules/b", "1.0.0", {"x"}), Entry("node_modules/x", "2.0.0")}),
      updates);
  REQUIRE(diff.ok());
  CHECK(diff->changed == 2);
  CHECK(diff->removed == 1);
  CHECK(diff->outside.empty());

  // Positive control: b's copy pruned, but what b now finds at the top is another version.
  diff = Verify(
      before,
      V3({"a", "b"}, {Entry("node_modules/a", "2.0.0", {"x"}),
                      Entry("node_modules/b", "1.0.0", {"x"}), Entry("node_modules/x", "2.0.1")}),
      {{"a", "", "2.0.0"}});
  REQUIRE(diff.ok());
  CHECK(diff->outside == Names{"node_modules/b/node_modules/x"});

  // The other way: a@2 takes the top with x@3, and x@1 moves under c, which still needs it.
  const std::string shared =
      V3({"a", "c"}, {Entry("node_modules/a", "1.0.0", {"x"}),
                      Entry("node_modules/c", "1.0.0", {"x"}), Entry("node_modules/x", "1.0.0")});
  diff = Verify(
      shared,
      V3({"a", "c"},
         {Entry("node_modules/a", "2.0.0", {"x"}), Entry("node_modules/c", "1.0.0", {"x"}),
          Entry("node_modules/c/node_modules/x", "1.0.0"), Entry("node_modules/x", "3.0.0")}),
      updates);
  REQUIRE(diff.ok());
  CHECK(diff->added == 1);
  CHECK(diff->changed == 2);
  CHECK(diff->outside.empty());
}

// A workspace `m` in packages/m: it depends on x@2 (nested under it: the root holds x@1) and y
// (hoisted to the root's node_modules).
std::string Workspace(absl::string_view nested_x, absl::string_view y) {
  return V3({"x"},
            {R"("node_modules/m": {"resolved": "packages/m", "link": true})",
             Entry("node_modules/x", "1.0.0"), Entry("node_modules/y", y),
             R"("packages/m": {"name": "m", "version": "0.1.0",
                         "dependencies": {"x": "^2.0.0", "y": "^1.0.0"},
                         "devDependencies": {"z": "^1.0.0"}})",
             Entry("packages/m/node_modules/x", nested_x), Entry("node_modules/z", "1.0.0")});
}

TEST_CASE("a workspace member's dependency: its own node_modules first, then the root's") {
  absl::StatusOr<LockfileDiff> diff = Verify(
      Workspace("2.0.0", "1.0.0"), Workspace("2.1.0", "1.0.0"), {{"x", "packages/m", "2.1.0"}});
  REQUIRE(diff.ok());
  CHECK(diff->changed == 1);
  CHECK(diff->outside.empty());

  // The root's x is another entry, still at 1.0.0.
  diff = Verify(Workspace("2.0.0", "1.0.0"), Workspace("2.1.0", "1.0.0"), {{"x", "", "2.1.0"}});
  REQUIRE_FALSE(diff.ok());
  CHECK(diff.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(diff.status().message()),
             Catch::Contains("at 1.0.0 (node_modules/x), not 2.1.0"));

  // y is hoisted: the member finds it at the root.
  diff = Verify(Workspace("2.0.0", "1.0.0"), Workspace("2.0.0", "1.1.0"),
                {{"y", "packages/m", "1.1.0"}});
  REQUIRE(diff.ok());
  CHECK(diff->changed == 1);
  CHECK(diff->outside.empty());
}

std::string Aliased(absl::string_view version) {
  return V3({"al"},
            {absl::StrCat(R"("node_modules/al": {"name": "real", "version": ")", version,
                          R"(", "resolved": "https://registry.npmjs.org/real/-/real-)", version,
                          R"(.tgz", "integrity": "sha512-real-)", version, "\"}")});
}

TEST_CASE("an alias is found by its own name and holds its target's version") {
  absl::StatusOr<LockfileDiff> diff =
      Verify(Aliased("1.0.0"), Aliased("2.0.0"), {{"al", "", "2.0.0"}});
  REQUIRE(diff.ok());
  CHECK(diff->changed == 1);
  CHECK(diff->outside.empty());
  // By the target's name, nothing is installed.
  diff = Verify(Aliased("1.0.0"), Aliased("2.0.0"), {{"real", "", "2.0.0"}});
  REQUIRE_FALSE(diff.ok());
  CHECK_THAT(std::string(diff.status().message()),
             Catch::Contains("real (package.json) is not in the new package-lock.json"));
}

TEST_CASE("the intended version not reached: refused, named, quoted inert") {
  absl::StatusOr<LockfileDiff> diff =
      Verify(V3({"a"}, {Entry("node_modules/a", "1.0.0")}),
             V3({"a"}, {Entry("node_modules/a", "1.0.5\\u001b]0;owned\\u0007")}), kBumpA);
  REQUIRE_FALSE(diff.ok());
  CHECK(diff.status().code() == absl::StatusCode::kFailedPrecondition);
  const std::string message(diff.status().message());
  CHECK_THAT(message, Catch::Contains("holds a (package.json) at 1.0.5\\x1b]0;owned\\x07 "
                                      "(node_modules/a), not 1.1.0"));
  CHECK_FALSE(absl::StrContains(message, "\x1b"));

  diff = Verify(V3({"a"}, {Entry("node_modules/a", "1.0.0")}), V3({"a"}, {}), kBumpA);
  REQUIRE_FALSE(diff.ok());
  CHECK_THAT(std::string(diff.status().message()), Catch::Contains("a (package.json) is not in"));

  CHECK(Verify(V3({}, {}), V3({}, {}), {{"", "", "1.0.0"}}).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("a changed lockfileVersion is refused") {
  absl::StatusOr<LockfileDiff> diff =
      Verify(V3({"a"}, {Entry("node_modules/a", "1.0.0")}),
             V3({"a"}, {Entry("node_modules/a", "1.1.0")}, /*version=*/2), kBumpA);
  REQUIRE_FALSE(diff.ok());
  CHECK(diff.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(diff.status().message()),
             Catch::Contains("has lockfileVersion 2 where package-lock.json had 3"));
}

TEST_CASE("a registry package without integrity or resolved is refused") {
  const std::string before =
      V3({"a", "b"}, {Entry("node_modules/a", "1.0.0"), Entry("node_modules/b", "1.0.0")});
  // npm dropped b's integrity, b otherwise unchanged.
  absl::StatusOr<LockfileDiff> diff =
      Verify(before,
             V3({"a", "b"}, {Entry("node_modules/a", "1.1.0"),
                             R"("node_modules/b": {"version": "1.0.0",
                          "resolved": "https://registry.npmjs.org/b/-/b-1.0.0.tgz"})"}),
             kBumpA);
  REQUIRE_FALSE(diff.ok());
  CHECK(diff.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(diff.status().message()),
             Catch::Contains("node_modules/b (b@1.0.0) has no integrity"));

  // A new transitive package without resolved.
  const std::string bare_t = R"("node_modules/t": {"version": "1.0.0", "integrity": "sha512-t"})";
  diff = Verify(before,
                V3({"a", "b"}, {Entry("node_modules/a", "1.1.0", {"t"}),
                                Entry("node_modules/b", "1.0.0"), bare_t}),
                kBumpA);
  REQUIRE_FALSE(diff.ok());
  CHECK_THAT(std::string(diff.status().message()),
             Catch::Contains("node_modules/t (t@1.0.0) has no resolved"));

  // ... which a project with omit-lockfile-registry-resolved writes everywhere: accepted.
  const std::string unresolved_b =
      R"("node_modules/b": {"version": "1.0.0", "integrity": "sha512-b"})";
  diff = Verify(V3({"a", "b"}, {Entry("node_modules/a", "1.0.0"), unresolved_b}),
                V3({"a", "b"}, {Entry("node_modules/a", "1.1.0", {"t"}), unresolved_b, bare_t}),
                kBumpA);
  REQUIRE(diff.ok());
  CHECK(diff->added == 1);

  // Git dependencies, bundled packages and links carry no integrity.
  diff = Verify(
      before,
      V3({"a", "b"},
         {Entry("node_modules/a", "1.1.0", {"g", "in", "l"}), Entry("node_modules/b", "1.0.0"),
          R"("node_modules/g": {"version": "1.0.0",
                         "resolved": "git+ssh://git@github.com/o/g.git#0123abcd"})",
          R"("node_modules/a/node_modules/in": {"version": "1.0.0", "inBundle": true})",
          R"("node_modules/l": {"resolved": "lib/l", "link": true})",
          R"("lib/l": {"version": "0.0.1"})"}),
      kBumpA);
  REQUIRE(diff.ok());
  CHECK(diff->added == 4);
  CHECK(diff->outside.empty());
}

TEST_CASE("an unrelated package that changed is reported outside, not refused") {
  absl::StatusOr<LockfileDiff> diff = Verify(
      V3({"a", "u"}, {Entry("node_modules/a", "1.0.0"), Entry("node_modules/u", "1.0.0")}),
      V3({"a", "u"}, {Entry("node_modules/a", "1.1.0"), Entry("node_modules/u", "1.0.1")}), kBumpA);
  REQUIRE(diff.ok());
  CHECK(diff->changed == 2);
  CHECK(diff->outside == Names{"node_modules/u"});
  CHECK(diff->outside_total == 1);

  // Dependencies added to an untouched package, to pull in a new one: both reported.
  diff =
      Verify(V3({"a", "u"}, {Entry("node_modules/a", "1.0.0"), Entry("node_modules/u", "1.0.0")}),
             V3({"a", "u"}, {Entry("node_modules/a", "1.1.0"), Entry("node_modules/evil", "6.6.6"),
                             Entry("node_modules/u", "1.0.0", {"evil"})}),
             kBumpA);
  REQUIRE(diff.ok());
  CHECK(diff->outside == Names{"node_modules/evil", "node_modules/u"});
  CHECK(diff->changed == 2);  // u's dependencies are part of what it is
  CHECK(diff->added == 1);
}

std::string V1Entry(absl::string_view name, absl::string_view version, const Names& required,
                    absl::string_view nested = "") {
  return absl::StrCat(
      "\"", name, "\": {\"version\": \"", version,
      "\", \"resolved\": \"https://registry.npmjs.org/", name, "/-/", name, "-", version,
      ".tgz\", \"integrity\": \"sha512-", name, "-", version, "\"",
      required.empty() ? "" : absl::StrCat(", \"requires\": ", DependencyMap(required)),
      nested.empty() ? "" : absl::StrCat(", \"dependencies\": {", nested, "}"), "}");
}

std::string V1(const Names& entries) {
  return absl::StrCat(
      R"({"name": "app", "lockfileVersion": 1, "requires": true, "dependencies": {)",
      absl::StrJoin(entries, ", "), "}}");
}

TEST_CASE("lockfile v1: requires and nested dependencies, the same semantics") {
  const std::string b = V1Entry("b", "1.0.0", {"t"}, V1Entry("t", "2.0.0", {}));
  const std::string before = V1({V1Entry("a", "1.0.0", {"t"}), b, V1Entry("t", "1.0.0", {})});
  absl::StatusOr<LockfileDiff> diff =
      Verify(before, V1({V1Entry("a", "1.1.0", {"t"}), b, V1Entry("t", "1.1.0", {})}), kBumpA);
  REQUIRE(diff.ok());
  CHECK(diff->changed == 2);
  CHECK(diff->outside.empty());

  // b's own copy changed too: b is not a's.
  diff = Verify(
      before,
      V1({V1Entry("a", "1.1.0", {"t"}), V1Entry("b", "1.0.0", {"t"}, V1Entry("t", "2.0.1", {})),
          V1Entry("t", "1.1.0", {})}),
      kBumpA);
  REQUIRE(diff.ok());
  CHECK(diff->outside == Names{"node_modules/b/node_modules/t"});
}

TEST_CASE("a 5,000-package lockfile verifies whole") {
  auto lockfile = [](absl::string_view a_version) {
    Names entries = {Entry("node_modules/a", a_version, {"p0"})};
    for (int i = 0; i < 5000; ++i) {
      Names deps;
      for (int j = i + 1; j <= i + 5 && j < 5000; ++j) deps.push_back(absl::StrCat("p", j));
      entries.push_back(Entry(absl::StrCat("node_modules/p", i), "1.0.0", deps));
    }
    return V3({"a"}, entries);
  };
  absl::StatusOr<LockfileDiff> diff = Verify(lockfile("1.0.0"), lockfile("1.1.0"), kBumpA);
  REQUIRE(diff.ok());
  CHECK(diff->changed == 1);
}

TEST_CASE("hostile: a cycle of 10,000 new packages explains nothing by itself") {
  constexpr int kCycle = 10'000;
  auto lockfile = [](const Names& a_deps) {
    Names entries = {Entry("node_modules/a", "1.1.0", a_deps)};
    for (int i = 0; i < kCycle; ++i) {
      entries.push_back(Entry(absl::StrCat("node_modules/p", i), "1.0.0",
                              {absl::StrCat("p", (i + 1) % kCycle), absl::StrCat("p", i)},
                              ", \"hasInstallScript\": true"));
    }
    return V3({"a"}, entries);
  };
  const std::string before = V3({"a"}, {Entry("node_modules/a", "1.0.0")});
  // Reached from the update: all of them its own.
  absl::StatusOr<LockfileDiff> diff = Verify(before, lockfile({"p0"}), kBumpA);
  REQUIRE(diff.ok());
  CHECK(diff->added == kCycle);
  CHECK(diff->outside_total == 0);
  CHECK(diff->install_scripts_total == kCycle);
  CHECK(diff->added_with_install_scripts.size() == kMaxDiffListed);

  // Not reached: each has a dependent, itself new, and none is a move.
  diff = Verify(before, lockfile({}), kBumpA);
  REQUIRE(diff.ok());
  CHECK(diff->outside_total == kCycle);
  CHECK(diff->outside.size() == kMaxDiffListed);
  CHECK(diff->outside.front() == "node_modules/p0");
}

TEST_CASE("hostile: a deep chain that would take quadratic lookups is refused") {
  // Each of `kLevels` nested copies of a depends on `kNames` names found nowhere: npm's lookup
  // walks every level up to the root for each.
  constexpr int kLevels = 1200;
  constexpr int kNames = 64;
  Lockfile before{"package-lock.json", 3, {}};
  before.packages.push_back(LockedEntry{.key = "node_modules/a",
                                        .name = "a",
                                        .version = "1.0.0",
                                        .resolved = "https://r/a",
                                        .integrity = "sha512-a"});
  Lockfile after = before;
  after.packages.clear();
  std::string key = "node_modules/a";
  for (int level = 0; level < kLevels; ++level) {
    LockedEntry e{.key = key,
                  .name = "a",
                  .version = level == 0 ? "2.0.0" : "1.0.0",
                  .resolved = "https://r/a",
                  .integrity = "sha512-a"};
    e.dependencies.push_back("a");
    for (int i = 0; i < kNames; ++i) e.dependencies.push_back(absl::StrCat("m", i));
    after.packages.push_back(std::move(e));
    key += "/node_modules/a";
  }
  // Positive control: unbounded, the lookups alone would be more than the budget.
  const uint64_t unbounded = uint64_t{kNames} * kLevels * (kLevels + 1) / 2;
  REQUIRE(unbounded > kMaxVerifyWork);
  absl::StatusOr<LockfileDiff> diff = VerifyLockfile(before, after, {{"a", "", "2.0.0"}});
  REQUIRE_FALSE(diff.ok());
  CHECK(diff.status().code() == absl::StatusCode::kResourceExhausted);

  // A tenth as deep: verified.
  after.packages.resize(kLevels / 10);
  diff = VerifyLockfile(before, after, {{"a", "", "2.0.0"}});
  REQUIRE(diff.ok());
  CHECK(diff->changed == 1);
  CHECK(diff->added == kLevels / 10 - 1);
  CHECK(diff->outside.empty());
}

TEST_CASE("the keys that differ: added, removed, or of another identity") {
  const Lockfile before =
      Parse(V3({"a", "b", "c"}, {Entry("node_modules/a", "1.0.0"), Entry("node_modules/b", "1.0.0"),
                                 Entry("node_modules/c", "1.0.0")}));
  const Lockfile after =
      Parse(V3({"a", "b", "d"}, {Entry("node_modules/a", "1.1.0"), Entry("node_modules/b", "1.0.0"),
                                 Entry("node_modules/d", "1.0.0")}));
  CHECK(DifferingKeys(before, after) ==
        std::set<std::string>{"node_modules/a", "node_modules/c", "node_modules/d"});
  CHECK(DifferingKeys(before, before).empty());
}

TEST_CASE("a kept package whose install script depends on a changed one is named") {
  constexpr absl::string_view kScript = ", \"hasInstallScript\": true";
  const Lockfile before =
      Parse(V3({"addon", "lib", "other", "tool"},
               {Entry("node_modules/addon", "1.0.0", {"lib"}, kScript),
                Entry("node_modules/lib", "1.0.0"), Entry("node_modules/other", "1.0.0"),
                Entry("node_modules/tool", "1.0.0", {"other"}, kScript)}));
  // lib changes: addon, kept and built against it, is named; tool depends on nothing changed.
  const Lockfile lib_bumped =
      Parse(V3({"addon", "lib", "other", "tool"},
               {Entry("node_modules/addon", "1.0.0", {"lib"}, kScript),
                Entry("node_modules/lib", "1.0.1"), Entry("node_modules/other", "1.0.0"),
                Entry("node_modules/tool", "1.0.0", {"other"}, kScript)}));
  CHECK(ScriptedDependentsOfChanges(before, lib_bumped) == Names{"node_modules/addon"});
  // addon itself changes too: npm runs its script again, nothing is named.
  const Lockfile both_bumped =
      Parse(V3({"addon", "lib", "other", "tool"},
               {Entry("node_modules/addon", "1.1.0", {"lib"}, kScript),
                Entry("node_modules/lib", "1.0.1"), Entry("node_modules/other", "1.0.0"),
                Entry("node_modules/tool", "1.0.0", {"other"}, kScript)}));
  CHECK(ScriptedDependentsOfChanges(before, both_bumped).empty());
  // Through a package in between (red team: a generator's script built through a middle
  // package that required the updated one).
  const Lockfile via_before =
      Parse(V3({"gen", "lib"},
               {Entry("node_modules/gen", "1.0.0", {"mid"}, kScript),
                Entry("node_modules/lib", "1.0.0"), Entry("node_modules/mid", "1.0.0", {"lib"})}));
  const Lockfile via_after =
      Parse(V3({"gen", "lib"},
               {Entry("node_modules/gen", "1.0.0", {"mid"}, kScript),
                Entry("node_modules/lib", "1.1.0"), Entry("node_modules/mid", "1.0.0", {"lib"})}));
  CHECK(ScriptedDependentsOfChanges(via_before, via_after) == Names{"node_modules/gen"});
  // A removed package counts as changed for its dependents.
  const Lockfile other_gone = Parse(V3(
      {"addon", "lib", "tool"},
      {Entry("node_modules/addon", "1.0.0", {"lib"}, kScript), Entry("node_modules/lib", "1.0.0"),
       Entry("node_modules/tool", "1.0.0", {"other"}, kScript)}));
  CHECK(ScriptedDependentsOfChanges(before, other_gone) == Names{"node_modules/tool"});
}

}  // namespace
}  // namespace ovvoc::agent::npm
