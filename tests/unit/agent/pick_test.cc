// The packument model (agent/npm/packument.h) and npm's version picker (agent/npm/pick.h).
// Expected picks follow npm-pick-manifest 11.0.3's code (lib/index.js in the job image's npm);
// tests/integration/plan_outdated_test.cc holds the picker to npm itself.
#include <catch2/catch.hpp>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "agent/npm/packument.h"
#include "agent/npm/pick.h"

namespace ovvoc::agent::npm {
namespace {

Packument Parse(const std::string& json) {
  auto packument = ParsePackument(json);
  INFO(json);
  REQUIRE(packument.ok());
  return *std::move(packument);
}

std::string Pick(const Packument& packument, const std::string& wanted,
                 const PickOptions& options = {}) {
  auto picked = PickManifest(packument, wanted, options);
  if (!picked.ok()) return absl::StrCat("error: ", picked.status().ToString());
  return (*picked)->version;
}

absl::Time At(const char* text) {
  PublishTime time = ParsePublishTime(text);
  REQUIRE(time.kind == PublishTime::Kind::kValid);
  return time.time;
}

TEST_CASE("a packument keeps what the picker reads, with JavaScript's truth", "[pick]") {
  const Packument p = Parse(R"({
    "name": "dep", "dist-tags": {"latest": "1.2.0", "next": "2.0.0-rc.1", "bad": 7},
    "versions": {
      "1.0.0": {"deprecated": false, "engines": {"node": ""}},
      "1.1.0": {"deprecated": "", "engines": {"node": 12}},
      "1.2.0": {"deprecated": "use 2", "engines": {"node": ">=18", "npm": ">=9"},
                "scripts": {"postinstall": "node x.js"}},
      "1.3.0": {"deprecated": true, "engines": "node >= 4", "hasInstallScript": true},
      "1.4.0": {"deprecated": 0, "engines": ["node"], "scripts": {"install": ""}},
      "1.5.0": {"deprecated": {}},
      "1.6.0": null,
      "1.7.0": "odd",
      "2.0.0-rc.1": {}
    },
    "time": {"created": "2020-01-01T00:00:00.000Z", "1.0.0": "2020-01-02T00:00:00Z",
             "1.1.0": "yesterday", "1.2.0": "", "1.3.0": 5}
  })");
  CHECK(p.name == "dep");
  CHECK(p.dist_tags.size() == 2);  // "bad" is not a string
  CHECK(p.Tagged("next")->version == "2.0.0-rc.1");
  REQUIRE(p.versions.size() == 8);  // 1.6.0's null is left out
  CHECK(p.Find("1.6.0") == nullptr);
  CHECK_FALSE(p.Find("1.0.0")->deprecated);
  CHECK(p.Find("1.0.0")->node.kind == EngineRequirement::Kind::kNone);
  CHECK_FALSE(p.Find("1.1.0")->deprecated);
  CHECK(p.Find("1.1.0")->node.kind == EngineRequirement::Kind::kInvalid);
  CHECK(p.Find("1.2.0")->deprecated);
  CHECK(p.Find("1.2.0")->deprecation == "use 2");
  CHECK(p.Find("1.2.0")->node.range == ">=18");
  CHECK(p.Find("1.2.0")->npm.range == ">=9");
  CHECK(p.Find("1.2.0")->has_install_script);
  CHECK(p.Find("1.3.0")->deprecated);
  CHECK(p.Find("1.3.0")->node.kind == EngineRequirement::Kind::kNone);
  CHECK(p.Find("1.3.0")->has_install_script);
  CHECK_FALSE(p.Find("1.4.0")->deprecated);
  CHECK_FALSE(p.Find("1.4.0")->has_install_script);  // an empty script does not run
  CHECK(p.Find("1.5.0")->deprecated);
  CHECK(p.Find("1.7.0") != nullptr);
  CHECK(p.has_time);
  CHECK(p.created == At("2020-01-01T00:00:00Z"));
  CHECK(p.Find("1.0.0")->published.kind == PublishTime::Kind::kValid);
  CHECK(p.Find("1.1.0")->published.kind == PublishTime::Kind::kInvalid);
  CHECK(p.Find("1.2.0")->published.kind == PublishTime::Kind::kAbsent);
  CHECK(p.Find("1.3.0")->published.kind == PublishTime::Kind::kInvalid);
}

TEST_CASE("a duplicate key counts as JSON.parse counts it", "[pick]") {
  const Packument p = Parse(R"({"name": "dep", "dist-tags": {"latest": "1.0.0"},
    "versions": {"1.0.0": {"deprecated": "old"}, "2.0.0": {}, "1.0.0": {}},
    "dist-tags": {"latest": "2.0.0"}})");
  REQUIRE(p.versions.size() == 2);
  CHECK(p.versions[0].version == "1.0.0");  // the first place
  CHECK_FALSE(p.versions[0].deprecated);    // the last value
  CHECK(p.Tagged("latest")->version == "2.0.0");
}

