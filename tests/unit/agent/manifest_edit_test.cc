#include "agent/npm/manifest_edit.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace ovvoc::agent::npm {
namespace {

using ovvoc::v1::DEPENDENCY_KIND_DEV;
using ovvoc::v1::DEPENDENCY_KIND_OPTIONAL;
using ovvoc::v1::DEPENDENCY_KIND_PEER;
using ovvoc::v1::DEPENDENCY_KIND_PROD;

DependencyEdit Prod(std::string name, std::string from, std::string to) {
  return {DEPENDENCY_KIND_PROD, std::move(name), std::move(from), std::move(to)};
}

// `before` with its one occurrence of `old_token` replaced by `new_token`: the whole expected
// output, so that each case also asserts that nothing else moved.
std::string Replaced(const std::string& before, const std::string& old_token,
                     const std::string& new_token) {
  const size_t at = before.find(old_token);
  REQUIRE(at != std::string::npos);
  REQUIRE(before.find(old_token, at + 1) == std::string::npos);
  std::string after = before;
  after.replace(at, old_token.size(), new_token);
  return after;
}

std::string Edited(const std::string& manifest, const DependencyEdit& edit) {
  absl::StatusOr<std::string> out = EditDependency(manifest, edit);
  INFO(out.status().ToString());
  REQUIRE(out.ok());
  return *out;
}

TEST_CASE("every layout keeps its bytes: only the value token changes") {
  const std::string two_spaces =
      "{\n  \"name\": \"app\",\n  \"dependencies\": {\n    \"zod\": \"^3.0.0\",\n"
      "    \"axios\": \"1.6.0\"\n  }\n}\n";
  const std::string four_spaces =
      "{\n    \"name\": \"app\",\n    \"dependencies\": {\n        \"axios\": \"1.6.0\",\n"
      "        \"zod\": \"^3.0.0\"\n    }\n}\n";
  const std::string tabs = "{\n\t\"dependencies\": {\n\t\t\"axios\": \"1.6.0\"\n\t}\n}\n";
  const std::string minified = R"({"name":"app","dependencies":{"axios":"1.6.0","zod":"^3"}})";
  const std::string crlf =
      "{\r\n  \"name\": \"app\",\r\n  \"dependencies\": {\r\n    \"axios\": \"1.6.0\"\r\n"
      "  }\r\n}\r\n";
  const std::string bom =
      "\xEF\xBB\xBF{\n  \"dependencies\": {\n    \"axios\": \"1.6.0\"\n  }\n}\n";
  const std::string no_newline = "{\n  \"dependencies\": {\n    \"axios\": \"1.6.0\"\n  }\n}";
  const std::string odd_spacing = "  {\"dependencies\" :{ \"axios\"\t:\r\n\"1.6.0\" } }  \n\n";
  for (const std::string& before :
       {two_spaces, four_spaces, tabs, minified, crlf, bom, no_newline, odd_spacing}) {
    INFO(before);
    CHECK(Edited(before, Prod("axios", "1.6.0", "1.7.2")) ==
          Replaced(before, "\"1.6.0\"", "\"1.7.2\""));
  }
}

TEST_CASE("a spec of another length moves nothing else") {
  const std::string before = "{\"dependencies\":{\"a\":\"1\",\"b\":\"2\"},\"z\":[1,2,{\"c\":3}]}";
  CHECK(Edited(before, Prod("a", "1", "^10.20.30")) ==
        "{\"dependencies\":{\"a\":\"^10.20.30\",\"b\":\"2\"},\"z\":[1,2,{\"c\":3}]}");
  CHECK(Edited(before, Prod("b", "2", "")) ==
        "{\"dependencies\":{\"a\":\"1\",\"b\":\"\"},\"z\":[1,2,{\"c\":3}]}");
}

TEST_CASE("keys and values written with escapes are compared decoded, other escapes stay") {
  const std::string before =
      R"({"descr\u0069ption": "caf\u00e9 \ud83d\ude00 \/", "dependencies": {)"
      R"("\u0061xios": "\u0031.6.0", "@scope\/pkg": "^1", "caf\u00e9": "~2",)"
      R"("\ud83d\ude00\n": "\ud83d\uDE00 \"x\"\t"}})";
  CHECK(Edited(before, Prod("axios", "1.6.0", "1.7.2")) ==
        Replaced(before, R"("\u0031.6.0")", R"("1.7.2")"));
  CHECK(Edited(before, Prod("@scope/pkg", "^1", "^2")) == Replaced(before, R"("^1")", R"("^2")"));
  CHECK(Edited(before, Prod("caf\xC3\xA9", "~2", "~3")) == Replaced(before, R"("~2")", R"("~3")"));
  // A surrogate pair is one code point; short escapes decode to their bytes.
  CHECK(Edited(before, Prod("\xF0\x9F\x98\x80\n", "\xF0\x9F\x98\x80 \"x\"\t", "1")) ==
        Replaced(before, R"("\ud83d\uDE00 \"x\"\t")", R"("1")"));
}

