// How many tests a test command ran, passed, failed and skipped: the counts in the summary each
// runner prints at its end (node:test, tape and other TAP producers, mocha, jest, vitest, ava,
// uvu, node-tap, jasmine), read from the command's combined output as
// agent/process/bounded_output.h keeps it (possibly cut in the middle at a
// "[... N bytes omitted ...]" line; summaries sit at the end, which is kept). A script that runs
// several runners one after the other prints several summaries: their counts are added up.
//
// The output is what the code under test wrote: attacker-controlled. Reading it never fails, takes
// time and memory linear in its size, and yields bounded counts; a forged summary yields forged
// but consistent counts (passed + failed + skipped <= total), never a crash or an overflow. So the
// counts may tell a person how much the tests proved; they must never decide anything (the exit
// code does). Pure functions; thread-safe.
//
// How the output is read:
//  - As a terminal would have left it: escape sequences (colours, links) are dropped; "\r\n" ends
//    a line; a bare "\r", an erase-line or a move to column 1 starts the line over; a cursor-up
//    (a progress area redrawn by jest or ink) drops the lines it moves over, so that a summary
//    redrawn in place counts once.
//  - Line by line, each runner's summary by its own shape (test_output.cc lists them, with where
//    each was checked).
//  - Precedence: runner summaries win. Raw TAP (`ok 3 - adds`, `not ok 4 # TODO`, `1..12`) is
//    counted only when the output holds no runner summary at all, so a node:test or tape run,
//    whose `ok` lines end in a `# tests` trailer, counts once. TAP counts at column 0 only:
//    indented test points are subtests, and an indented trailer is a nested run's own.
//  - Contradictions: every count saturates at kMaxTestCount; a total below the sum of its parts
//    is raised to that sum (the parts say what happened to each test); a total above it is kept
//    (tests the runner counted without an outcome: not run, or cut from the output). Where the
//    sum over several summaries saturates, skipped and then passed are cut so that the parts
//    still fit in the total.
#ifndef OVVOC_AGENT_NPM_TEST_OUTPUT_H_
#define OVVOC_AGENT_NPM_TEST_OUTPUT_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace ovvoc::agent::npm {

// No real suite comes near it; a forged summary stops here.
inline constexpr uint32_t kMaxTestCount = 1'000'000'000;

struct TestSummary {
  // What was recognised, in order of first appearance, joined by ", ": "node:test", "tap",
  // "mocha", "jest", "vitest", "ava", "uvu", "tap (node-tap)", "jasmine"; "jest, tap" for two.
  std::string runner;
  uint32_t passed = 0;   // including tests expected to fail that did (ava, vitest, node:test)
  uint32_t failed = 0;   // including node:test's cancelled and ava's timed-out tests
  uint32_t skipped = 0;  // skipped, todo and pending
  uint32_t total = 0;    // at least passed + failed + skipped
};

// The counts the output's summaries report, summed. nullopt: no summary recognised (and no TAP).
std::optional<TestSummary> ParseTestOutput(absl::string_view output);

}  // namespace ovvoc::agent::npm

#endif  // OVVOC_AGENT_NPM_TEST_OUTPUT_H_
