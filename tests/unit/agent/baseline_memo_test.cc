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
  // The job's own deadline is not the baseline's: a longer job proves the same.
  BaselineInputs longer = Inputs();
  longer.limits.job_timeout = absl::Hours(2);
  CHECK(BaselineKeyOf(longer) == key);
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
  project.build_added_whole = false;
  InstalledTree tree;
  tree.packages["node_modules/a"] = std::string(64, '1');
  tree.packages["node_modules/@s/b/node_modules/c"] = std::string(64, '2');
  tree.bins["node_modules/.bin/a"] = "../a/cli.js";
  tree.hidden["node_modules/.cache"] = std::string(64, '3');
  project.installed = tree;
  tree.packages["node_modules/a"] = std::string(64, '4');
  tree.complete = false;
  project.installed_after_build = tree;
}

TEST_CASE("a memo carries what proposals are held to into the next job with the same key") {
  JobEnv env;
  JobContext proven(ovvoc::v1::JobSpec(), env);
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
  CHECK(!b.build_added_whole);
  REQUIRE(b.installed.has_value());
  REQUIRE(b.installed_after_build.has_value());
  CHECK(b.installed->packages == a.installed->packages);
  CHECK(b.installed->bins == a.installed->bins);
  CHECK(b.installed->hidden == a.installed->hidden);
  CHECK(b.installed->complete);
  CHECK(b.installed_after_build->packages == a.installed_after_build->packages);
  CHECK(!b.installed_after_build->complete);
}

TEST_CASE("a baseline is not remembered without a key, after a hostile finding, or too big") {
  JobEnv env;
  JobContext job(ovvoc::v1::JobSpec(), env);
  ProvenBaseline(job);
  CHECK(!MakeBaselineMemo(job, "", 0).has_value());
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