TEST_CASE("a packument that is not one is an error, not a crash", "[pick]") {
  for (const char* bad : {"", "[]", "\"x\"", "{\"versions\": []}", "{\"versions\": 1}", "{",
                          "{\"versions\": {\"1.0.0\": {\"deprecated\": tru}}}", "nul"}) {
    INFO(bad);
    CHECK_FALSE(ParsePackument(bad).ok());
  }
  // No versions at all, or no time: a packument still.
  CHECK(Parse("{}").versions.empty());
  CHECK_FALSE(Parse(R"({"versions": {}})").has_time);
}

TEST_CASE("publish times are read as Date.parse reads ISO 8601", "[pick]") {
  CHECK(At("2020-01-02T03:04:05.678Z") ==
        absl::FromUnixMillis(1577934245678));
  CHECK(At("2020-01-02T03:04:05Z") == absl::FromUnixSeconds(1577934245));
  CHECK(At("2020-01-02T03:04Z") == absl::FromUnixSeconds(1577934240));
  CHECK(At("2020-01-02") == absl::FromUnixSeconds(1577923200));
  CHECK(At("2020-01-02T05:04:05+02:00") == absl::FromUnixSeconds(1577934245));
  CHECK(At("2020-01-01T24:00:00Z") == absl::FromUnixSeconds(1577923200));  // V8: next midnight
  for (const char* bad : {"", "2020", "2020-13-01", "2020-02-30", "2020-01-02T25:00Z",
                          "2020-01-02 03:04:05Z", "2020-01-02T03:04:05.Z", "yesterday",
                          "2020-01-02T03:04:05Zjunk",
                          // V8 gives NaN: these must not age a release by days.
                          "2020-01-02T03:04:05+24:00", "2020-01-02T03:04:05+99:00",
                          "2020-01-02T03:04:05-23:60"}) {
    INFO(bad);
    CHECK(ParsePublishTime(bad).kind == PublishTime::Kind::kInvalid);
  }
}

