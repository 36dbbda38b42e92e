#include "agent/scoring/confidence.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/time_util.h"

namespace ovvoc::agent::scoring {
namespace {

using ovvoc::v1::CommandOutcome;
using ovvoc::v1::ConfidenceFactor;
using ovvoc::v1::PlannedDependency;

// One part of a factor: points of max when known; its reason either way.
struct Part {
  double points = 0;
  double max = 0;
  bool known = false;
  std::string detail;
};

Part Known(double points, double max, std::string detail) {
  return {points, max, true, std::move(detail)};
}

Part Unknown(double max, std::string detail) { return {0, max, false, std::move(detail)}; }

ConfidenceFactor Factor(const char* name, const std::vector<Part>& parts) {
  ConfidenceFactor factor;
  factor.set_name(name);
  std::vector<std::string> details;
  double points = 0, max = 0;
  for (const Part& part : parts) {
    if (part.known) {
      points += part.points;
      max += part.max;
      factor.set_known(true);
    }
    details.push_back(part.known ? part.detail : absl::StrCat("unknown: ", part.detail));
  }
  factor.set_points(points);
  factor.set_max_points(max);
  factor.set_detail(absl::StrJoin(details, "; "));
  return factor;
}

bool Passed(const CommandOutcome& c) {
  return c.termination() == ovvoc::v1::TERMINATION_EXITED && c.exit_code() == 0;
}

bool Reached(const CommandOutcome& c) {
  return c.skipped() || c.termination() != ovvoc::v1::TERMINATION_UNSPECIFIED;
}

std::string Step(const PlannedDependency& d) {
  return absl::StrCat(d.name(), " ", d.current().empty() ? "?" : d.current(), " -> ", d.target());
}

// ---- tests

uint32_t Ran(const ovvoc::v1::TestCounts& t) { return TestsRan(t); }

// Whether a proposal's counts are believable beside the baseline's.
bool Believable(const CommandOutcome& test, const CommandOutcome* baseline) {
  if (baseline == nullptr || !baseline->has_tests()) return true;
  return test.tests().runner() == baseline->tests().runner() &&
         uint64_t{Ran(test.tests())} <= 2 * uint64_t{Ran(baseline->tests())} + 10;
}

Part TestsRan(const CommandOutcome& test, bool broken_before, const CommandOutcome* baseline) {
  constexpr double kMax = 25;
  if (broken_before) {
    return Unknown(kMax, "the tests failed before the update too (broken before)");
  }
  if (test.skipped()) return Known(0, kMax, "no test command: nothing exercised the update");
  if (!Reached(test)) return Unknown(kMax, "the tests were not reached");
  if (!Passed(test)) return Known(0, kMax, "the tests failed");
  if (test.has_tests() && !Believable(test, baseline)) {
    return Known(
        12, kMax,
        absl::StrCat("the tests passed; their counts (", Ran(test.tests()), " by ",
                     test.tests().runner(), ") are unlike the baseline's (", Ran(baseline->tests()),
                     " by ", baseline->tests().runner(), "), so only the exit code speaks"));
  }
  if (!test.has_tests()) {
    return Known(12, kMax,
                 "the tests passed; no runner's summary was recognised, so only the "
                 "exit code speaks");
  }
  const uint32_t ran = Ran(test.tests());
  const double points = ran >= 50 ? 25 : ran >= 10 ? 20 : ran >= 1 ? 14 : 0;
  return Known(points, kMax,
               ran == 0 ? "the test command ran no tests"
                        : absl::StrCat(ran, ran == 1 ? " test" : " tests", " ran (",
                                       test.tests().runner(), ")"));
}

Part Exercised(const ScoreInputs& in) {
  constexpr double kMax = 10;
  if (!in.uses_known) return Unknown(kMax, "the repository's code could not be searched for uses");
  std::vector<std::string> used, unused;
  for (const ScoredUpdate& u : in.updates) {
    (u.used_by.empty() ? unused : used)
        .push_back(u.used_by.empty() ? u.planned->name()
                                     : absl::StrCat(u.planned->name(), " by ", u.used_by));
  }
  if (unused.empty()) return Known(kMax, kMax, absl::StrCat("used: ", absl::StrJoin(used, ", ")));
  if (used.empty()) {
    return Known(0, kMax,
                 absl::StrCat("not used by the repository's own code or scripts: ",
                              absl::StrJoin(unused, ", ")));
  }
  return Known(5, kMax,
               absl::StrCat("used: ", absl::StrJoin(used, ", "),
                            "; not used: ", absl::StrJoin(unused, ", ")));
}

// ---- change size

Part SemverStep(const ScoreInputs& in) {
  ovvoc::v1::UpdateType worst = ovvoc::v1::UPDATE_TYPE_UNSPECIFIED;
  const PlannedDependency* which = nullptr;
  for (const ScoredUpdate& u : in.updates) {
    if (which == nullptr || u.planned->update_type() > worst) {
      worst = u.planned->update_type();
      which = u.planned;
    }
  }
  if (which == nullptr) return Unknown(15, "no update");
  switch (worst) {
    case ovvoc::v1::UPDATE_TYPE_MAJOR:
      return Known(0, 15, absl::StrCat("a major update (", Step(*which), ")"));
    case ovvoc::v1::UPDATE_TYPE_MINOR:
      return Known(10, 15, absl::StrCat("a minor update (", Step(*which), ")"));
    default:
      return Known(15, 15, absl::StrCat("a patch update (", Step(*which), ")"));
  }
}

Part LockfileSize(const ovvoc::v1::ProposalResult& p) {
  constexpr double kMax = 10;
  if (!p.has_lockfile_change()) return Unknown(kMax, "the lockfile was not regenerated");
  const ovvoc::v1::LockfileChange& c = p.lockfile_change();
  const uint64_t n = uint64_t{c.changed()} + c.added() + c.removed();
  const double points = n <= 2 ? 10 : n <= 10 ? 7 : n <= 50 ? 4 : 0;
  return Known(points, kMax,
               absl::StrCat(n, " lockfile entr", n == 1 ? "y" : "ies", " (", c.changed(),
                            " changed, ", c.added(), " added, ", c.removed(), " removed)"));
}

// ---- release maturity

Part Age(const ScoreInputs& in) {
  constexpr double kMax = 10;
  std::optional<absl::Duration> youngest;
  const PlannedDependency* which = nullptr;
  for (const ScoredUpdate& u : in.updates) {
    if (!u.planned->has_target_published()) {
      return Unknown(
          kMax, absl::StrCat(u.planned->name(), " ", u.planned->target(), " has no publish time"));
    }
    const absl::Duration age = in.now - FromProto(u.planned->target_published());
    if (!youngest || age < *youngest) {
      youngest = age;
      which = u.planned;
    }
  }
  if (!youngest) return Unknown(kMax, "no update");
  const double days = absl::ToDoubleHours(*youngest) / 24;
  const double points = days >= 30 ? 10 : days >= 7 ? 7 : days >= 2 ? 4 : 0;
  return Known(points, kMax,
               absl::StrCat(which->name(), " ", which->target(), " is ",
                            static_cast<int64_t>(std::max(0.0, days)), " days old"));
}

Part FollowUp(const ScoreInputs& in) {
  constexpr double kMax = 5;
  Part worst = Known(kMax, kMax, "no newer release on the target's line");
  for (const ScoredUpdate& u : in.updates) {
    const ovvoc::v1::ReleaseSignals& s = u.planned->signals();
    if (s.follow_up().empty()) continue;
    const bool timed = s.has_follow_up_published() && u.planned->has_target_published();
    const absl::Duration gap =
        timed ? FromProto(s.follow_up_published()) - FromProto(u.planned->target_published())
              : absl::InfiniteDuration();
    if (gap <= absl::Hours(24 * 7)) {
      return Known(
          0, kMax,
          absl::StrCat(u.planned->name(), " ", s.follow_up(), " followed ", u.planned->target(),
                       " within ", std::max<int64_t>(1, (absl::ToInt64Hours(gap) + 23) / 24),
                       " days: a quick fix?"));
    }
    worst = Known(
        2, kMax,
        absl::StrCat(u.planned->name(), " ", s.follow_up(), " came after ", u.planned->target()));
  }
  return worst;
}

// ---- supply chain

// What the update adds to the tree: install scripts and typosquat-like names take it all,
// deprecated packages half.
Part TreeAdditions(const ScoreInputs& in) {
  constexpr double kMax = 6;
  std::vector<std::string> reasons;
  for (const ScoredUpdate& u : in.updates) {
    const ovvoc::v1::ReleaseSignals& s = u.planned->signals();
    if (s.target_install_script() && !(s.current_known() && s.current_install_script())) {
      reasons.push_back(
          absl::StrCat(u.planned->name(), " ", u.planned->target(), " adds an install script"));
      break;
    }
  }
  if (reasons.empty() && !in.new_install_scripts.empty()) {
    reasons.push_back(absl::StrCat("newly running an install script: ",
                                   absl::StrJoin(in.new_install_scripts, ", ")));
  }
  if (!in.typosquat_suspects.empty()) {
    reasons.push_back(absl::StrCat("typosquat-like: ", absl::StrJoin(in.typosquat_suspects, ", ")));
  }
  if (!in.confusion_suspects.empty()) {
    reasons.push_back(
        absl::StrCat("also on a private registry: ", absl::StrJoin(in.confusion_suspects, ", ")));
  }
  if (!reasons.empty()) return Known(0, kMax, absl::StrJoin(reasons, "; "));
  if (!in.new_deprecated.empty()) {
    return Known(kMax / 2, kMax,
                 absl::StrCat("deprecated: ", absl::StrJoin(in.new_deprecated, ", ")));
  }
  return Known(kMax, kMax, "no install script added");
}

Part Engines(const ScoreInputs& in) {
  constexpr double kMax = 3;
  bool any = false;
  for (const ScoredUpdate& u : in.updates) {
    const ovvoc::v1::ReleaseSignals& s = u.planned->signals();
    if (!s.current_known()) continue;
    any = true;
    if (s.current_engines_node() != s.target_engines_node()) {
      return Known(
          0, kMax,
          absl::StrCat(u.planned->name(), " engines.node ",
                       s.current_engines_node().empty() ? "(none)" : s.current_engines_node(),
                       " -> ",
                       s.target_engines_node().empty() ? "(none)" : s.target_engines_node()));
    }
  }
  return any ? Known(kMax, kMax, "engines.node unchanged")
             : Unknown(kMax, "the current versions are not in the registry's metadata");
}

Part Publisher(const ScoreInputs& in) {
  constexpr double kMax = 3;
  bool any = false;
  for (const ScoredUpdate& u : in.updates) {
    const ovvoc::v1::ReleaseSignals& s = u.planned->signals();
    if (s.current_publisher().empty()) continue;
    any = true;
    if (s.target_publisher().empty()) {  // red team, issue 12: saying nothing scored better
      return Known(
          0, kMax,
          absl::StrCat(u.planned->name(), " ", u.planned->target(), " names no publisher, where ",
                       u.planned->current(), " named ", s.current_publisher()));
    }
    if (s.current_publisher() != s.target_publisher()) {
      return Known(0, kMax,
                   absl::StrCat(u.planned->name(), " ", u.planned->target(), " was published by ",
                                s.target_publisher(), ", ", u.planned->current(), " by ",
                                s.current_publisher()));
    }
  }
  return any ? Known(kMax, kMax, "the same publisher")
             : Unknown(kMax, "the registry does not name publishers");
}

Part Provenance(const ScoreInputs& in) {
  constexpr double kMax = 3;
  bool any = false;
  for (const ScoredUpdate& u : in.updates) {
    const ovvoc::v1::ReleaseSignals& s = u.planned->signals();
    if (!s.current_provenance()) continue;
    any = true;
    if (!s.target_provenance()) {
      return Known(0, kMax,
                   absl::StrCat(u.planned->name(), " ", u.planned->target(),
                                " lost the provenance ", u.planned->current(), " had"));
    }
  }
  return any ? Known(kMax, kMax, "provenance claimed as before (not verified)")
             : Unknown(kMax, "no current version has provenance to keep");
}

// ---- flaky tests

Part Flaky(const CommandOutcome& test, bool baseline_flaky) {
  constexpr double kMax = 10;
  if (test.skipped() || !Reached(test)) return Unknown(kMax, "no test ran");
  if (!Passed(test)) return Unknown(kMax, "the tests failed");
  if (test.attempts() >= 2) {
    return Known(0, kMax, "the tests failed once and passed when run again");
  }
  if (baseline_flaky) {
    return Known(0, kMax, "the baseline's tests failed once and passed when run again");
  }
  return Known(kMax, kMax, "the tests passed the first time");
}

}  // namespace

uint32_t TestsRan(const ovvoc::v1::TestCounts& t) {
  return t.total() > t.skipped() ? t.total() - t.skipped() : 0;
}

ovvoc::v1::ConfidenceScore ScoreProposal(const ScoreInputs& in) {
  const ovvoc::v1::ProposalResult& p = *in.proposal;
  const CommandOutcome& test = p.trial().test();
  ovvoc::v1::ConfidenceScore score;
  *score.add_factors() =
      Factor("tests", {TestsRan(test, in.baseline_tests_failed, in.baseline_test), Exercised(in)});
  *score.add_factors() = Factor("change size", {SemverStep(in), LockfileSize(p)});
  *score.add_factors() = Factor("release maturity", {Age(in), FollowUp(in)});
  *score.add_factors() =
      Factor("supply chain", {TreeAdditions(in), Engines(in), Publisher(in), Provenance(in)});
  *score.add_factors() = Factor("flaky tests", {Flaky(test, in.baseline_flaky)});
  double earned = 0, possible = 0;
  for (const ConfidenceFactor& f : score.factors()) {
    earned += f.points();
    possible += f.max_points();
  }
  score.set_score(possible > 0 ? static_cast<uint32_t>(std::lround(100 * earned / possible)) : 0);
  return score;
}

}  // namespace ovvoc::agent::scoring
