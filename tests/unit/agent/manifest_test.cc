#include "agent/npm/manifest.h"

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"

namespace ovvoc::agent::npm {
namespace {

TEST_CASE("dependencies of every kind, in file order") {
  absl::StatusOr<Manifest> m = ParseManifest(R"({
    "name": "app", "version": "1.2.3",
    "dependencies": {"zod": "^3.0.0", "axios": "1.6.0"},
    "devDependencies": {"jest": "^29"},
    "optionalDependencies": {"fsevents": "*"},
    "peerDependencies": {"react": ">=18"}
  })",
                                             "package.json");
  REQUIRE(m.ok());
  CHECK(m->name == "app");
  CHECK(m->version == "1.2.3");
  REQUIRE(m->dependencies.size() == 5);
  CHECK(m->dependencies[0].name() == "zod");  // as written, not sorted
  CHECK(m->dependencies[1].name() == "axios");
  CHECK(m->dependencies[1].spec() == "1.6.0");
  CHECK(m->dependencies[2].kind() == ovvoc::v1::DEPENDENCY_KIND_DEV);
  CHECK(m->dependencies[3].kind() == ovvoc::v1::DEPENDENCY_KIND_OPTIONAL);
  CHECK(m->dependencies[4].kind() == ovvoc::v1::DEPENDENCY_KIND_PEER);
  CHECK(m->dependencies[4].manifest_path() == "package.json");
}

TEST_CASE("scripts: string values, as npm reads them") {
  absl::StatusOr<Manifest> m = ParseManifest(
      R"({"scripts": {"build": "tsc", "test": "mocha", "odd": 3, "also": null}})", "package.json");
  REQUIRE(m.ok());
  CHECK(m->scripts == std::map<std::string, std::string>{{"build", "tsc"}, {"test", "mocha"}});
  absl::StatusOr<Manifest> no_object = ParseManifest(R"({"scripts": "tsc"})", "package.json");
  REQUIRE(no_object.ok());
  CHECK(no_object->scripts.empty());
}

TEST_CASE("a manifest without dependencies is fine") {
  absl::StatusOr<Manifest> m = ParseManifest(R"({"name": "empty"})", "package.json");
  REQUIRE(m.ok());
  CHECK(m->dependencies.empty());
}

TEST_CASE("malformed manifests are errors that name the problem") {
  struct Case {
    const char* text;
    const char* expect;
  };
  for (const Case& c : {Case{"{", "not valid JSON"}, Case{"[]", "top level"},
                        Case{R"({"dependencies": []})", "\"dependencies\" must be an object"},
                        Case{R"({"devDependencies": {"x": 1}})", "\"x\" must be a string"},
                        Case{"{\"name\": \"\xff\"}", "not valid JSON"},
                        Case{R"({"dependencies": {"": "1"}})", "invalid package name"}}) {
    absl::StatusOr<Manifest> m = ParseManifest(c.text, "package.json");
    REQUIRE(!m.ok());
    CHECK(absl::IsInvalidArgument(m.status()));
    CHECK_THAT(std::string(m.status().message()), Catch::Contains(c.expect));
  }
}

TEST_CASE("a manifest built to be slow or deep to read is refused at once") {
  // 300,000 keys in one object took minutes to insert one by one into an ordered object.
  std::string keys = R"({"dependencies": {)";
  for (int i = 0; i < 300000; ++i) absl::StrAppend(&keys, i ? "," : "", "\"p", i, "\":\"1\"");
  keys += "}}";
  absl::StatusOr<Manifest> slow = ParseManifest(keys, "package.json");
  REQUIRE_FALSE(slow.ok());
  CHECK_THAT(std::string(slow.status().message()), Catch::Contains("too many keys"));

  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  absl::StatusOr<Manifest> nested = ParseManifest(deep, "package.json");
  REQUIRE_FALSE(nested.ok());
  CHECK_THAT(std::string(nested.status().message()), Catch::Contains("nests deeper than 64"));
}

}  // namespace
}  // namespace ovvoc::agent::npm
