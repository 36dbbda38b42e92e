// A proposal's confidence score: how much the evidence gathered while proving it says the update
// is safe to merge, 0-100, with every factor shown (points earned, points possible, and why).
// The gates (install, build and tests as in the baseline, no new egress, no tampering) decide
// whether a proposal passes at all; the score only ranks what passed.
//
// Five factors, 100 points when everything is known. A part with no data is "unknown": its
// points leave the denominator instead of counting as zero, and the factor says so; a factor
// whose every part is unknown is shown as unknown. score = round(100 * earned / possible) over
// the known parts.
//
//   tests (35)          what ran: the runner's count of tests that ran (>= 50: 25, >= 10: 20,
//                       >= 1: 14, none: 0), or 12 when only the exit code speaks (no summary
//                       recognised, or counts from another runner than the baseline's or more
//                       than twice its count and 10), or 0 with no test command; and 10 when every
//                       updated package is used by the repository's own code (imported, required,
//                       or named in a package.json script), 5 when some are, 0 when none is. A
//                       failed test step earns nothing; a step never reached is unknown, and so are
//                       tests that failed before the update too (broken before).
//   change size (25)    the largest semver step: patch 15, minor 10, major 0; and the lockfile
//                       entries changed, added and removed together: <= 2: 10, <= 10: 7,
//                       <= 50: 4, more: 0 (unknown when the lockfile was never regenerated).
//   release maturity (15)  the youngest target's age: >= 30 days: 10, >= 7: 7, >= 2: 4, less: 0
//                       (unknown without a publish time); and 5 when no newer release on a
//                       target's own major.minor line exists, 2 when one came more than 7 days
//                       after it, 0 when one came within 7 days (a quick fix the target needed).
//   supply chain (15)   6 when no update adds an install script (a target that has one where the
//                       current version had none, or a package newly running one in the tree);
//                       3 when engines.node is unchanged (unknown when the current version is
//                       not in the packument); 3 when the publisher is unchanged (unknown when the
//                       registry names none); 3 when provenance is kept (0 when the current
//                       version had it and a target has not; unknown when no current had it).
//   flaky tests (10)    10 when the tests passed the first time, 0 when they passed only when run
//                       again, here or in the baseline; unknown when no test ran.
//
// For a group, each part takes the worst of its updates. Pure functions; thread-safe.
#ifndef OVVOC_AGENT_SCORING_CONFIDENCE_H_
#define OVVOC_AGENT_SCORING_CONFIDENCE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "ovvoc/v1/job.pb.h"

namespace ovvoc::agent::scoring {

// One update of the proposal, with what the plan and the repository say of it.
struct ScoredUpdate {
  const ovvoc::v1::PlannedDependency* planned = nullptr;  // its signals, target_published
  // Where the repository's own code uses it ("src/index.js", "package.json scripts.test");
  // empty when nowhere was found.
  std::string used_by;
};

struct ScoreInputs {
  const ovvoc::v1::ProposalResult* proposal = nullptr;  // updates, lockfile_change, trial
  std::vector<ScoredUpdate> updates;
  // Whether the repository's code could be searched for uses (false: that part is unknown).
  bool uses_known = false;
  // "name@version" of each package of the new tree that runs an install script where no
  // package of that name did before (scoring::CompareTrees).
  std::vector<std::string> new_install_scripts;
  // Packages new to the tree that look like typosquats, and that are deprecated (the
  // proposal's findings: evidence.h).
  std::vector<std::string> typosquat_suspects;
  std::vector<std::string> new_deprecated;
  // Names a private registry of the job also serves, with versions of its own (dependency
  // confusion: pipeline/confusion.h).
  std::vector<std::string> confusion_suspects;
  // The baseline's tests passed only when run again (its test outcome's attempts).
  bool baseline_flaky = false;
  // The baseline's tests failed (broken before): the proposal's say little either way.
  bool baseline_tests_failed = false;
  // The baseline's test outcome: a proposal's counts earn their points only when the same runner
  // printed them and they are not far above the baseline's (the counts are the container's
  // word: test_output.h). Null: counts are taken as they are.
  const ovvoc::v1::CommandOutcome* baseline_test = nullptr;
  absl::Time now;
};

ovvoc::v1::ConfidenceScore ScoreProposal(const ScoreInputs& inputs);

// How many tests ran by a runner's counts: the total less the skipped.
uint32_t TestsRan(const ovvoc::v1::TestCounts& counts);

}  // namespace ovvoc::agent::scoring

#endif  // OVVOC_AGENT_SCORING_CONFIDENCE_H_