TEST_CASE("a packument's strings are bounded where no real one comes near", "[pick]") {
  const std::string long_key(kMaxPackumentVersionKey + 1, '1');
  const std::string long_range = absl::StrCat(">=1", std::string(kMaxEngineRange, ' '));
  std::string tags;
  for (size_t i = 0; i < kMaxDistTags + 5; ++i) absl::StrAppend(&tags, ",\"t", i, "\":\"1.0.0\"");
  const Packument p = Parse(absl::StrCat(
      R"({"dist-tags": {"latest": "1.0.0", "long": ")", long_key, "\"", tags, R"(},
          "versions": {")", long_key, R"(": {}, "1.0.0": {"engines": {"node": ")", long_range,
      R"("}}, "1.1.0": {"engines": {"node": ">=1"}}},
          "time": {")", long_key, R"(": "2020-01-01T00:00:00Z"}})"));
  REQUIRE(p.versions.size() == 2);  // the long key is no version npm could pick
  CHECK(p.Find(long_key) == nullptr);
  CHECK(p.dist_tags.size() == kMaxDistTags);
  CHECK(p.dist_tags.count("long") == 0);
  CHECK(p.Tagged("latest")->version == "1.0.0");
  CHECK(p.Find("1.0.0")->node.kind == EngineRequirement::Kind::kInvalid);
  CHECK(p.Find("1.1.0")->node.kind == EngineRequirement::Kind::kRange);
  CHECK(p.ApproximateBytes() > 2 * sizeof(PackumentVersion));
  CHECK(p.ApproximateBytes() < 200'000);

  // `latest` is kept after any number of other tags: the plan's cap rests on it.
  std::string many;
  for (size_t i = 0; i < kMaxDistTags + 5; ++i) absl::StrAppend(&many, "\"t", i, "\":\"1.0.0\",");
  const Packument tagged = Parse(absl::StrCat(R"({"dist-tags": {)", many,
                                              R"("latest": "1.0.0"}, "versions": {"1.0.0": {}}})"));
  REQUIRE(tagged.Tagged("latest") != nullptr);
  CHECK(tagged.Tagged("latest")->version == "1.0.0");

  // Engines ranges of a megabyte in all: refused, not tested version by version.
  std::string versions;
  const std::string range(kMaxEngineRange, '1');
  for (size_t i = 0; i <= kMaxEngineBytes / kMaxEngineRange; ++i) {
    absl::StrAppend(&versions, i ? "," : "", "\"1.0.", i, R"(": {"engines": {"node": ")", range,
                    "\"}}");
  }
  absl::StatusOr<Packument> heavy = ParsePackument(absl::StrCat(R"({"versions": {)", versions, "}}"));
  CHECK(absl::IsResourceExhausted(heavy.status()));
}

const char* const kDep = R"({
  "name": "dep", "dist-tags": {"latest": "1.2.0", "next": "2.0.0-beta.2"},
  "versions": {
    "1.0.0": {}, "1.1.0": {}, "1.1.1": {"engines": {"node": ">=99"}}, "1.2.0": {},
    "1.3.0": {}, "2.0.0-beta.1": {}, "2.0.0-beta.2": {}
  },
  "time": {"1.0.0": "2020-01-01T00:00:00Z", "1.1.0": "2020-02-01T00:00:00Z",
           "1.1.1": "2020-02-15T00:00:00Z", "1.2.0": "2020-03-01T00:00:00Z",
           "1.3.0": "2020-04-01T00:00:00Z", "2.0.0-beta.1": "2020-05-01T00:00:00Z",
           "2.0.0-beta.2": "2020-06-01T00:00:00Z"}
})";

TEST_CASE("the latest tag wins when it satisfies the range", "[pick]") {
  const Packument p = Parse(kDep);
  CHECK(Pick(p, "*") == "1.2.0");  // not 1.3.0: latest wins
  CHECK(Pick(p, "") == "1.2.0");
  CHECK(Pick(p, "^1.0.0") == "1.2.0");
  CHECK(Pick(p, "~1.1.0") == "1.1.1");
  CHECK(Pick(p, ">=1.3.0 <2") == "1.3.0");
  CHECK(Pick(p, "^2.0.0-beta.1") == "2.0.0-beta.2");  // a prerelease range in its line
  CHECK(Pick(p, "^2.0.0").rfind("error: NOT_FOUND: No matching version found for dep@^2.0.0",
                                0) == 0);
  CHECK(Pick(p, "1.1.0") == "1.1.0");
  CHECK(Pick(p, "v1.1.0") == "1.1.0");
  CHECK(Pick(p, "next") == "2.0.0-beta.2");
  CHECK(Pick(p, "nope").rfind("error: NOT_FOUND", 0) == 0);
  CHECK(Pick(p, "github:a/b").rfind("error: INVALID_ARGUMENT", 0) == 0);
}