TEST_CASE("a to_spec that needs escapes is written as JSON.stringify writes it") {
  const std::string before = R"({"dependencies": {"a": "1"}})";
  CHECK(Edited(before, Prod("a", "1", "say \"hi\" \\ now")) ==
        R"({"dependencies": {"a": "say \"hi\" \\ now"}})");
  CHECK(Edited(before, Prod("a", "1", std::string("\n\t\r\b\f\x01\x1f\x7f/", 9))) ==
        "{\"dependencies\": {\"a\": \"\\n\\t\\r\\b\\f\\u0001\\u001f\x7f/\"}}");
  // Non-ASCII stays as its UTF-8 bytes.
  CHECK(Edited(before, Prod("a", "1", "caf\xC3\xA9 \xF0\x9F\x98\x80")) ==
        "{\"dependencies\": {\"a\": \"caf\xC3\xA9 \xF0\x9F\x98\x80\"}}");
}

TEST_CASE("the same name in two sections: only the named section changes") {
  const std::string before =
      "{\n  \"dependencies\": {\"both\": \"1.0.0\"},\n"
      "  \"optionalDependencies\": {\"both\": \"1.0.0\"},\n"
      "  \"devDependencies\": {\"both\": \"1.0.0\"},\n"
      "  \"peerDependencies\": {\"both\": \"1.0.0\"},\n"
      "  \"overrides\": {\"both\": \"1.0.0\"}\n}\n";
  const struct {
    ovvoc::v1::DependencyKind kind;
    const char* section;
  } cases[] = {{DEPENDENCY_KIND_PROD, "\"dependencies\": {\"both\": \"1.0.0\"}"},
               {DEPENDENCY_KIND_OPTIONAL, "\"optionalDependencies\": {\"both\": \"1.0.0\"}"},
               {DEPENDENCY_KIND_DEV, "\"devDependencies\": {\"both\": \"1.0.0\"}"},
               {DEPENDENCY_KIND_PEER, "\"peerDependencies\": {\"both\": \"1.0.0\"}"}};
  for (const auto& c : cases) {
    INFO(c.section);
    const std::string changed = absl::StrReplaceAll(c.section, {{"1.0.0", "2.0.0"}});
    CHECK(Edited(before, {c.kind, "both", "1.0.0", "2.0.0"}) ==
          Replaced(before, c.section, changed));
  }
}

