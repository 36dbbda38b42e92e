// Test counts read from a test command's output (agent/npm/test_output.h). The samples are each
// runner's own output, colours included where the runner colours it (taken from the runners'
// sources and snapshot tests; test names and timings made up).
#include "agent/npm/test_output.h"

#include <catch2/catch.hpp>
#include <string>

#include "absl/strings/str_cat.h"

namespace ovvoc::agent::npm {
namespace {

struct Expected {
  std::string runner;
  uint32_t passed, failed, skipped, total;
};

void CheckCounts(absl::string_view output, const Expected& want) {
  std::optional<TestSummary> got = ParseTestOutput(output);
  REQUIRE(got.has_value());
  CHECK(got->runner == want.runner);
  CHECK(got->passed == want.passed);
  CHECK(got->failed == want.failed);
  CHECK(got->skipped == want.skipped);
  CHECK(got->total == want.total);
}

// node's default_output.snapshot, with the escapes its snapshot shows as "[32m".
constexpr char kNodeSpecColoured[] =
    "\x1b[32m\xE2\x9C\x94 should pass \x1b[90m(1.2ms)\x1b[39m\x1b[39m\n"
    "\x1b[31m\xE2\x9C\x96 should fail \x1b[90m(0.9ms)\x1b[39m\x1b[39m\n"
    "  Error: fail\n"
    "      at TestContext.<anonymous> (file:///app/test/a.test.mjs:5:9)\x1b[39m\n"
    "\n"
    "\x1b[90m\xEF\xB9\xA3 should skip \x1b[90m(0.1ms)\x1b[39m # SKIP\x1b[39m\n"
    "\xE2\x96\xB6 parent\n"
    "  \x1b[31m\xE2\x9C\x96 should fail \x1b[90m(0.3ms)\x1b[39m\x1b[39m\n"
    "  \x1b[31m\xE2\x9C\x96 should pass but parent fail \x1b[90m(0.2ms)\x1b[39m\x1b[39m\n"
    "    \x1b[32m'test did not finish before its parent and was cancelled'\x1b[39m\n"
    "\x1b[31m\xE2\x96\xB6 \x1b[39mparent \x1b[90m(1.1ms)\x1b[39m\n"
    "\n"
    "\x1b[34m\xE2\x84\xB9 tests 6\x1b[39m\n"
    "\x1b[34m\xE2\x84\xB9 suites 0\x1b[39m\n"
    "\x1b[34m\xE2\x84\xB9 pass 1\x1b[39m\n"
    "\x1b[34m\xE2\x84\xB9 fail 3\x1b[39m\n"
    "\x1b[34m\xE2\x84\xB9 cancelled 1\x1b[39m\n"
    "\x1b[34m\xE2\x84\xB9 skipped 1\x1b[39m\n"
    "\x1b[34m\xE2\x84\xB9 todo 0\x1b[39m\n"
    "\x1b[34m\xE2\x84\xB9 duration_ms 61.5\x1b[39m\n"
    "\n"
    "\x1b[31m\xE2\x9C\x96 failing tests:\x1b[39m\n";

// node's skip_pattern.snapshot: five test points (suites among them), three tests.
constexpr char kNodeTap[] =
    "TAP version 13\n"
    "# Subtest: top level skipped test enabled\n"
    "ok 1 - top level skipped test enabled # SKIP\n"
    "  ---\n  duration_ms: 0.3\n  ...\n"
    "# Subtest: top level it enabled\n"
    "ok 2 - top level it enabled\n"
    "  ---\n  duration_ms: 0.2\n  ...\n"
    "# Subtest: top level skipped it enabled\n"
    "ok 3 - top level skipped it enabled # SKIP\n"
    "  ---\n  duration_ms: 0.1\n  ...\n"
    "# Subtest: top level describe\n"
    "ok 4 - top level describe\n"
    "  ---\n  duration_ms: 0.4\n  type: 'suite'\n  ...\n"
    "# Subtest: top level skipped describe enabled\n"
    "ok 5 - top level skipped describe enabled # SKIP\n"
    "  ---\n  duration_ms: 0.1\n  type: 'suite'\n  ...\n"
    "1..5\n"
    "# tests 3\n# suites 2\n# pass 1\n# fail 0\n# cancelled 0\n# skipped 2\n# todo 0\n"
    "# duration_ms 52.1\n";

constexpr char kTape[] =
    "TAP version 13\n"
    "# sums\n"
    "ok 1 should be strictly equal\n"
    "not ok 2 should be strictly equal\n"
    "  ---\n"
    "    operator: equal\n"
    "    expected: 3\n"
    "    actual:   4\n"
    "    at: Test.<anonymous> (/app/test/sum.js:7:5)\n"
    "  ...\n"
    "# network\n"
    "ok 3 fetches # SKIP no network\n"
    "\n"
    "1..3\n"
    "# tests 3\n"
    "# pass  2\n"
    "# fail  1\n";

constexpr char kMochaColoured[] =
    "\n\n"
    "  Array\n"
    "    #indexOf()\n"
    "      \x1b[32m  \xE2\x9C\x93\x1b[0m\x1b[90m should return -1 when not present\x1b[0m\n"
    "      \x1b[36m  - should find NaN\x1b[0m\n"
    "      \x1b[31m  1) should find the first match\x1b[0m\n"
    "\n\n"
    "\x1b[92m \x1b[0m\x1b[32m 12 passing\x1b[0m\x1b[90m (34ms)\x1b[0m\n"
    "\x1b[36m \x1b[0m\x1b[36m 2 pending\x1b[0m\n"
    "\x1b[31m  1 failing\x1b[0m\n"
    "\n"
    "  1) Array\n"
    "       #indexOf()\n"
    "         should find the first match:\n"
    "\n"
    "      \x1b[31mAssertionError [ERR_ASSERTION]: 1 == 0\x1b[0m\n"
    "      \x1b[90m  at Context.<anonymous> (test/array.js:12:14)\x1b[0m\n"
    "\n\n";

constexpr char kJestColoured[] =
    "\x1b[0m\x1b[7m\x1b[1m\x1b[32m PASS \x1b[39m\x1b[22m\x1b[27m\x1b[0m \x1b[2msrc/\x1b[22m"
    "\x1b[1msum.test.js\x1b[22m\n"
    "\x1b[0m\x1b[7m\x1b[1m\x1b[31m FAIL \x1b[39m\x1b[22m\x1b[27m\x1b[0m \x1b[2msrc/\x1b[22m"
    "\x1b[1mdiv.test.js\x1b[22m\n"
    "  \x1b[1m\xE2\x97\x8F \x1b[22mdiv \xE2\x80\xBA by zero\n"
    "\n"
    "\x1b[1mTest Suites: \x1b[22m\x1b[1m\x1b[31m1 failed\x1b[39m\x1b[22m, \x1b[1m\x1b[32m3 passed"
    "\x1b[39m\x1b[22m, 4 total\n"
    "\x1b[1mTests:       \x1b[22m\x1b[1m\x1b[31m1 failed\x1b[39m\x1b[22m, \x1b[1m\x1b[33m2 skipped"
    "\x1b[39m\x1b[22m, \x1b[1m\x1b[35m1 todo\x1b[39m\x1b[22m, \x1b[1m\x1b[32m10 passed\x1b[39m"
    "\x1b[22m, 14 total\n"
    "\x1b[1mSnapshots:   \x1b[22m0 total\n"
    "\x1b[1mTime:\x1b[22m        2.345 s\n"
    "\x1b[2mRan all test suites\x1b[22m\x1b[2m.\x1b[22m\n";

TEST_CASE("node:test's spec reporter, coloured: cancelled tests failed", "[test_output]") {
  CheckCounts(kNodeSpecColoured, {"node:test", 1, 4, 1, 6});
  CheckCounts(
      "\xE2\x9C\x94 should pass (1.3ms)\n\xE2\x84\xB9 tests 1\n\xE2\x84\xB9 suites 0\n"
      "\xE2\x84\xB9 pass 1\n\xE2\x84\xB9 fail 0\n\xE2\x84\xB9 cancelled 0\n"
      "\xE2\x84\xB9 skipped 0\n\xE2\x84\xB9 todo 0\n\xE2\x84\xB9 duration_ms 3.1\n",
      {"node:test", 1, 0, 0, 1});
}

TEST_CASE("node:test's TAP: the trailer counts, its five ok lines do not", "[test_output]") {
  CheckCounts(kNodeTap, {"node:test", 1, 0, 2, 3});
  SECTION("positive control: the same ok lines without their trailer are counted") {
    const std::string tap(kNodeTap);
    CheckCounts(tap.substr(0, tap.find("# tests")), {"tap", 2, 0, 3, 5});
  }
}

TEST_CASE("node:test under `node --test`: a file's own indented trailer is not counted again",
          "[test_output]") {
  CheckCounts(
      "TAP version 13\n"
      "# Subtest: /app/test/a.test.js\n"
      "    ok 1 - adds\n"
      "    1..1\n"
      "    # tests 1\n    # pass 1\n    # fail 0\n"
      "ok 1 - /app/test/a.test.js\n"
      "# Subtest: /app/test/b.test.js\n"
      "    not ok 1 - divides\n"
      "    1..1\n"
      "    # tests 1\n    # pass 0\n    # fail 1\n"
      "not ok 2 - /app/test/b.test.js\n"
      "1..2\n"
      "# tests 2\n# pass 1\n# fail 1\n# cancelled 0\n# skipped 0\n# todo 0\n"
      "# duration_ms 90.2\n",
      {"node:test", 1, 1, 0, 2});
}

TEST_CASE("tape: the trailer, with the skipped assertion it counts as passed", "[test_output]") {
  CheckCounts(kTape, {"tap", 1, 1, 1, 3});
  CheckCounts(
      "TAP version 13\n# a\nok 1 should be truthy\nok 2 should be equal\n\n1..2\n"
      "# tests 2\n# pass  2\n\n# ok\n\n",
      {"tap", 2, 0, 0, 2});
}

TEST_CASE("mocha's TAP reporter: pending tests are outside its trailer's tests", "[test_output]") {
  CheckCounts(
      "ok 1 Array indexOf returns -1\n"
      "ok 2 Array indexOf finds NaN # SKIP -\n"
      "not ok 3 Array indexOf finds the first match\n"
      "  AssertionError [ERR_ASSERTION]: 1 == 0\n"
      "# tests 2\n# pass 1\n# fail 1\n1..3\n",
      {"tap", 1, 1, 1, 3});
}

TEST_CASE("TAP without any summary: its test points and plan are counted", "[test_output]") {
  CheckCounts(
      "TAP version 13\n1..4\nok 1 - a\nnot ok 2 - b\nok 3 - c # SKIP no network\n"
      "not ok 4 - d # todo later\n",
      {"tap", 1, 1, 2, 4});
  SECTION("a plan larger than the points seen: the total keeps it") {
    CheckCounts("1..10\nok 1 - a\nok 2 - b\n", {"tap", 2, 0, 0, 10});
  }
  SECTION("indented points are subtests; an escaped # is no directive") {
    CheckCounts("ok 1 - parent\n    ok 1 - child\n    not ok 2 - child\nok 2 - c \\# skip\n",
                {"tap", 2, 0, 0, 2});
  }
}

TEST_CASE("mocha's spec reporter, coloured", "[test_output]") {
  CheckCounts(kMochaColoured, {"mocha", 12, 1, 2, 15});
  CheckCounts("\r\n  3 passing (5ms)\r\n\r\n", {"mocha", 3, 0, 0, 3});
}

TEST_CASE("jest, coloured: the Tests line, not the suites'", "[test_output]") {
  CheckCounts(kJestColoured, {"jest", 10, 1, 3, 14});
  CheckCounts("Test Suites: 1 passed, 1 total\nTests:       0 total\n", {"jest", 0, 0, 0, 0});
}

TEST_CASE("vitest, new and old summaries", "[test_output]") {
  CheckCounts(
      " \x1b[32m\xE2\x9C\x93\x1b[39m src/sum.test.ts \x1b[2m(\x1b[22m\x1b[2m3 tests\x1b[22m"
      "\x1b[2m)\x1b[22m\x1b[32m 2\x1b[2mms\x1b[22m\x1b[39m\n"
      " \x1b[31m\xE2\x9D\xAF\x1b[39m src/div.test.ts \x1b[2m(3 tests | \x1b[22m\x1b[31m1 failed"
      "\x1b[39m\x1b[2m)\x1b[22m 4ms\n"
      "\n"
      "\x1b[2m Test Files \x1b[22m \x1b[1m\x1b[31m1 failed\x1b[39m\x1b[22m\x1b[2m | \x1b[22m"
      "\x1b[1m\x1b[32m1 passed\x1b[39m\x1b[22m\x1b[90m (2)\x1b[39m\n"
      "\x1b[2m      Tests \x1b[22m \x1b[1m\x1b[31m1 failed\x1b[39m\x1b[22m\x1b[2m | \x1b[22m"
      "\x1b[1m\x1b[32m3 passed\x1b[39m\x1b[22m\x1b[2m | \x1b[22m\x1b[36m1 expected fail\x1b[39m"
      "\x1b[2m | \x1b[22m\x1b[33m1 skipped\x1b[39m\x1b[90m (6)\x1b[39m\n"
      "\x1b[2m   Start at \x1b[22m 12:00:00\n"
      "\x1b[2m   Duration \x1b[22m 310ms\x1b[2m (transform 20ms, setup 0ms, collect "
      "15ms)\x1b[22m\n",
      {"vitest", 4, 1, 1, 6});
  CheckCounts(
      " Test Files  1 passed (1)\n      Tests  10 passed (10)\n   Start at  09:01:02\n"
      "   Duration  1.20s\n",
      {"vitest", 10, 0, 0, 10});
  SECTION("tests vitest did not run are in its total only") {
    CheckCounts("      Tests  2 passed | 1 todo (5)\n", {"vitest", 2, 0, 1, 5});
  }
}

TEST_CASE("ava's summary", "[test_output]") {
  CheckCounts(
      "  \xE2\x9C\x94 sum \xE2\x80\xBA adds\n  \xE2\x94\x80\n\n  \x1b[32m12 tests passed"
      "\x1b[39m\n  \x1b[33m2 tests skipped\x1b[39m\n  \x1b[34m3 tests todo\x1b[39m\n",
      {"ava", 12, 0, 5, 17});
  SECTION("with failures ava prints no passed line: the ticks before are the passed") {
    CheckCounts(
        "  \x1b[32m\xE2\x9C\x94\x1b[39m test \x1b[90m\x1b[2m\xE2\x80\xBA\x1b[22m\x1b[39m passes\n"
        "  \x1b[31m\xE2\x9C\x98 [fail]:\x1b[39m test \xE2\x80\xBA fails\n"
        "  \x1b[31m\xE2\x9C\x94 [expected fail]\x1b[39m test \xE2\x80\xBA known failure\n"
        "  \x1b[32m\xE2\x9C\x94\x1b[39m other \xE2\x80\xBA also passes\n"
        "  \x1b[34m- [todo] test \xE2\x80\xBA todo\x1b[39m\n"
        "  \x1b[90m\xE2\x94\x80\x1b[39m\n"
        "\n"
        "  \x1b[31m1 test failed\x1b[39m\n"
        "  \x1b[31m1 known failure\x1b[39m\n"
        "  \x1b[34m1 test todo\x1b[39m\n"
        "  \x1b[31m1 unhandled rejection\x1b[39m\n",
        {"ava", 3, 1, 1, 5});
  }
}

TEST_CASE("uvu's summary: its Total leaves out the skipped", "[test_output]") {
  CheckCounts(
      "\x1b[1mmath.js\x1b[22m\n\x1b[90m\xE2\x80\xA2 \x1b[39m\x1b[90m\xE2\x80\xA2 \x1b[39m"
      "\x1b[31m\xE2\x9C\x98 \x1b[39m\x1b[31m  (2 / 3)\n\x1b[39m\n"
      "  Total:     3\x1b[31m\n  Passed:    2\x1b[39m\n  Skipped:   \x1b[33m1\x1b[39m\n"
      "  Duration:  1.23ms\n\n",
      {"uvu", 2, 1, 1, 4});
  SECTION("another program's Total/Passed lines in another order are not uvu's") {
    CHECK_FALSE(ParseTestOutput("  Total:     3\n  Failed:    1\n  Passed:    2\n").has_value());
  }
}

TEST_CASE("node-tap: tap 18, tap 16 and raw TAP", "[test_output]") {
  CheckCounts(
      "\x1b[1mAsserts:\x1b[22m  \x1b[32m5 pass\x1b[39m  \x1b[1m\x1b[31m1 fail\x1b[39m\x1b[22m  "
      "\x1b[36m2 skip\x1b[39m  \x1b[35m2 todo\x1b[39m  \x1b[2m6 of 10 complete\x1b[22m\n"
      "\x1b[1mSuites:\x1b[22m   \x1b[32m8 pass\x1b[39m  \x1b[1m\x1b[31m1 fail\x1b[39m\x1b[22m  "
      "\x1b[36m1 skip\x1b[39m          \x1b[2m9 of 10 complete\x1b[22m\n",
      {"tap (node-tap)", 5, 1, 4, 10});
  CheckCounts(
      "Suites:   1 failed, 1 passed, 1 todo, 1 skip, 4 of 4 completed\n"
      "Asserts:  1 failed, 1 passed, 1 todo, 1 skip, of 4\nTime:     123ms\n",
      {"tap (node-tap)", 1, 1, 2, 4});
  CheckCounts(
      "TAP version 14\nok 1 - this is fine\n1..1\n# { total: 1, pass: 1 }\n"
      "# time=12.3ms\n",
      {"tap (node-tap)", 1, 0, 0, 1});
  CheckCounts(
      "not ok 1 - test/fixtures/example-tap.ts # time=484.581ms\n1..1\n"
      "# { total: 25, pass: 8, fail: 4, todo: 6, skip: 7 }\n",
      {"tap (node-tap)", 8, 4, 13, 25});
}

TEST_CASE("jasmine's summary", "[test_output]") {
  CheckCounts(
      "Started\n..F*\n\nFailures:\n1) Player should resume\n  Message:\n    Expected "
      "false to be true.\n\n4 specs, 1 failure, 1 pending spec\nFinished in 0.012 seconds\n",
      {"jasmine", 2, 1, 1, 4});
  CheckCounts("Started\n.\n\n\n1 spec, 0 failures\nFinished in 0.004 seconds\n",
              {"jasmine", 1, 0, 0, 1});
}

TEST_CASE("two runners one after the other: both summaries, added up", "[test_output]") {
  CheckCounts(
      absl::StrCat("> lint-and-test\n> tape test/*.js && jest\n\n", kTape, "\n", kJestColoured),
      {"tap, jest", 11, 2, 4, 17});
  CheckCounts(absl::StrCat(kNodeTap, kMochaColoured), {"node:test, mocha", 13, 1, 4, 18});
  SECTION("two node:test trailers with no line between them stay two") {
    CheckCounts(
        "# tests 1\n# pass 1\n# duration_ms 3\n# tests 2\n# pass 0\n# fail 2\n"
        "# duration_ms 4\n",
        {"node:test", 1, 2, 0, 3});
  }
}

TEST_CASE("output cut in the middle: the summary in the kept end counts", "[test_output]") {
  // BoundedOutput's marker, here cutting an escape sequence and a TAP stream short.
  const std::string cut = absl::StrCat(
      "TAP version 13\nok 1 - a\nok 2 - b\n\x1b[3", "\n[... 1048576 bytes omitted ...]\n",
      "ed\x1b[39m\nnot ok 4000 - z\n1..4000\n# tests 4000\n# pass  3999\n# fail  1\n");
  CheckCounts(cut, {"tap", 3999, 1, 0, 4000});
  SECTION("no summary in what was kept: the test points seen, and the plan's total") {
    CheckCounts("ok 1 - a\n[... 99 bytes omitted ...]\nok 49 - y\nnot ok 50 - z\n1..50\n",
                {"tap", 2, 1, 0, 50});
  }
}

TEST_CASE("progress redraws: a summary redrawn in place counts once", "[test_output]") {
  SECTION("bare carriage returns") {
    CheckCounts("Tests:       1 passed, 5 total\rTests:       5 passed, 5 total\n",
                {"jest", 5, 0, 0, 5});
  }
  SECTION("erase-lines and cursor-up, as jest's and ink's status areas do") {
    CheckCounts(
        "Tests:       1 passed, 5 total\nTime:        1 s\n"
        "\x1b[2K\x1b[1A\x1b[2K\x1b[1A\x1b[2K\x1b[G"
        "Tests:       4 passed, 1 failed, 5 total\n",
        {"jest", 4, 1, 0, 5});
  }
  SECTION("positive control: printed twice, not redrawn, the summary counts twice") {
    CheckCounts("Tests:       1 passed, 5 total\nTests:       5 passed, 5 total\n",
                {"jest", 6, 0, 0, 10});
  }
  SECTION("a carriage return before the newline keeps the line") {
    CheckCounts("  2 passing (3ms)\r\r\n", {"mocha", 2, 0, 0, 2});
  }
}

TEST_CASE("forged huge numbers saturate and stay consistent", "[test_output]") {
  std::optional<TestSummary> got = ParseTestOutput(
      "Tests:       99999999999999999999999 failed, 99999999999999999999 passed, 5 total\n");
  REQUIRE(got.has_value());
  CHECK(got->failed == kMaxTestCount);
  CHECK(got->total == kMaxTestCount);
  CHECK(uint64_t{got->passed} + got->failed + got->skipped <= got->total);

  std::string many;
  for (int i = 0; i < 10; ++i) absl::StrAppend(&many, "  999999999 passing (1s)\n\n");
  got = ParseTestOutput(many);
  REQUIRE(got.has_value());
  CHECK(got->passed == kMaxTestCount);
  CHECK(got->total == kMaxTestCount);

  got = ParseTestOutput(absl::StrCat("\x1b[", std::string(5000, '9'), "A", "  1 failing\n"));
  REQUIRE(got.has_value());
  CHECK(got->failed == 1);
}

TEST_CASE("contradictory summaries: a total below its parts is raised to them", "[test_output]") {
  CheckCounts("Tests:       3 failed, 10 passed, 5 total\n", {"jest", 10, 3, 0, 13});
  CheckCounts("\xE2\x84\xB9 tests 2\n\xE2\x84\xB9 pass 5\n\xE2\x84\xB9 fail 0\n",
              {"node:test", 5, 0, 0, 5});
  CheckCounts("  Total:     3\n  Passed:    7\n  Skipped:   0\n", {"uvu", 7, 0, 0, 7});
  CheckCounts("2 specs, 5 failures\n", {"jasmine", 0, 5, 0, 5});
}

TEST_CASE("nothing recognised", "[test_output]") {
  for (const char* output : {
           "",
           "npm ERR! Missing script: \"test\"\n",
           "> project@1.0.0 test\n> echo \"Error: no test specified\" && exit 1\n",
           "ok computer\nok: all good\nTests: pending\n# tests\n",
           "Tests:       5 passed\n",             // jest's line always ends in a total
           "      Tests  5 passed\n",             // vitest's always in a bracketed one
           "1..0\n",                              // an empty plan alone
           "\xE2\x84\xB9 tests 3\n",              // a trailer's first line alone
           "   Total:     3\n   Passed:    3\n",  // uvu's without Skipped
           "\x1b[31m\x1b]8;;https://x\x07link\x1b]8;;\x07\x1b[0m\n",
       }) {
    INFO(output);
    CHECK_FALSE(ParseTestOutput(output).has_value());
  }
}

}  // namespace
}  // namespace ovvoc::agent::npm