TEST_CASE("engines and deprecation order the candidates as npm sorts them", "[pick]") {
  PickOptions node16{.node_version = "v16.0.0"};
  Packument p = Parse(kDep);
  CHECK(Pick(p, "~1.1.0", node16) == "1.1.0");  // 1.1.1 needs node >= 99
  PickOptions node99{.node_version = "v99.0.0"};
  CHECK(Pick(p, "~1.1.0", node99) == "1.1.1");
  // Only engine-incompatible versions: the highest of them still.
  CHECK(Pick(p, "1.1.1 || 1.1.1", node16) == "1.1.1");

  p = Parse(R"({"name": "dep", "dist-tags": {"latest": "1.2.0"}, "versions": {
      "1.0.0": {"engines": {"node": ">=99"}}, "1.1.0": {"deprecated": "x"},
      "1.2.0": {"deprecated": "y", "engines": {"node": ">=99"}}}})");
  // latest is deprecated and engine-incompatible; 1.1.0 (engine ok) beats 1.0.0 (not deprecated).
  CHECK(Pick(p, "*", node16) == "1.1.0");
  CHECK(Pick(p, "*", node99) == "1.0.0");
  // npm's engines are checked when npm's version is known.
  p = Parse(R"({"name": "dep", "dist-tags": {"latest": "1.1.0"}, "versions": {
      "1.0.0": {}, "1.1.0": {"engines": {"npm": ">=12"}}}})");
  CHECK(Pick(p, "*") == "1.1.0");
  CHECK(Pick(p, "*", PickOptions{.npm_version = "11.6.0"}) == "1.0.0");
  // A node prerelease satisfies engines (includePrerelease).
  p = Parse(R"({"name": "dep", "dist-tags": {"latest": "1.1.0"}, "versions": {
      "1.0.0": {}, "1.1.0": {"engines": {"node": ">=24"}}}})");
  CHECK(Pick(p, "*", PickOptions{.node_version = "v23.9.0-pre"}) == "1.0.0");
  CHECK(Pick(p, "*", PickOptions{.node_version = "v24.0.0-pre"}) == "1.1.0");
}

TEST_CASE("before leaves out later versions, and unreadable times always", "[pick]") {
  const Packument p = Parse(kDep);
  PickOptions before{.before = At("2020-02-20T00:00:00Z")};
  CHECK(Pick(p, "*", before) == "1.1.1");
  CHECK(Pick(p, "^1.0.0", before) == "1.1.1");
  CHECK(Pick(p, "1.2.0", before).rfind("error: NOT_FOUND", 0) == 0);
  // A tag past `before` picks the highest version <= the tag's.
  CHECK(Pick(p, "next", before) == "1.1.1");
  before.before = At("2019-01-01T00:00:00Z");
  CHECK(Pick(p, "*", before).rfind("error: FAILED_PRECONDITION: No versions available", 0) == 0);

  const Packument odd = Parse(R"({"name": "dep", "dist-tags": {"latest": "1.1.0"},
    "versions": {"1.0.0": {}, "1.1.0": {}, "1.2.0": {}},
    "time": {"1.1.0": "not a date", "1.2.0": "2020-01-01T00:00:00Z"}})");
  CHECK(Pick(odd, "*") == "1.2.0");  // 1.1.0's time is NaN: never before Infinity
  CHECK(Pick(odd, "1.1.0").rfind("error: NOT_FOUND", 0) == 0);
  CHECK(Pick(odd, "~1.0.0") == "1.0.0");  // no time: counts as old enough
  // Without a `time` object, `before` is ignored.
  const Packument untimed = Parse(R"({"name": "dep", "dist-tags": {"latest": "1.1.0"},
    "versions": {"1.0.0": {}, "1.1.0": {}}})");
  CHECK(Pick(untimed, "*", before) == "1.1.0");
}

TEST_CASE("a latest tag naming no version falls through to the highest", "[pick]") {
  const Packument p = Parse(R"({"name": "dep", "dist-tags": {"latest": "9.9.9"},
    "versions": {"1.0.0": {}, "1.1.0": {}, "2.0.0-rc.1": {}}})");
  CHECK(Pick(p, "*") == "1.1.0");  // prereleases never satisfy "*"
  CHECK(Pick(p, "latest").rfind("error: NOT_FOUND", 0) == 0);
}

}  // namespace
}  // namespace ovvoc::agent::npm
