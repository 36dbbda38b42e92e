// A command's excerpt in the job's result (agent/pipeline/excerpt.h): the error, then the end.
#include "agent/pipeline/excerpt.h"

#include <catch2/catch.hpp>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace ovvoc::agent {
namespace {

std::string Lines(const std::string& prefix, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) absl::StrAppend(&out, prefix, " ", i, ": some: value, errorOnDeprecated: false\n");
  return out;
}

TEST_CASE("error lines are told from configuration and progress", "[excerpt]") {
  for (const char* line : {"TypeError: x is not a function", "npm ERR! code ELIFECYCLE",
                           "src/a.ts(3,1): error TS2304: Cannot find name 'x'.",
                           "  error: unknown option", "FAIL test/a.test.js", "not ok 3 - adds",
                           "\xE2\x9C\x96 2 problems", "Error [ERR_REQUIRE_ESM]: require()",
                           "Error: Cannot find module './resolver.linux-x64-gnu.node'",
                           "sh: 1: lefthook: command not found",
                           "    at Object.<anonymous> (AssertionError: expected)"}) {
    INFO(line);
    CHECK(LooksLikeError(line));
  }
  for (const char* line : {"errorOnDeprecated: false,", "  0 errors, 2 warnings", "ok 1 - adds",
                           "Errors are reported below", "PASS test/a.test.js", "> jest --ci"}) {
    INFO(line);
    CHECK_FALSE(LooksLikeError(line));
  }
}

TEST_CASE("a failing command's excerpt shows its first error and its end", "[excerpt]") {
  const std::string dump = Lines("config", 400);  // ~20 KB of configuration first
  const std::string error =
      "> test\n"
      "TypeError: Cannot read properties of undefined (reading 'map')\n"
      "    at render (src/list.js:12:20)\n";
  const std::string middle = Lines("progress", 400);
  const std::string end = "Tests: 1 failed, 41 passed, 42 total\n";
  const std::string excerpt = CommandExcerpt(absl::StrCat(dump, error, middle, end), 4096);
  CHECK(excerpt.size() <= 4096 + 100);
  CHECK(absl::StrContains(excerpt, error));
  CHECK(absl::EndsWith(excerpt, end));
  CHECK_FALSE(absl::StrContains(excerpt, "config 0:"));
  CHECK(absl::StartsWith(excerpt, "[... "));
  CHECK(absl::StrContains(excerpt, " bytes between ...]\n"));
  // The error block comes before the end.
  CHECK(excerpt.find("TypeError") < excerpt.find("Tests: 1 failed"));
}

TEST_CASE("short output is kept whole, output without an error keeps its end", "[excerpt]") {
  CHECK(CommandExcerpt("npm ERR! x\n", 4096) == "npm ERR! x\n");
  const std::string text = Lines("line", 400);
  const std::string excerpt = CommandExcerpt(text, 2048);
  CHECK(excerpt.size() <= 2048 + 50);
  CHECK(absl::EndsWith(excerpt, "line 399: some: value, errorOnDeprecated: false\n"));
  CHECK(absl::StartsWith(excerpt, "[... "));
}

TEST_CASE("an error near the end is shown by the end alone", "[excerpt]") {
  const std::string text = absl::StrCat(Lines("line", 400), "npm ERR! code 1\nnpm ERR! path /w\n");
  const std::string excerpt = CommandExcerpt(text, 2048);
  CHECK(absl::EndsWith(excerpt, "npm ERR! path /w\n"));
  CHECK_FALSE(absl::StrContains(excerpt, "between"));
}

TEST_CASE("one endless error line is cut to its share", "[excerpt]") {
  const std::string text =
      absl::StrCat("Error: ", std::string(50000, 'x'), "\n", Lines("tail", 100));
  const std::string excerpt = CommandExcerpt(text, 4096);
  CHECK(excerpt.size() <= 4096 + 100);
  CHECK(absl::StartsWith(excerpt, "Error: xxx"));
  CHECK(absl::EndsWith(excerpt, "tail 99: some: value, errorOnDeprecated: false\n"));
}

}  // namespace
}  // namespace ovvoc::agent
