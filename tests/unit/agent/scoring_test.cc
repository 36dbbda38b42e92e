// The confidence score's factors and the evidence behind them (agent/scoring).
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "agent/npm/project.h"
#include "agent/scoring/confidence.h"
#include "agent/scoring/evidence.h"
#include "common/time_util.h"
#include "tests/support/temp_dir.h"

namespace ovvoc::agent::scoring {
namespace {

using ovvoc::v1::ConfidenceFactor;
using ovvoc::v1::ConfidenceScore;
using ovvoc::v1::PlannedDependency;
using ovvoc::v1::ProposalResult;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

PlannedDependency Planned(const std::string& name, const std::string& current,
                          const std::string& target, ovvoc::v1::UpdateType type,
                          absl::Duration age) {
  PlannedDependency d;
  d.set_name(name);
  d.set_package(name);
  d.set_current(current);
  d.set_target(target);
  d.set_update_type(type);
  *d.mutable_target_published() = ToProto(kNow - age);
  ovvoc::v1::ReleaseSignals* s = d.mutable_signals();
  s->set_current_known(true);
  s->set_current_engines_node(">=18");
  s->set_target_engines_node(">=18");
  return d;
}

// A proposal whose lockfile changed `entries` packages and whose tests passed, `ran` counted.
ProposalResult Passed(uint32_t entries, std::optional<uint32_t> ran) {
  ProposalResult p;
  p.mutable_lockfile_change()->set_changed(entries);
  ovvoc::v1::CommandOutcome* test = p.mutable_trial()->mutable_test();
  test->set_command("npm test");
  test->set_termination(ovvoc::v1::TERMINATION_EXITED);
  test->set_exit_code(0);
  if (ran) {
    test->mutable_tests()->set_passed(*ran);
    test->mutable_tests()->set_total(*ran);
    test->mutable_tests()->set_runner("mocha");
  }
  return p;
}

const ConfidenceFactor& FactorOf(const ConfidenceScore& score, const std::string& name) {
  for (const ConfidenceFactor& f : score.factors()) {
    if (f.name() == name) return f;
  }
  FAIL("no factor " << name);
  return score.factors(0);
}

ConfidenceScore Score(const ProposalResult& p, const std::vector<const PlannedDependency*>& deps,
                      const std::vector<std::string>& used_by, bool uses_known = true) {
  ScoreInputs in;
  in.proposal = &p;
  for (size_t i = 0; i < deps.size(); ++i) in.updates.push_back({deps[i], used_by.at(i)});
  in.uses_known = uses_known;
  in.now = kNow;
  return ScoreProposal(in);
}

TEST_CASE("a mature, used, tested patch scores what every known factor allows") {
  const PlannedDependency d =
      Planned("lodash", "4.17.20", "4.17.21", ovvoc::v1::UPDATE_TYPE_PATCH, absl::Hours(24 * 60));
  const ProposalResult p = Passed(1, 60);
  const ConfidenceScore score = Score(p, {&d}, {"src/index.js"});
  // Publisher and provenance are unknown (no data): out of the denominator, not zero.
  CHECK(score.score() == 100);
  CHECK(FactorOf(score, "tests").points() == 35);
  CHECK(absl::StrContains(FactorOf(score, "tests").detail(), "60 tests ran (mocha)"));
  CHECK(absl::StrContains(FactorOf(score, "tests").detail(), "lodash by src/index.js"));
  const ConfidenceFactor& supply = FactorOf(score, "supply chain");
  CHECK(supply.known());
  CHECK(supply.max_points() == 9);  // 6 install scripts + 3 engines; publisher, provenance out
  CHECK(absl::StrContains(supply.detail(), "unknown: the registry does not name publishers"));
  CHECK(FactorOf(score, "flaky tests").points() == 10);
}

TEST_CASE("the worked example of the README") {
  // A minor update, 10 days old, with a fix 3 days later on its line; 12 tests ran; the package
  // is imported; 4 lockfile entries changed; nothing known of publishers or provenance.
  PlannedDependency d =
      Planned("express", "4.18.2", "4.19.0", ovvoc::v1::UPDATE_TYPE_MINOR, absl::Hours(24 * 10));
  d.mutable_signals()->set_follow_up("4.19.1");
  *d.mutable_signals()->mutable_follow_up_published() = ToProto(kNow - absl::Hours(24 * 7));
  const ProposalResult p = Passed(4, 12);
  const ConfidenceScore score = Score(p, {&d}, {"src/server.js"});
  CHECK(FactorOf(score, "tests").points() == 30);            // 20 + 10 of 35
  CHECK(FactorOf(score, "change size").points() == 17);      // 10 + 7 of 25
  CHECK(FactorOf(score, "release maturity").points() == 7);  // 7 + 0 of 15
  CHECK(absl::StrContains(FactorOf(score, "release maturity").detail(),
                          "4.19.1 followed 4.19.0 within 3 days"));
  CHECK(FactorOf(score, "supply chain").points() == 9);  // 6 + 3 of 9
  CHECK(FactorOf(score, "flaky tests").points() == 10);
  // (30 + 17 + 7 + 9 + 10) / (35 + 25 + 15 + 9 + 10) = 73 / 94
  CHECK(score.score() == 78);
}

TEST_CASE("a factor without data is unknown and leaves the denominator") {
  PlannedDependency d =
      Planned("a", "1.0.0", "2.0.0", ovvoc::v1::UPDATE_TYPE_MAJOR, absl::Hours(24 * 40));
  d.clear_target_published();
  d.mutable_signals()->set_current_known(false);
  ProposalResult p = Passed(0, std::nullopt);
  p.clear_lockfile_change();
  p.mutable_trial()->clear_test();  // never reached
  const ConfidenceScore score = Score(p, {&d}, {""}, /*uses_known=*/false);
  CHECK_FALSE(FactorOf(score, "flaky tests").known());
  CHECK(FactorOf(score, "flaky tests").max_points() == 0);
  CHECK_FALSE(FactorOf(score, "tests").known());
  const ConfidenceFactor& maturity = FactorOf(score, "release maturity");
  CHECK(maturity.known());  // the follow-up part is known: none
  CHECK(maturity.max_points() == 5);
  CHECK(absl::StrContains(maturity.detail(), "unknown: a 2.0.0 has no publish time"));
  // Known: change size 0 of 15 (major; the lockfile part unknown), follow-up 5 of 5, install
  // scripts 6 of 6: 11 of 26.
  CHECK(score.score() == 42);
}

TEST_CASE("tests: no command, no tests, exit code only, failed, and a flaky pass") {
  const PlannedDependency d =
      Planned("a", "1.0.0", "1.0.1", ovvoc::v1::UPDATE_TYPE_PATCH, absl::Hours(24 * 40));
  ProposalResult none = Passed(1, std::nullopt);
  none.mutable_trial()->mutable_test()->Clear();
  none.mutable_trial()->mutable_test()->set_skipped(true);
  CHECK(FactorOf(Score(none, {&d}, {"x.js"}), "tests").points() == 10);
  CHECK(absl::StrContains(FactorOf(Score(none, {&d}, {"x.js"}), "tests").detail(),
                          "no test command"));

  CHECK(FactorOf(Score(Passed(1, 0), {&d}, {""}), "tests").points() == 0);
  const ConfidenceFactor exit_only = FactorOf(Score(Passed(1, std::nullopt), {&d}, {""}), "tests");
  CHECK(exit_only.points() == 12);
  CHECK(absl::StrContains(exit_only.detail(), "only the exit code speaks"));

  ProposalResult failed = Passed(1, 3);
  failed.mutable_trial()->mutable_test()->set_exit_code(1);
  CHECK(FactorOf(Score(failed, {&d}, {"x.js"}), "tests").points() == 10);
  CHECK_FALSE(FactorOf(Score(failed, {&d}, {"x.js"}), "flaky tests").known());

  ProposalResult flaky = Passed(1, 3);
  flaky.mutable_trial()->mutable_test()->set_attempts(2);
  const ConfidenceFactor f = FactorOf(Score(flaky, {&d}, {"x.js"}), "flaky tests");
  CHECK(f.known());
  CHECK(f.points() == 0);

  ScoreInputs in;
  const ProposalResult first = Passed(1, 3);
  in.proposal = &first;
  in.updates.push_back({&d, "x.js"});
  in.now = kNow;
  in.baseline_flaky = true;
  const ConfidenceFactor baseline = FactorOf(ScoreProposal(in), "flaky tests");
  CHECK(baseline.points() == 0);
  CHECK(baseline.detail() == "the baseline's tests failed once and passed when run again");
}

TEST_CASE("a group takes the worst of its updates") {
  const PlannedDependency patch =
      Planned("a", "1.0.0", "1.0.1", ovvoc::v1::UPDATE_TYPE_PATCH, absl::Hours(24 * 90));
  PlannedDependency major =
      Planned("b", "1.0.0", "2.0.0", ovvoc::v1::UPDATE_TYPE_MAJOR, absl::Hours(24 * 3));
  major.mutable_signals()->set_target_install_script(true);
  major.mutable_signals()->set_target_engines_node(">=20");
  const ConfidenceScore score = Score(Passed(2, 20), {&patch, &major}, {"a.js", ""});
  CHECK(absl::StrContains(FactorOf(score, "change size").detail(),
                          "a major update (b 1.0.0 -> 2.0.0)"));
  CHECK(absl::StrContains(FactorOf(score, "release maturity").detail(), "b 2.0.0 is 3 days old"));
  const ConfidenceFactor& supply = FactorOf(score, "supply chain");
  CHECK(supply.points() == 0);
  CHECK(absl::StrContains(supply.detail(), "b 2.0.0 adds an install script"));
  CHECK(absl::StrContains(supply.detail(), "b engines.node >=18 -> >=20"));
  CHECK(absl::StrContains(FactorOf(score, "tests").detail(), "not used: b"));
  CHECK(FactorOf(score, "tests").points() == 25);  // 20 + 5
}

TEST_CASE("publisher change and provenance lost are scored when the registry says") {
  PlannedDependency d =
      Planned("a", "1.0.0", "1.0.1", ovvoc::v1::UPDATE_TYPE_PATCH, absl::Hours(24 * 40));
  d.mutable_signals()->set_current_publisher("alice");
  d.mutable_signals()->set_target_publisher("mallory");
  d.mutable_signals()->set_current_provenance(true);
  const ConfidenceFactor supply = FactorOf(Score(Passed(1, 20), {&d}, {"x.js"}), "supply chain");
  CHECK(supply.max_points() == 15);
  CHECK(supply.points() == 9);
  CHECK(absl::StrContains(supply.detail(), "a 1.0.1 was published by mallory, 1.0.0 by alice"));
  CHECK(absl::StrContains(supply.detail(), "a 1.0.1 lost the provenance 1.0.0 had"));
}

npm::Lockfile Lock(const std::vector<npm::LockedEntry>& entries) {
  npm::Lockfile lock;
  lock.lockfile_version = 3;
  lock.packages = entries;
  return lock;
}

npm::LockedEntry Entry(const std::string& name, const std::string& version,
                       bool install_script = false, const std::string& deprecated = "") {
  npm::LockedEntry e;
  e.deprecated = deprecated;
  e.key = "node_modules/" + name;
  e.name = name;
  e.version = version;
  e.has_install_script = install_script;
  return e;
}

TEST_CASE("the tree's change: new names, new versions, install scripts new to a name") {
  const npm::Lockfile before =
      Lock({Entry("a", "1.0.0"), Entry("b", "1.0.0", true), Entry("e", "1.0.0", false, "old")});
  const npm::Lockfile after =
      Lock({Entry("a", "1.1.0", true), Entry("b", "1.0.1", true), Entry("c", "2.0.0", true),
            Entry("d", "1.0.0", false, "gone\x1b[2J"), Entry("e", "1.0.0", false, "old")});
  const TreeChange change = CompareTrees(before, after);
  CHECK(change.new_names == std::vector<std::string>{"c", "d"});
  CHECK(change.new_versions ==
        std::vector<std::string>{"a@1.1.0", "b@1.0.1", "c@2.0.0", "d@1.0.0"});
  // b ran one before: not new.
  CHECK(change.new_install_scripts == std::vector<std::string>{"a@1.1.0", "c@2.0.0"});
  // e was deprecated before: not new. d's message is made inert.
  REQUIRE(change.new_deprecated.size() == 1);
  CHECK(change.new_deprecated.at("d@1.0.0") == "gone\\x1b[2J");
}

void Write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

TEST_CASE("uses: imports and requires in the repository's own code, then its scripts") {
  testing::TempDir dir;
  ::mkdir(dir.Sub("src").c_str(), 0755);
  ::mkdir(dir.Sub("node_modules").c_str(), 0755);
  ::mkdir(dir.Sub(".hidden").c_str(), 0755);
  Write(dir.Sub("src/a.ts"), "import { x } from 'alpha';\nimport 'side-effect';\n");
  Write(dir.Sub("src/b.js"), "const b = require (\"beta/sub/path\");\nconst g = 'gamma';\n");
  Write(dir.Sub("src/c.mjs"), "const d = await import(`delta`);\n");
  Write(dir.Sub("node_modules/e.js"), "require('epsilon')");
  Write(dir.Sub(".hidden/e.js"), "require('epsilon')");
  Write(dir.Sub("README.md"), "require('zeta')");
  Write(dir.Sub("outside.js"), "require('eta')");
  ::mkdir(dir.Sub("src/linked").c_str(), 0755);
  REQUIRE(::symlink(dir.Sub("outside.js").c_str(), dir.Sub("src/linked/l.js").c_str()) == 0);
  ::unlink(dir.Sub("outside.js").c_str());
  testing::TempDir elsewhere;
  Write(elsewhere.Sub("t.js"), "require('theta')");
  REQUIRE(::symlink(elsewhere.Sub("t.js").c_str(), dir.Sub("src/t.js").c_str()) == 0);
  REQUIRE(::symlink(elsewhere.path().c_str(), dir.Sub("lib").c_str()) == 0);
  const UseScan scan = FindUses(
      dir.path(),
      {"alpha", "side-effect", "beta", "gamma", "delta", "epsilon", "zeta", "mocha", "mocha-x"},
      {{"test", "mocha --reporter dot test/"}, {"lint", "eslint-mocha-xx ."}});
  CHECK(scan.complete);
  CHECK(scan.used_by.at("alpha") == "src/a.ts");
  CHECK(scan.used_by.at("side-effect") == "src/a.ts");
  CHECK(scan.used_by.at("beta") == "src/b.js");
  CHECK(scan.used_by.at("delta") == "src/c.mjs");
  CHECK(scan.used_by.at("mocha") == "package.json scripts.test");
  CHECK(scan.used_by.count("gamma") == 0);    // a string, not an import
  CHECK(scan.used_by.count("epsilon") == 0);  // only in node_modules and a hidden directory
  CHECK(scan.used_by.count("zeta") == 0);     // not a source file
  CHECK(scan.used_by.count("mocha-x") == 0);  // part of another word
  // theta is required by a file outside the tree, which a symlinked file and a symlinked
  // directory name: neither is followed.
  CHECK(FindUses(dir.path(), {"theta"}, {}).used_by.empty());
}

TEST_CASE(
    "findings: install scripts added, deprecated and typosquat-like packages new to the tree") {
  PlannedDependency d =
      Planned("util-x", "1.0.0", "1.1.0", ovvoc::v1::UPDATE_TYPE_MINOR, absl::Hours(24 * 40));
  d.mutable_signals()->set_target_install_script(true);
  FindingInputs in;
  in.updates = {&d};
  in.tree.new_names = {"expresss", "fresh-pkg"};
  in.tree.new_versions = {"expresss@1.0.0", "fresh-pkg@1.0.0", "util-x@1.1.0"};
  in.tree.new_install_scripts = {"fresh-pkg@1.0.0", "util-x@1.1.0"};
  in.known_names = {"util-x"};
  in.tree.new_deprecated = {{"fresh-pkg@1.0.0", "no longer maintained"}};
  std::map<std::string, std::vector<std::string>> by_kind;
  for (const ovvoc::v1::SecurityFinding& f : ProposalFindings(in)) {
    by_kind[f.kind()].push_back(absl::StrCat(f.package(), ": ", f.detail()));
  }
  CHECK(by_kind["new-install-script"] ==
        std::vector<std::string>{
            "util-x@1.1.0: util-x 1.1.0 runs an install script 1.0.0 did not",
            "fresh-pkg@1.0.0: fresh-pkg@1.0.0 is new to the tree and runs an install script"});
  CHECK(by_kind["deprecated"] ==
        std::vector<std::string>{"fresh-pkg@1.0.0: fresh-pkg@1.0.0 is deprecated: no longer "
                                 "maintained"});
  REQUIRE(by_kind["typosquat"].size() == 1);
  CHECK(absl::StartsWith(by_kind["typosquat"][0],
                         "expresss: expresss is new to the tree and one edit from express"));
}

TEST_CASE("findings of one kind are bounded, the rest counted") {
  FindingInputs in;
  for (int i = 0; i < 30; ++i)
    in.tree.new_install_scripts.push_back(absl::StrCat("p", i, "@1.0.0"));
  const std::vector<ovvoc::v1::SecurityFinding> made = ProposalFindings(in);
  REQUIRE(made.size() == kMaxFindingsPerKind);
  CHECK(made.back().detail() == "11 more like these");
}

TEST_CASE("red team: what a container or a registry says cannot raise the score") {
  PlannedDependency d =
      Planned("a", "1.0.0", "1.0.1", ovvoc::v1::UPDATE_TYPE_PATCH, absl::Hours(24 * 40));
  d.mutable_signals()->set_current_publisher("alice");  // the target names none
  ProposalResult forged = Passed(1, 120);
  forged.mutable_trial()->mutable_test()->mutable_tests()->set_runner("jest");
  ProposalResult baseline_run = Passed(1, 12);  // node:test counted 12 before the update
  baseline_run.mutable_trial()->mutable_test()->mutable_tests()->set_runner("node:test");
  ScoreInputs in;
  in.proposal = &forged;
  in.updates.push_back({&d, "x.js"});
  in.uses_known = true;
  in.now = kNow;
  in.baseline_test = &baseline_run.trial().test();
  in.typosquat_suspects = {"expresss"};
  const ConfidenceScore score = ScoreProposal(in);
  const ConfidenceFactor tests = FactorOf(score, "tests");
  CHECK(tests.points() == 22);  // the exit code's 12, not 120 tests' 25; and 10 for the use
  CHECK(absl::StrContains(tests.detail(), "are unlike the baseline's (12 by node:test)"));
  const ConfidenceFactor supply = FactorOf(score, "supply chain");
  CHECK(absl::StrContains(supply.detail(), "typosquat-like: expresss"));
  CHECK(absl::StrContains(supply.detail(), "a 1.0.1 names no publisher, where 1.0.0 named alice"));
  CHECK(supply.points() == 3);  // engines only

  // The same runner, a believable count: counted.
  ProposalResult honest = Passed(1, 14);
  honest.mutable_trial()->mutable_test()->mutable_tests()->set_runner("node:test");
  in.proposal = &honest;
  CHECK(FactorOf(ScoreProposal(in), "tests").points() == 30);
}

TEST_CASE("a package the registry names otherwise is new under the name it is installed as") {
  npm::LockedEntry e = Entry("express", "1.0.0");
  e.key = "node_modules/expresz";  // served as "express"
  const TreeChange change = CompareTrees(Lock({Entry("express", "4.0.0")}), Lock({e}));
  CHECK(change.new_names == std::vector<std::string>{"expresz"});
}

}  // namespace
}  // namespace ovvoc::agent::scoring