TEST_CASE("a group of edits, applied in order, all or nothing") {
  const std::string before =
      "{\n  \"dependencies\": {\n    \"a\": \"^1.0.0\",\n    \"b\": \"~2.0.0\"\n  },\n"
      "  \"devDependencies\": {\n    \"c\": \"3\"\n  }\n}\n";
  absl::StatusOr<std::string> group =
      EditDependencies(before, {Prod("a", "^1.0.0", "^1.5.0"),
                                Prod("b", "~2.0.0", "~2.1.10"),
                                {DEPENDENCY_KIND_DEV, "c", "3", "4"}});
  REQUIRE(group.ok());
  CHECK(*group ==
        "{\n  \"dependencies\": {\n    \"a\": \"^1.5.0\",\n    \"b\": \"~2.1.10\"\n  },\n"
        "  \"devDependencies\": {\n    \"c\": \"4\"\n  }\n}\n");

  // A later edit sees the earlier ones.
  absl::StatusOr<std::string> twice =
      EditDependencies(before, {Prod("a", "^1.0.0", "^1.5.0"), Prod("a", "^1.5.0", "^2.0.0")});
  REQUIRE(twice.ok());
  CHECK(*twice == Replaced(before, "\"^1.0.0\"", "\"^2.0.0\""));

  // One bad edit fails the group, and its error says which.
  absl::StatusOr<std::string> bad =
      EditDependencies(before, {Prod("a", "^1.0.0", "^1.5.0"), Prod("b", "~9", "~2.1.10")});
  REQUIRE_FALSE(bad.ok());
  CHECK(absl::IsFailedPrecondition(bad.status()));
  CHECK_THAT(std::string(bad.status().message()), Catch::StartsWith("edit 2 of 2: "));

  absl::StatusOr<std::string> none = EditDependencies(before, {});
  REQUIRE(none.ok());
  CHECK(*none == before);
}

TEST_CASE("an edit to the spec it already holds leaves the bytes, escapes and all") {
  const std::string before = R"({"dependencies": {"a": "\u0031.0.0"}})";
  CHECK(Edited(before, Prod("a", "1.0.0", "1.0.0")) == before);
}

void CheckRefused(const std::string& manifest, const DependencyEdit& edit, absl::StatusCode code,
                  const char* expect) {
  INFO(manifest);
  absl::StatusOr<std::string> out = EditDependency(manifest, edit);
  REQUIRE_FALSE(out.ok());
  CHECK(out.status().code() == code);
  CHECK_THAT(std::string(out.status().message()), Catch::Contains(expect));
}

TEST_CASE("duplicate sections and entries are refused: JSON.parse would read the last") {
  const auto kRefused = absl::StatusCode::kFailedPrecondition;
  CheckRefused(R"({"dependencies": {"a": "1", "a": "2"}})", Prod("a", "2", "3"), kRefused,
               "\"dependencies\" has \"a\" 2 times");
  CheckRefused(R"({"dependencies": {"a": "1", "\u0061": "2"}})", Prod("a", "2", "3"), kRefused,
               "2 times");
  CheckRefused(R"({"dependencies": {"a": "1"}, "dependencies": {"b": "2"}})", Prod("b", "2", "3"),
               kRefused, "the manifest has \"dependencies\" 2 times");
  // Duplicates elsewhere do not matter.
  const std::string elsewhere = R"({"name": "x", "name": "y", "dependencies": {"a": "1"}})";
  CHECK(Edited(elsewhere, Prod("a", "1", "2")) == Replaced(elsewhere, R"("1")", R"("2")"));
}

