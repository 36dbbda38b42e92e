// agent/npm/range_update.h. Expectations are Dependabot's (dependabot-core,
// npm_and_yarn/spec/dependabot/npm_and_yarn/update_checker/requirements_updater_spec.rb, the
// contexts named above each group), except where the header says Ovvoc answers differently;
// those cases say so.
#include "agent/npm/range_update.h"

#include <catch2/catch.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/npm/semver.h"

namespace ovvoc::agent::npm {
namespace {

constexpr VersioningStrategy kIncrease = VersioningStrategy::kIncrease;
constexpr VersioningStrategy kIfNecessary = VersioningStrategy::kIncreaseIfNecessary;
constexpr VersioningStrategy kWiden = VersioningStrategy::kWiden;

struct Case {
  std::string range;
  std::string version;
  std::optional<std::string> increase, if_necessary, widen;  // nullopt: an error
};

std::optional<std::string> Updated(const std::string& range, const std::string& version,
                                   VersioningStrategy strategy) {
  absl::StatusOr<std::string> out = UpdateRange(range, version, strategy);
  if (!out.ok()) return std::nullopt;
  return *out;
}

void CheckCases(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    INFO("range \"" << c.range << "\" to " << c.version);
    CHECK(Updated(c.range, c.version, kIncrease) == c.increase);
    CHECK(Updated(c.range, c.version, kIfNecessary) == c.if_necessary);
    CHECK(Updated(c.range, c.version, kWiden) == c.widen);
  }
}

TEST_CASE("range update: exact and partial versions keep their form", "[range_update]") {
  // Spec contexts "when a full version was previously specified", "when v-prefix was
  // previously used", "when a partial version was previously specified", "when only the
  // major part was previously specified", each under BumpVersions, BumpVersionsIfNecessary
  // and WidenRanges.
  CheckCases({
      {"1.2.3", "1.5.0", "1.5.0", "1.5.0", "1.5.0"},
      {"v1.2.3", "1.5.0", "v1.5.0", "v1.5.0", "v1.5.0"},
      {"=1.2.3", "1.5.0", "=1.5.0", "=1.5.0", "=1.5.0"},
      {"= 1.2.3", "2.0.0", "= 2.0.0", "= 2.0.0", "= 2.0.0"},
      {"0.1", "1.5.0", "1.5", "1.5", "1.5"},
      {"1", "4.5.0", "4", "4", "4"},
      {"1.5.0", "1.5.0", "1.5.0", "1.5.0", "1.5.0"},
      // An exact pin that already is the version stays; one that is not is moved.
      {"1.2", "1.2.7", "1.2", "1.2", "1.2"},
      {"1", "1.9.0", "1", "1", "1"},
      // The version as npm prints it: a `v` on the new version is not written.
      {"1.2.3", "v2.0.0", "2.0.0", "2.0.0", "2.0.0"},
  });
}

TEST_CASE("range update: caret and tilde", "[range_update]") {
  CheckCases({
      // "when a caret was previously specified" (all three strategies), "when this version
      // doesn't satisfy", "when the latest version does not satisfy".
      {"^1.2.3", "1.5.0", "^1.5.0", "^1.2.3", "^1.2.3"},
      {"^v1.2.3", "1.5.0", "^v1.5.0", "^v1.2.3", "^v1.2.3"},
      {"^v0.2.3", "1.5.0", "^v1.5.0", "^v1.5.0", "^v1.5.0"},
      {"^0.8.0", "1.5.0", "^1.5.0", "^1.5.0", "^1.5.0"},
      {"^1.2.3", "2.0.0", "^2.0.0", "^2.0.0", "^2.0.0"},
      // The issue's example, and the precision of the written version: `^1.2` stays two parts.
      {"^1.2", "2.0.0", "^2.0", "^2.0", "^2.0"},
      {"^1.2", "2.3.1", "^2.3", "^2.3", "^2.3"},
      {"^1", "2.3.1", "^2", "^2", "^2"},
      {"^ 1.2.3", "2.0.0", "^ 2.0.0", "^ 2.0.0", "^ 2.0.0"},
      // "when dealing with a version that is all zeros".
      {"^0.0.0", "0.0.2", "^0.0.2", "^0.0.2", "^0.0.2"},
      // "when a tilde was previously specified", "when a ~> was previously specified".
      {"~2.5.1", "2.5.3", "~2.5.3", "~2.5.1", "~2.5.1"},
      {"~2.4.1", "2.5.3", "~2.5.3", "~2.5.3", "~2.5.3"},
      {"~>2.5.1", "2.5.3", "~>2.5.3", "~>2.5.1", "~>2.5.1"},
      {"~>2.4.1", "2.5.3", "~>2.5.3", "~>2.5.3", "~>2.5.3"},
      {"~1.2", "2.0.0", "~2.0", "~2.0", "~2.0"},
      // "when including a pre-release": kept when it allows the version, else the version whole.
      {"~2.5.1-rc1", "2.5.3", "~2.5.3", "~2.5.1-rc1", "~2.5.1-rc1"},
      {"^1.2.3-rc1", "1.5.0", "^1.5.0", "^1.2.3-rc1", "^1.2.3-rc1"},
      {"1.2.3-rc1", "1.5.0", "1.5.0", "1.5.0", "1.5.0"},
      {"1.2.3-beta", "1.2.3-beta.2", "1.2.3-beta.2", "1.2.3-beta.2", "1.2.3-beta.2"},
      // "when updating to a pre-release of a new major version".
      {"^1.0.0-beta1", "2.0.0-alpha", "^2.0.0-alpha", "^2.0.0-alpha", "^2.0.0-alpha"},
      {"^1.2", "2.0.0-rc.1", "^2.0.0-rc.1", "^2.0.0-rc.1", "^2.0.0-rc.1"},
      // Ovvoc, not Dependabot: npm's `^1.0.0` does not allow 1.5.0-beta (Dependabot's Ruby
      // reading says it does and keeps the range), so it is raised.
      {"^1.0.0", "1.5.0-beta", "^1.5.0-beta", "^1.5.0-beta", "^1.5.0-beta"},
  });
}

TEST_CASE("range update: x, X and * wildcards", "[range_update]") {
  CheckCases({
      // "when an x.x was previously specified", "when including an x" (caret and tilde),
      // "when dealing with the same file" (0.1.x).
      {"^0.x.x", "1.5.0", "^1.x.x", "^1.x.x", "^1.x.x"},
      {"0.x.x", "1.5.0", "1.x.x", "1.x.x", "1.x.x"},
      {"^0.0.x", "0.0.2", "^0.0.x", "^0.0.x", "^0.0.x"},
      {"^0.0.x", "0.2.0", "^0.2.x", "^0.2.x", "^0.2.x"},
      {"~2.x.x", "2.5.3", "~2.x.x", "~2.x.x", "~2.x.x"},
      {"~2.4.x", "2.5.3", "~2.5.x", "~2.5.x", "~2.5.x"},
      {"0.1.x", "1.5.0", "1.5.x", "1.5.x", "1.5.x"},
      // The issue's `1.x` -> `2.x`.
      {"1.x", "2.0.0", "2.x", "2.x", "2.x"},
      {"1.x", "1.4.0", "1.x", "1.x", "1.x"},
      // Only a lowercase x is kept (/^x\b/): `X` parts become numbers.
      {"1.X", "2.3.0", "2.3", "2.3", "2.3"},
      // `*` is not part of a version to Dependabot's VERSION_REGEX, so it stays after it.
      {"1.*", "2.3.0", "2.*", "2.*", "2.*"},
      {"1.2.*", "2.3.0", "2.3.*", "2.3.*", "2.3.*"},
      // A prerelease target replaces the whole version, wildcards included.
      {"1.x", "2.0.0-beta.1", "2.0.0-beta.1", "2.0.0-beta.1", "2.0.0-beta.1"},
  });
}

TEST_CASE("range update: any version", "[range_update]") {
  CheckCases({
      // "with just *" (BumpVersions and WidenRanges). A prerelease: npm's dep-valid takes a
      // spec of exactly "*" without asking semver, so "*" still installs it.
      {"*", "1.5.0", "*", "*", "*"},
      {"*", "2.0.0-rc.1", "*", "*", "*"},
      {"", "1.5.0", "", "", ""},
      {"   ", "1.5.0", "   ", "   ", "   "},
      // Dependabot takes a range starting with a letter other than v for a dist-tag.
      {"x", "1.5.0", "x", "x", "x"},
      {"X", "3.0.0", "X", "X", "X"},
      // "" does not allow a prerelease (npm asks semver for it) and Dependabot keeps it.
      {"", "2.0.0-rc.1", std::nullopt, std::nullopt, std::nullopt},
  });
}

TEST_CASE("range update: ranges with an upper bound", "[range_update]") {
  CheckCases({
      // "with a < condition", "when there were multiple range specifications", "when
      // requirement is already valid", "when including a pre-release" (BumpVersions and
      // WidenRanges).
      {"< 1.2.0", "1.5.0", "< 1.6.0", "< 1.6.0", "< 1.6.0"},
      {"> 1.0.0 < 1.2.0", "1.5.0", "> 1.0.0 < 1.6.0", "> 1.0.0 < 1.6.0", "> 1.0.0 < 1.6.0"},
      {"> 1.0.0 < 1.7.0", "1.5.0", "> 1.0.0 < 1.7.0", "> 1.0.0 < 1.7.0", "> 1.0.0 < 1.7.0"},
      {">=1.2.0 <1.4.0-dev", "1.5.0", ">=1.2.0 <1.6.0", ">=1.2.0 <1.6.0", ">=1.2.0 <1.6.0"},
      // "when a - was previously specified", "with a pre-release version".
      {"1.2.3 - 1.4.0", "1.5.0", "1.2.3 - 1.6.0", "1.2.3 - 1.6.0", "1.2.3 - 1.6.0"},
      {"1.2.3-rc1 - 1.4.0", "1.5.0", "1.2.3-rc1 - 1.6.0", "1.2.3-rc1 - 1.6.0", "1.2.3-rc1 - 1.6.0"},
      {"1.2.3 - 1.4.0", "2.0.0", "1.2.3 - 2.1.0", "1.2.3 - 2.1.0", "1.2.3 - 2.1.0"},
      {"1.0.0 - 1.0.0", "1.0.5", "1.0.0 - 2.0.0", "1.0.0 - 2.0.0", "1.0.0 - 2.0.0"},
      // The issue's `>=1 <2`: the bound keeps its length, V's part past its last non-zero part.
      {">=1 <2", "2.0.0", ">=1 <3", ">=1 <3", ">=1 <3"},
      {">=1.0.0 <2.0.0", "2.4.1", ">=1.0.0 <3.0.0", ">=1.0.0 <3.0.0", ">=1.0.0 <3.0.0"},
      {">=1.0.0 <1.2.3", "2.0.0", ">=1.0.0 <2.0.1", ">=1.0.0 <2.0.1", ">=1.0.0 <2.0.1"},
      {">=1.0.0 <=1.2.0", "1.5.0", ">=1.0.0 <=1.6.0", ">=1.0.0 <=1.6.0", ">=1.0.0 <=1.6.0"},
      {">= 1.0.0 < 2", "3.1.0", ">= 1.0.0 < 4", ">= 1.0.0 < 4", ">= 1.0.0 < 4"},
      {"<1.x", "1.5.0", "<2", "<2", "<2"},
      // Ovvoc, not Dependabot: Dependabot's String#sub would raise the lower bound here
      // (">=1.4 <3"), which refuses 3.5.0; Ovvoc raises the bound itself.
      {">=1.3 <3", "3.5.0", ">=1.3 <4", ">=1.3 <4", ">=1.3 <4"},
      // Increase keeps a bounded range whose first alternative allows the version.
      {">=1.0.0 <2.0.0 || >=3.0.0", "1.5.0", ">=1.0.0 <2.0.0 || >=3.0.0",
       ">=1.0.0 <2.0.0 || >=3.0.0", ">=1.0.0 <2.0.0 || >=3.0.0"},
      {">=3.0.0 || >=1.0.0 <2.0.0", "1.5.0", ">=3.0.0 || >=1.0.0 <2.0.0",
       ">=3.0.0 || >=1.0.0 <2.0.0", ">=3.0.0 || >=1.0.0 <2.0.0"},
  });
}

TEST_CASE("range update: unions", "[range_update]") {
  CheckCases({
      // "with a || separator" (BumpVersions: the first alternative, rewritten, is all that is
      // left; BumpVersionsIfNecessary), "when specified with || and valid" (WidenRanges).
      {"^0.5.1 || ^1.2.3", "1.5.0", "^1.5.0", "^0.5.1 || ^1.2.3", "^0.5.1 || ^1.2.3"},
      // Widen appends the new major to a union (Ovvoc's rule: Dependabot leaves it as it is).
      {"^0.5.1 || ^1.2.3", "2.1.0", "^2.1.0", "^2.1.0", "^0.5.1 || ^1.2.3 || ^2.1.0"},
      {"^1.0.0 || ^2.0.0", "1.5.0", "^1.5.0", "^1.0.0 || ^2.0.0", "^1.0.0 || ^2.0.0"},
      {"^1.0.0||^2.0.0", "3.0.0", "^3.0.0", "^3.0.0", "^1.0.0||^2.0.0 || ^3.0.0"},
      // Several bounded alternatives: ` || ^V` is appended (update_range_requirement).
      {">=1 <2 || >=3 <4", "5.0.0", ">=1 <2 || >=3 <4 || ^5.0.0", ">=1 <2 || >=3 <4 || ^5.0.0",
       ">=1 <2 || >=3 <4 || ^5.0.0"},
      {"1.0.0 - 1.2.0 || 2.0.0 - 2.2.0", "3.0.0", "1.0.0 - 1.2.0 || 2.0.0 - 2.2.0 || ^3.0.0",
       "1.0.0 - 1.2.0 || 2.0.0 - 2.2.0 || ^3.0.0", "1.0.0 - 1.2.0 || 2.0.0 - 2.2.0 || ^3.0.0"},
      // One bounded alternative among others: its bound is raised.
      {"^1.0.0 || >=2.0.0 <2.5.0", "2.7.0", "^1.0.0 || >=2.0.0 <2.8.0", "^1.0.0 || >=2.0.0 <2.8.0",
       "^1.0.0 || >=2.0.0 <2.8.0"},
      // A comparator set without a bound: increase keeps the first comparator only.
      {"^1.2.3 >=1.2.5", "2.0.0", "^2.0.0", "^2.0.0", std::nullopt},
  });
}

TEST_CASE("range update: whitespace", "[range_update]") {
  // Increase strips (update_version_requirement splits the stripped text); widen rewrites the
  // text as written; a range that allows the version is returned byte for byte.
  CheckCases({
      {"  ^1.2.3  ", "2.0.0", "^2.0.0", "^2.0.0", "  ^2.0.0  "},
      {"  ^1.2.3  ", "1.4.0", "^1.4.0", "  ^1.2.3  ", "  ^1.2.3  "},
      {" <2 ", "2.0.0", " <3 ", " <3 ", " <3 "},
  });
}

TEST_CASE("range update: what no strategy can express is an error", "[range_update]") {
  // Dependabot keeps the operator: increase of `>1.0.0` to 2.0.0 writes `>2.0.0`.
  absl::StatusOr<std::string> gt = UpdateRange(">1.0.0", "2.0.0", kIncrease);
  REQUIRE(absl::IsFailedPrecondition(gt.status()));
  CHECK(absl::StrContains(gt.status().message(), "\">2.0.0\""));
  CHECK(absl::StrContains(gt.status().message(), "increase"));
  // ...while the other two keep it: it allows 2.0.0.
  CHECK(Updated(">1.0.0", "2.0.0", kIfNecessary) == ">1.0.0");
  CHECK(Updated(">1.0.0", "2.0.0", kWiden) == ">1.0.0");

  // Widen leaves a comparator set without an upper bound as it is.
  absl::StatusOr<std::string> widen = UpdateRange("^1.2.3 >=1.2.5", "3.0.0", kWiden);
  REQUIRE(absl::IsFailedPrecondition(widen.status()));
  CHECK(absl::StrContains(widen.status().message(), "comparator set"));

  // A downgrade through a hyphen range: Dependabot's bound is below the lower bound.
  absl::StatusOr<std::string> down = UpdateRange("1.2.3 - 1.4.0", "1.0.0", kIncrease);
  REQUIRE(absl::IsFailedPrecondition(down.status()));
  CHECK(absl::StrContains(down.status().message(), "\"1.2.3 - 1.1.0\""));

  // Dependabot raises on a bound whose last non-zero part is past the patch, and on a bound
  // RubyGems cannot read (npm reads `1.2.3-` loosely as a prerelease).
  CHECK(absl::IsFailedPrecondition(UpdateRange("<1.2.3-", "1.5.0", kIncrease).status()));
  CHECK(absl::IsFailedPrecondition(UpdateRange("<x", "1.5.0", kWiden).status()));

  // A prerelease target that a range starting with `x` (a "tag" to Dependabot) refuses.
  CHECK(absl::IsFailedPrecondition(UpdateRange("x", "2.0.0-rc.1", kIncrease).status()));
}

TEST_CASE("range update: bad input", "[range_update]") {
  CHECK(
      absl::IsInvalidArgument(UpdateRange("^1.0.0", "2.0.0", VersioningStrategy::kAuto).status()));
  CHECK(absl::IsInvalidArgument(
      UpdateRange("^1.0.0", "2.0.0", VersioningStrategy::kLockfileOnly).status()));
  CHECK(absl::IsInvalidArgument(UpdateRange("^1.0.0", "2.0", kIncrease).status()));
  CHECK(absl::IsInvalidArgument(UpdateRange("^1.0.0", "=2.0.0", kIncrease).status()));
  CHECK(absl::IsInvalidArgument(UpdateRange("^1.0.0", "", kIncrease).status()));
  // Tags and other specs are not ranges ("when requirement is capitalised (and therefore
  // invalid)": Dependabot keeps `V1.2.3`, npm reads it as a dist-tag).
  CHECK(absl::IsInvalidArgument(UpdateRange("latest", "2.0.0", kIncrease).status()));
  CHECK(absl::IsInvalidArgument(UpdateRange("V1.2.3", "1.5.0", kIncrease).status()));
  CHECK(absl::IsInvalidArgument(UpdateRange("github:a/b", "1.5.0", kWiden).status()));
  CHECK(absl::IsInvalidArgument(UpdateRange("1.1.0.1", "1.5.0", kWiden).status()));
  absl::StatusOr<std::string> hostile = UpdateRange("\x1b[31m", "1.0.0", kIncrease);
  REQUIRE(absl::IsInvalidArgument(hostile.status()));
  CHECK(!absl::StrContains(hostile.status().message(), "\x1b"));
}

TEST_CASE("range update: auto is widen for a library, increase for an application",
          "[range_update]") {
  CHECK(ResolveAutoStrategy(VersioningStrategy::kAuto, true) == kWiden);
  CHECK(ResolveAutoStrategy(VersioningStrategy::kAuto, false) == kIncrease);
  CHECK(ResolveAutoStrategy(kIfNecessary, true) == kIfNecessary);
  CHECK(ResolveAutoStrategy(VersioningStrategy::kLockfileOnly, false) ==
        VersioningStrategy::kLockfileOnly);

  // LibraryDetector#package_json_may_be_for_library?.
  struct LibraryCase {
    std::string json;
    bool library;
  };
  const std::vector<LibraryCase> cases = {
      {R"({"name": "lib", "version": "1.0.0"})", true},
      {R"({"name": "lib", "version": "1.0.0", "private": false})", true},
      {R"({"name": "lib", "version": "1.0.0", "private": null})", true},
      {R"({"name": "", "version": "1.0.0"})", true},  // "" is true to Ruby
      {R"({"name": "lib", "version": 0})", true},
      {R"({"name": "app", "version": "1.0.0", "private": true})", false},
      {R"({"name": "app", "version": "1.0.0", "private": "false"})", false},
      {R"({"name": "app", "version": "1.0.0", "private": 0})", false},
      {R"({"name": "app"})", false},
      {R"({"version": "1.0.0"})", false},
      {R"({"name": "app", "version": null})", false},
      {R"({"name": "app", "version": false})", false},
      {R"({"name": 5, "version": "1.0.0"})", false},
      {R"({"name": "{{ cookiecutter.name }}", "version": "1.0.0"})", false},
      {R"({"name": "a{{b\n}}", "version": "1.0.0"})", true},  // `.` stops at a newline
      {R"([])", false},
  };
  for (const LibraryCase& c : cases) {
    INFO(c.json);
    absl::StatusOr<bool> library = MayBeLibrary(c.json);
    REQUIRE(library.ok());
    CHECK(*library == c.library);
  }
  CHECK(absl::IsInvalidArgument(MayBeLibrary("{").status()));
  CHECK(absl::IsInvalidArgument(MayBeLibrary(std::string(1000, '[')).status()));
}

// Property: whatever range and version, a range that comes back allows the version (as npm
// installs: loose, "*" taking anything), and a strategy other than increase returns a range
// that already allows the version unchanged.
TEST_CASE("range update: a returned range always allows the version", "[range_update]") {
  std::mt19937 rng(20240611);
  auto pick = [&](const std::vector<std::string>& from) {
    return from[std::uniform_int_distribution<size_t>(0, from.size() - 1)(rng)];
  };
  auto number = [&]() { return absl::StrCat(std::uniform_int_distribution<int>(0, 4)(rng)); };
  auto partial = [&]() {
    const std::vector<std::string> wild = {"x", "X", "*"};
    std::string v = number();
    const int parts = std::uniform_int_distribution<int>(1, 3)(rng);
    for (int i = 1; i < parts; ++i) {
      absl::StrAppend(&v, ".", rng() % 5 == 0 ? pick(wild) : number());
    }
    if (parts == 3 && rng() % 6 == 0) absl::StrAppend(&v, pick({"-rc.1", "-beta", "-0"}));
    return v;
  };
  auto comparator = [&]() {
    return absl::StrCat(pick({"", "^", "~", "~>", ">=", ">", "<", "<=", "=", "v", "^v", "< "}),
                        partial());
  };
  auto range = [&]() {
    switch (rng() % 6) {
      case 0:
        return absl::StrCat(partial(), " - ", partial());
      case 1:
        return absl::StrCat(comparator(), " ", comparator());
      case 2:
        return absl::StrCat(comparator(), pick({" || ", "||"}), comparator());
      case 3:
        return absl::StrCat(">=", partial(), " <", partial(), " || ", comparator());
      default:
        return comparator();
    }
  };
  auto version = [&]() {
    std::string v = absl::StrCat(number(), ".", number(), ".", number());
    if (rng() % 5 == 0) absl::StrAppend(&v, pick({"-rc.1", "-beta", "-0"}));
    return v;
  };

  int returned = 0, tried = 0;
  for (int i = 0; i < 400; ++i) {
    const std::string r = range();
    const std::string v = version();
    if (!ValidRange(r, Options{.loose = true})) continue;
    const absl::StatusOr<bool> before = Satisfies(v, r, Options{.loose = true});
    for (VersioningStrategy s : {kIncrease, kIfNecessary, kWiden}) {
      ++tried;
      absl::StatusOr<std::string> out = UpdateRange(r, v, s);
      INFO("range \"" << r << "\" to " << v << " with " << VersioningStrategyName(s) << ": "
                      << (out.ok() ? *out : out.status().ToString()));
      if (!out.ok()) {
        CHECK(absl::IsFailedPrecondition(out.status()));
        continue;
      }
      ++returned;
      const absl::StatusOr<bool> after = Satisfies(v, *out, Options{.loose = true});
      CHECK((absl::StripAsciiWhitespace(*out) == "*" || (after.ok() && *after)));
      if (s != kIncrease && before.ok() && *before) CHECK(*out == r);
    }
  }
  // The generator must reach the rewriting code, not only its errors. Random versions are
  // often below the range or prereleases, which Dependabot's rules cannot follow (about a
  // third of the tries, each an error above); the rest must come back.
  CHECK(tried > 600);
  CHECK(returned > tried / 2);
}

}  // namespace
}  // namespace ovvoc::agent::npm
