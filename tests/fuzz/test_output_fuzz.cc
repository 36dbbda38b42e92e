// Fuzz harness for the test counts read from a test command's output (agent/npm/test_output.h):
// arbitrary bytes as the output of `npm test`. Besides "no crash, no UB", it checks what the
// header promises: a summary's parts fit in its total, every count is bounded, the runner names
// only runners the parser knows, the same bytes give the same answer, and a jest summary printed
// after whatever came before is still recognised (nothing in the output swallows what follows a
// newline).
// Built as a libFuzzer target with OVVOC_BUILD_FUZZERS (clang), and into test_output_fuzz_smoke,
// which runs it over corpus/test_output plus deterministic mutations in every build.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "agent/npm/test_output.h"

namespace ovvoc::agent::npm {
namespace {

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "invariant violated: %s\n", what);
  std::abort();
}

void CheckSummary(const TestSummary& s) {
  const uint64_t parts = uint64_t{s.passed} + s.failed + s.skipped;
  Check(parts <= s.total, "passed + failed + skipped <= total");
  Check(s.total <= kMaxTestCount, "total bounded");
  static const std::set<std::string> kRunners = {
      "node:test", "tap", "mocha", "jest", "vitest", "ava", "uvu", "tap (node-tap)", "jasmine"};
  Check(!s.runner.empty(), "a runner named");
  for (absl::string_view name : absl::StrSplit(s.runner, ", ")) {
    Check(kRunners.count(std::string(name)) == 1, "a known runner");
  }
}

bool Same(const std::optional<TestSummary>& a, const std::optional<TestSummary>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || (a->runner == b->runner && a->passed == b->passed && a->failed == b->failed &&
                a->skipped == b->skipped && a->total == b->total);
}

void FuzzOne(absl::string_view output) {
  const std::optional<TestSummary> summary = ParseTestOutput(output);
  if (summary) CheckSummary(*summary);
  Check(Same(summary, ParseTestOutput(output)), "deterministic");

  const std::string with_jest =
      absl::StrCat(output, "\nTests:       1 failed, 2 passed, 3 total\n");
  const std::optional<TestSummary> after = ParseTestOutput(with_jest);
  Check(after.has_value(), "a summary after the output is recognised");
  CheckSummary(*after);
  Check(absl::StrContains(after->runner, "jest"), "jest named");
  Check(after->total >= 3 && after->failed >= 1, "jest's counts added");
}

}  // namespace
}  // namespace ovvoc::agent::npm

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ovvoc::agent::npm::FuzzOne(absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
