// Baseline memos: which changes make a new key, what a memo carries from one job to the next, and
// what is never remembered.
#include "agent/pipeline/baseline_memo.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/files.h"
#include "tests/support/temp_dir.h"

namespace ovvoc::agent {
namespace {

BaselineInputs Inputs() {
  BaselineInputs in;
  in.commit = "0123456789abcdef0123456789abcdef01234567";
  in.manifest = R"({"name": "app", "dependencies": {"a": "^1.0.0"}})";
  in.lockfiles["package-lock.json"] = R"({"lockfileVersion": 3})";
  in.image = "sha256:" + std::string(64, 'a');
  in.backend = "oci";
  in.node = "24.11.1";
  in.commands = {"npm ci", "npm run build --if-present", "npm test"};
  in.registries = {" https://registry.npmjs.org/"};
  return in;
}

TEST_CASE("a baseline's key changes with everything that decides its outcome, and only with it") {
  const std::string key = BaselineKeyOf(Inputs());
  CHECK(key.size() == 64);
  CHECK(BaselineKeyOf(Inputs()) == key);
  const std::vector<std::pair<const char*, std::function<void(BaselineInputs&)>>> changes = {
      {"commit", [](BaselineInputs& in) { in.commit[0] = '1'; }},
      {"manifest", [](BaselineInputs& in) { in.manifest += "\n"; }},
      {"npmrc", [](BaselineInputs& in) { in.npmrc = ""; }},
      {"lockfile", [](BaselineInputs& in) { in.lockfiles["package-lock.json"] += " "; }},
      {"shrinkwrap", [](BaselineInputs& in) { in.lockfiles["npm-shrinkwrap.json"] = "{}"; }},
      {"image", [](BaselineInputs& in) { in.image.back() = 'b'; }},
      {"backend", [](BaselineInputs& in) { in.backend = "docker"; }},
      {"node", [](BaselineInputs& in) { in.node = "22.1.0"; }},
      {"npm", [](BaselineInputs& in) { in.npm_major = 6; }},
      {"test command", [](BaselineInputs& in) { in.commands[2] = "npm run test:unit"; }},
      // One value cannot run into the next: the same text split otherwise is another key.
      {"command split",
       [](BaselineInputs& in) {
         in.commands = {"npm ci npm", "run build"};
       }},
      {"registry", [](BaselineInputs& in) { in.registries.push_back("@acme https://npm.acme/"); }},
      {"memory", [](BaselineInputs& in) { in.limits.memory_bytes *= 2; }},
      {"pids", [](BaselineInputs& in) { in.limits.pids = 64; }},
      {"disk", [](BaselineInputs& in) { in.limits.disk_bytes /= 2; }},
      {"phase timeout", [](BaselineInputs& in) { in.limits.phase_timeout = absl::Minutes(1); }},
  };
  for (const auto& [what, change] : changes) {
    INFO(what);
    BaselineInputs in = Inputs();
    change(in);
    CHECK(BaselineKeyOf(in) != key);
  }
  // The agent's build is in every key: a memo made by other checks is never taken.
  CHECK(AgentBuildId().size() == 40);
  // The job's own deadline is not the baseline's: a longer job proves the same.
  BaselineInputs longer = Inputs();
  longer.limits.job_timeout = absl::Hours(2);
  CHECK(BaselineKeyOf(longer) == key);
}

ovvoc::v1::JobSpec SpecOf(const std::string& job_id) {
  ovvoc::v1::JobSpec spec;
  spec.set_job_id(job_id);
  return spec;
}

// A job that ran its baseline, as the sandbox phases leave it after the tests passed.
void ProvenBaseline(JobContext& job) {
  ovvoc::v1::JobResult& result = job.result();
  result.mutable_baseline()->mutable_test()->set_command("npm test");
  result.mutable_baseline()->mutable_test()->mutable_tests()->set_passed(12);
  result.mutable_baseline()->set_node("24.11.1");
  ovvoc::v1::SecurityFinding* finding = result.add_findings();
  finding->set_kind("blocked-egress");
  finding->set_severity(ovvoc::v1::SEVERITY_MEDIUM);
  finding->set_detail("example.com:443");
  result.add_advice()->set_message("the plan's advice");
  result.add_advice()->set_message("the tests are flaky");
  ClonedProject& project = job.project();
  project.build_changes = {"dist/index.js"};
  project.install_added = {".husky", ".husky/_"};
  project.build_added = {"dist", "dist/chunk-1.js"};
  InstalledTree tree;
  tree.packages["node_modules/a"] = std::string(64, '1');
  tree.packages["node_modules/@s/b/node_modules/c"] = std::string(64, '2');
  tree.bins["node_modules/.bin/a"] = "../a/cli.js";
  tree.hidden["node_modules/.cache"] = std::string(64, '3');
  project.installed = tree;
  tree.packages["node_modules/a"] = std::string(64, '4');
  project.installed_after_build = tree;
}

TEST_CASE("a memo carries what proposals are held to into the next job with the same key") {
  JobEnv env;
  JobContext proven(SpecOf("job_1"), env);
  ProvenBaseline(proven);
  const std::string key(64, 'f');
  std::optional<ovvoc::v1::BaselineMemo> memo = MakeBaselineMemo(proven, key, 1);
  REQUIRE(memo.has_value());
  CHECK(memo->advice_size() == 1);  // the baseline's own, not the plan's

  ovvoc::v1::JobSpec spec;
  *spec.mutable_baseline_memo() = *memo;
  JobContext next(spec, env);
  CHECK(!TakeBaselineMemo(next, std::string(64, 'e')));  // another key: nothing taken
  CHECK(!next.result().has_baseline());
  CHECK(!TakeBaselineMemo(next, ""));
  REQUIRE(TakeBaselineMemo(next, key));
  const ovvoc::v1::JobResult& result = next.result();
  CHECK(result.baseline().test().tests().passed() == 12);
  CHECK(result.baseline().node() == "24.11.1");
  REQUIRE(result.findings_size() == 1);
  CHECK(result.findings(0).detail() == "example.com:443");
  REQUIRE(result.advice_size() == 1);
  CHECK(result.advice(0).message() == "the tests are flaky");
  CHECK(result.baseline_reused().key() == key);
  const ClonedProject& a = proven.project();
  const ClonedProject& b = next.project();
  CHECK(b.build_changes == a.build_changes);
  CHECK(b.install_added == a.install_added);
  CHECK(b.build_added == a.build_added);
  CHECK(b.install_added_whole);
  CHECK(b.build_added_whole);
  REQUIRE(b.installed.has_value());
  REQUIRE(b.installed_after_build.has_value());
  CHECK(b.installed->packages == a.installed->packages);
  CHECK(b.installed->bins == a.installed->bins);
  CHECK(b.installed->hidden == a.installed->hidden);
  CHECK(b.installed->complete);
  CHECK(b.installed_after_build->packages == a.installed_after_build->packages);
  CHECK(b.installed_after_build->complete);

  // A memo that lacks what proposals are held to is not taken (red team: one without its
  // fingerprints, from a state dir or an agent, switched the checks off): the baseline runs.
  for (auto spoil : std::vector<std::function<void(ovvoc::v1::BaselineMemo&)>>{
           [](ovvoc::v1::BaselineMemo& m) { m.clear_installed(); },
           [](ovvoc::v1::BaselineMemo& m) { m.clear_installed_after_build(); },
           [](ovvoc::v1::BaselineMemo& m) { m.mutable_installed()->set_partial(true); },
           [](ovvoc::v1::BaselineMemo& m) { m.set_install_added_partial(true); },
           [](ovvoc::v1::BaselineMemo& m) {
             m.add_findings()->set_severity(ovvoc::v1::SEVERITY_HIGH);
           }}) {
    ovvoc::v1::JobSpec spoiled;
    *spoiled.mutable_baseline_memo() = *memo;
    spoil(*spoiled.mutable_baseline_memo());
    JobContext poisoned(spoiled, env);
    CHECK(!TakeBaselineMemo(poisoned, key));
    CHECK(!poisoned.result().has_baseline_reused());
  }
}

TEST_CASE("a baseline is not remembered without a key, after a hostile finding, or too big") {
  JobEnv env;
  JobContext job(SpecOf("job_1"), env);
  ProvenBaseline(job);
  CHECK(MakeBaselineMemo(job, std::string(64, 'f'), 0).has_value());
  CHECK(!MakeBaselineMemo(job, "", 0).has_value());
  SECTION("what its install or build left unread, or their paths listed in part") {
    job.project().installed->complete = false;
    CHECK(!MakeBaselineMemo(job, std::string(64, 'f'), 0).has_value());
    job.project().installed->complete = true;
    job.project().installed_after_build.reset();
    CHECK(!MakeBaselineMemo(job, std::string(64, 'f'), 0).has_value());
    job.result().mutable_baseline()->mutable_build()->set_skipped(true);  // no build: none to read
    CHECK(MakeBaselineMemo(job, std::string(64, 'f'), 0).has_value());
    job.project().build_added_whole = false;
    CHECK(!MakeBaselineMemo(job, std::string(64, 'f'), 0).has_value());
  }
  SECTION("a high-severity finding: the code that did it runs again") {
    job.result().mutable_findings(0)->set_severity(ovvoc::v1::SEVERITY_HIGH);
    CHECK(!MakeBaselineMemo(job, std::string(64, 'f'), 0).has_value());
  }
  SECTION("more than a gRPC message should carry") {
    InstalledTree& tree = *job.project().installed;
    for (int i = 0; tree.packages.size() * 64 < kMaxBaselineMemoBytes; ++i) {
      tree.packages["node_modules/package-" + std::to_string(i)] = std::string(64, '0');
    }
    CHECK(!MakeBaselineMemo(job, std::string(64, 'f'), 0).has_value());
  }
}

TEST_CASE(
    "update keeps one memo per repository in its state dir, and ignores what it did not write") {
  testing::TempDir dir;
  const std::string memos = dir.Sub("baselines");
  CHECK(LoadBaselineMemo(memos, "file:///repo").key().empty());  // none yet
  ovvoc::v1::BaselineMemo memo;
  memo.set_key(std::string(64, 'f'));
  memo.mutable_trial()->set_node("24.11.1");
  REQUIRE(SaveBaselineMemo(memos, "file:///repo", memo).ok());
  struct stat st;
  REQUIRE(::stat(memos.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  CHECK(LoadBaselineMemo(memos, "file:///repo").key() == memo.key());
  CHECK(LoadBaselineMemo(memos, "file:///other").key().empty());
  memo.set_key(std::string(64, 'e'));
  REQUIRE(SaveBaselineMemo(memos, "file:///repo", memo).ok());
  CHECK(LoadBaselineMemo(memos, "file:///repo").key() == memo.key());  // replaced

  // Garbage reads as no memo: the baseline runs.
  for (const auto& entry : std::filesystem::directory_iterator(memos)) {
    REQUIRE(files::WriteFile(entry.path().string(), "\xff\xff\xff not a memo").ok());
  }
  CHECK(LoadBaselineMemo(memos, "file:///repo").key().empty());
}

}  // namespace
}  // namespace ovvoc::agent

namespace ovvoc::agent {
namespace {

ovvoc::v1::ProposalResult Planned(const std::string& name) {
  ovvoc::v1::ProposalResult p;
  p.set_manifest_dir("/");
  p.set_branch("ovvoc/npm/" + name + "-1.0.1");
  ovvoc::v1::PackageUpdate* u = p.add_updates();
  u->set_name(name);
  u->set_from_version("1.0.0");
  u->set_to_version("1.0.1");
  u->set_manifest_path("package.json");
  return p;
}

ovvoc::v1::ProvenProposal Proven(const std::string& key, const std::string& job_id,
                                 std::vector<ovvoc::v1::ProposalResult> results) {
  ovvoc::v1::ProvenProposal p;
  p.set_key(key);
  p.set_job_id(job_id);
  for (auto& r : results) *p.add_results() = std::move(r);
  return p;
}

ovvoc::v1::ProposalResult Outcome(const std::string& name, ovvoc::v1::ProposalOutcome outcome,
                                  const std::string& reason_class = "") {
  ovvoc::v1::ProposalResult p = Planned(name);
  p.set_outcome(outcome);
  if (!reason_class.empty()) p.mutable_failure()->set_reason_class(reason_class);
  return p;
}

TEST_CASE("a proposal's key is its baseline's and its updates'") {
  const std::string key = ProposalKey(std::string(64, 'a'), Planned("a"));
  CHECK(key.size() == 64);
  CHECK(ProposalKey(std::string(64, 'a'), Planned("a")) == key);
  CHECK(ProposalKey(std::string(64, 'b'), Planned("a")) != key);
  CHECK(ProposalKey(std::string(64, 'a'), Planned("b")) != key);
  ovvoc::v1::ProposalResult newer = Planned("a");
  newer.mutable_updates(0)->set_to_version("1.0.2");
  CHECK(ProposalKey(std::string(64, 'a'), newer) != key);
  ovvoc::v1::ProposalResult grouped = Planned("a");
  grouped.set_group("dev");
  CHECK(ProposalKey(std::string(64, 'a'), grouped) != key);
}

TEST_CASE(
    "only outcomes the update decided are remembered, and taken only with the same baseline") {
  JobEnv env;
  JobContext job(ovvoc::v1::JobSpec(), env);
  using ovvoc::v1::PROPOSAL_OUTCOME_FAILED;
  using ovvoc::v1::PROPOSAL_OUTCOME_NOT_RUN;
  using ovvoc::v1::PROPOSAL_OUTCOME_PASSED;
  auto proven = [] {
    return std::vector<ovvoc::v1::ProvenProposal>{
        Proven("k1", "job_1", {Outcome("a", PROPOSAL_OUTCOME_PASSED)}),
        Proven("k2", "job_1", {Outcome("b", PROPOSAL_OUTCOME_FAILED, "test")}),
        Proven("k3", "job_1", {Outcome("c", PROPOSAL_OUTCOME_FAILED, "tampering")}),
        // What the registry, the machine or the clock may have decided: proven again.
        Proven("k4", "job_1", {Outcome("d", PROPOSAL_OUTCOME_FAILED, "install")}),
        Proven("k5", "job_1", {Outcome("e", PROPOSAL_OUTCOME_FAILED, "timeout")}),
        Proven("k6", "job_1", {Outcome("f", PROPOSAL_OUTCOME_FAILED, "lockfile")}),
        Proven("k7", "job_1", {Outcome("g", PROPOSAL_OUTCOME_NOT_RUN)}),
        // A bisected group stands whole or not at all.
        Proven(
            "k8", "job_1",
            {Outcome("h", PROPOSAL_OUTCOME_PASSED), Outcome("i", PROPOSAL_OUTCOME_FAILED, "disk")}),
    };
  };
  RememberProposals(job, proven());  // no memo to leave: nothing
  CHECK(!job.memo().made.has_value());

  job.memo().made.emplace();
  job.memo().made->set_key(std::string(64, 'f'));
  job.memo().made->set_job_id("job_1");
  RememberProposals(job, proven());
  std::vector<std::string> kept;
  for (const auto& p : job.memo().made->proposals()) kept.push_back(p.key());
  CHECK(kept == std::vector<std::string>{"k1", "k2", "k3"});

  // The next job: taken only when its baseline is the memo's.
  ovvoc::v1::JobSpec spec;
  spec.set_job_id("job_2");
  *spec.mutable_baseline_memo() = *job.memo().made;
  JobContext next(spec, env);
  CHECK(TakeProvenProposal(next, "k1").empty());
  next.memo().reused = true;
  CHECK(TakeProvenProposal(next, "k4").empty());
  std::vector<ovvoc::v1::ProposalResult> taken = TakeProvenProposal(next, "k2");
  REQUIRE(taken.size() == 1);
  CHECK(taken[0].proven_by_job() == "job_1");
  CHECK(taken[0].failure().reason_class() == "test");

  // It leaves the memo it took, as its own, with its own proposals.
  RememberProposals(next, {Proven("k2", "job_1", taken)});
  REQUIRE(next.memo().made.has_value());
  CHECK(next.memo().made->job_id() == "job_2");
  CHECK(next.memo().made->proven_by_job() == "job_1");
  REQUIRE(next.memo().made->proposals_size() == 1);
  CHECK(next.memo().made->proposals(0).key() == "k2");
}

TEST_CASE("a passed proposal is taken only while its branch is where the memo left it") {
  testing::TempDir dir;
  JobEnv env;
  env.branches = JobEnv::Branches{dir.Sub("no-repo"), "bot", "bot@example.com"};
  ovvoc::v1::JobSpec spec;
  ovvoc::v1::ProposalResult passed = Outcome("a", ovvoc::v1::PROPOSAL_OUTCOME_PASSED);
  passed.set_commit(std::string(40, '1'));
  *spec.mutable_baseline_memo()->add_proposals() = Proven("k1", "job_1", {passed});
  JobContext job(spec, env);
  job.memo().reused = true;
  CHECK(TakeProvenProposal(job, "k1").empty());  // no branch to find: proven again
  // A job that writes no branch has no lockfile the pass stands for: proven again.
  JobEnv no_branches;
  JobContext unwritten(spec, no_branches);
  unwritten.memo().reused = true;
  CHECK(TakeProvenProposal(unwritten, "k1").empty());
}

}  // namespace
}  // namespace ovvoc::agent