TEST_CASE("a value that is not a string, or not what the caller read, is refused") {
  const auto kRefused = absl::StatusCode::kFailedPrecondition;
  CheckRefused(R"({"dependencies": {"a": 1}})", Prod("a", "1", "2"), kRefused,
               "\"dependencies\".\"a\" is a number, not a spec string");
  CheckRefused(R"({"dependencies": {"a": {"version": "1"}}})", Prod("a", "1", "2"), kRefused,
               "is an object, not a spec string");
  CheckRefused(R"({"dependencies": {"a": null}})", Prod("a", "", "2"), kRefused, "is null");
  CheckRefused(R"({"dependencies": {"a": "^1.2.0"}})", Prod("a", "^1.0.0", "^2.0.0"), kRefused,
               "\"dependencies\".\"a\" holds \"^1.2.0\", not \"^1.0.0\"");
  // The value held is quoted inert and short.
  CheckRefused(
      absl::StrCat(R"({"dependencies": {"a": "\u001b[2J)", std::string(5000, 'x'), R"("}})"),
      Prod("a", "1", "2"), kRefused, "\\x1b[2J");
}

TEST_CASE("the wrong shapes are refused, missing ones not found, and non-JSON invalid") {
  const auto kRefused = absl::StatusCode::kFailedPrecondition;
  CheckRefused(R"(["dependencies"])", Prod("a", "1", "2"), kRefused,
               "top level is an array, not an object");
  CheckRefused(R"("x")", Prod("a", "1", "2"), kRefused, "top level is a string");
  CheckRefused(R"({"dependencies": ["a"]})", Prod("a", "1", "2"), kRefused,
               "\"dependencies\" is an array, not an object");
  CheckRefused(R"({"dependencies": null})", Prod("a", "1", "2"), kRefused,
               "\"dependencies\" is null");

  const auto kNotFound = absl::StatusCode::kNotFound;
  CheckRefused(R"({"devDependencies": {"a": "1"}})", Prod("a", "1", "2"), kNotFound,
               "the manifest has no \"dependencies\"");
  CheckRefused(R"({"dependencies": {"b": "1", "x": {"a": "1"}}})", Prod("a", "1", "2"), kNotFound,
               "\"dependencies\" has no \"a\"");

  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  for (const char* text :
       {"", "{", R"({"dependencies": {"a": "1",}})", R"({"dependencies": {"a": "1"}} x)",
        "{\"dependencies\": {\"a\": \"\xff\"}}", R"({"dependencies": {"a": "\ud800"}})",
        R"({"dependencies": {"a": "1"}, "n": 01})", "\xEF\xBB{}", "{} \xEF\xBB\xBF",
        "{\"dependencies\": {\"a\": \"1\"},\f\"b\": 1}", "{\"a\": \"tab\tinside\"}"}) {
    CheckRefused(text, Prod("a", "1", "2"), kInvalid, "the manifest ");
  }
  // nlohmann's parser takes a NUL byte after the value for the end of the text; JSON.parse
  // refuses it, and so does the editor.
  CheckRefused(std::string(R"({"dependencies": {"a": "1"}})") + '\0' + R"({"dependencies": 1})",
               Prod("a", "1", "2"), kInvalid, "not valid JSON: text after the value at byte 28");
  CheckRefused(std::string(100, '[') + std::string(100, ']'), Prod("a", "1", "2"), kInvalid,
               "nests deeper than 64");
  CheckRefused(R"({"dependencies": {"a": "1"}})",
               {ovvoc::v1::DEPENDENCY_KIND_UNSPECIFIED, "a", "1", "2"}, kInvalid,
               "names no dependency section");
  CheckRefused(R"({"dependencies": {"a": "1"}})", Prod("a", "1", "\xff"), kInvalid, "is not UTF-8");
}

TEST_CASE("a manifest built to be slow to read is refused at once") {
  // An ordered object inserts each key by a linear scan: 200,000 keys would take minutes.
  std::string keys = R"({"dependencies": {"a": "1")";
  for (int i = 0; i < 200000; ++i) absl::StrAppend(&keys, ",\"p", i, "\":\"1\"");
  keys += "}}";
  CheckRefused(keys, Prod("a", "1", "2"), absl::StatusCode::kInvalidArgument, "too many keys");
}

TEST_CASE("a manifest larger than the bound is refused before it is read") {
  std::string huge = R"({"dependencies": {"a": "1"}, "x": ")";
  huge += std::string(5 << 20, 'x');
  huge += "\"}";
  CheckRefused(huge, Prod("a", "1", "2"), absl::StatusCode::kResourceExhausted, "larger than");
}

TEST_CASE("every JSON token kind around the entry is stepped over") {
  const std::string before =
      "{\"n\": [-0, 1.5e+10, 2E-3, -12.75, 0.0, true, false, null, {}, [], [[{}]], \"\\\"]}\"],"
      " \"dependencies\": {\"x\": {\"y\": [\"}\"]}, \"a\": \"1\", \"t\": true}}";
  CHECK(Edited(before, Prod("a", "1", "2")) == Replaced(before, R"("a": "1")", R"("a": "2")"));
}

}  // namespace
}  // namespace ovvoc::agent::npm
