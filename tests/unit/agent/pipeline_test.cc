// The pipeline with its env in the test's hands: a manual clock and a stand-in for git.
#include "agent/pipeline/pipeline.h"
#include "agent/pipeline/sandbox_session.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "common/files.h"
#include "tests/support/temp_dir.h"

namespace ovvoc::agent {
namespace {

// Writes a package.json where the clone would go, and takes `takes` of the manual clock.
class FakeGit final : public git::Cloner {
 public:
  FakeGit(ManualClock& clock, absl::Duration takes) : clock_(clock), takes_(takes) {}

  absl::StatusOr<git::CloneResult> Clone(const git::CloneOptions& options) override {
    ++clones;
    deadline = options.deadline;
    if (!files::EnsureDir(options.destination, 0700).ok() ||
        !files::WriteFile(options.destination + "/package.json",
                          R"({"name": "app", "version": "1.0.0", "dependencies": {"a": "^1.0.0"}})")
             .ok()) {
      return absl::InternalError("cannot write the fake clone");
    }
    clock_.Advance(takes_);
    return git::CloneResult{"0123456789abcdef0123456789abcdef01234567", "main"};
  }

  int clones = 0;
  absl::Time deadline;

 private:
  ManualClock& clock_;
  const absl::Duration takes_;
};

ovvoc::v1::JobSpec Spec(const std::string& url) {
  ovvoc::v1::JobSpec spec;
  spec.set_job_id("job_test");
  spec.mutable_repo()->set_url(url);
  return spec;
}

// A job env of a manual clock and a fake git whose clone takes `clone_takes`.
struct FakeEnv {
  testing::TempDir dir;
  ManualClock clock;
  FakeGit git;
  JobEnv env;
  JobHost host;
  explicit FakeEnv(absl::Duration clone_takes)
      : git(clock, clone_takes), env(Env(clock, git)), host(env, dir.Sub("work")) {}

  static JobEnv Env(ManualClock& clock, FakeGit& git) {
    JobEnv env;
    env.clock = &clock;
    env.git = &git;
    return env;
  }
};

absl::Duration TimingOf(const ovvoc::v1::JobResult& result, const std::string& phase) {
  for (const auto& timing : result.timings()) {
    if (timing.phase() == phase) {
      return absl::Seconds(timing.duration().seconds()) +
             absl::Nanoseconds(timing.duration().nanos());
    }
  }
  return absl::InfiniteDuration();
}

TEST_CASE("a job tells time by its env's clock and clones with its env's git") {
  FakeEnv f(absl::Minutes(5));
  const absl::Time start = f.clock.Now();
  JobContext job(Spec("https://git.example/app.git"), f.env);
  f.host.Run(job);

  const ovvoc::v1::JobResult& result = job.result();
  CHECK(f.git.clones == 1);
  CHECK(f.git.deadline == start + absl::Minutes(30));  // the default job timeout, on that clock
  CHECK(TimingOf(result, "clone") == absl::Minutes(5));
  CHECK(TimingOf(result, "manifest") == absl::ZeroDuration());
  CHECK(result.head_commit() == "0123456789abcdef0123456789abcdef01234567");
  REQUIRE(result.dependencies_size() == 1);
  // No sandbox in this env: the job reads the manifest and then fails, never succeeds.
  CHECK(result.outcome() == ovvoc::v1::JOB_OUTCOME_FAILED);
  CHECK(result.failure().phase() == "sandbox");
  CHECK_THAT(result.failure().reason(), Catch::Contains("no sandbox backend"));
}

TEST_CASE("a clone that outlasts the job's time stops the job before its next phase") {
  FakeEnv f(absl::Minutes(31));
  JobContext job(Spec("https://git.example/app.git"), f.env);
  f.host.Run(job);
  CHECK(job.result().outcome() == ovvoc::v1::JOB_OUTCOME_FAILED);
  CHECK(job.result().failure().phase() == "manifest");
  CHECK(job.result().failure().termination() == ovvoc::v1::TERMINATION_TIMEOUT);
  CHECK_THAT(job.result().failure().reason(), Catch::Contains("ran out of time"));
}

TEST_CASE("a job may clone a path on the agent's disk only when its env allows it") {
  FakeEnv f(absl::Seconds(1));
  JobContext refused(Spec("file:///etc"), f.env);
  f.host.Run(refused);
  CHECK(f.git.clones == 0);
  CHECK(refused.result().failure().phase() == "clone");
  CHECK_THAT(refused.result().failure().reason(), Catch::Contains("--allow-file-remotes"));

  f.env.allow_file_remotes = true;
  JobContext allowed(Spec("file:///srv/app"), f.env);
  f.host.Run(allowed);
  CHECK(f.git.clones == 1);
  CHECK(allowed.result().failure().phase() == "sandbox");
}

TEST_CASE("a job's work dir is made under the host's root, and is gone once the job ends") {
  FakeEnv f(absl::Seconds(1));
  JobContext job(Spec("https://git.example/app.git"), f.env);
  f.host.Run(job);
  CHECK(f.git.clones == 1);
  CHECK(job.work_dir().rfind(f.dir.Sub("work/job-job_test-"), 0) == 0);
  CHECK_FALSE(std::filesystem::exists(job.work_dir()));
  CHECK(std::filesystem::is_empty(f.dir.Sub("work")));
}

TEST_CASE("a work root that cannot be made fails the job before it clones") {
  FakeEnv f(absl::Seconds(1));
  REQUIRE(files::WriteFile(f.dir.Sub("file"), "not a directory").ok());
  const JobHost host(f.env, f.dir.Sub("file/work"));
  JobContext job(Spec("https://git.example/app.git"), f.env);
  host.Run(job);
  CHECK(f.git.clones == 0);
  CHECK(job.result().outcome() == ovvoc::v1::JOB_OUTCOME_FAILED);
  CHECK(job.result().failure().phase() == "prepare");
  CHECK_THAT(job.result().failure().reason(), Catch::Contains("cannot create a job directory"));
}

std::vector<std::string> Described(const std::vector<ovvoc::v1::Registry>& registries) {
  std::vector<std::string> out;
  for (const auto& r : registries) out.push_back(r.scope().empty() ? r.url() : r.scope() + " " + r.url());
  return out;
}

ovvoc::v1::JobSpec WithRegistries(const std::vector<std::pair<std::string, std::string>>& list) {
  ovvoc::v1::JobSpec spec;
  for (const auto& [scope, url] : list) {
    ovvoc::v1::Registry* registry = spec.add_registries();
    registry->set_scope(scope);
    registry->set_url(url);
  }
  return spec;
}

TEST_CASE("a job has exactly one default registry: the agent's mirror, else the job's, else npm's") {
  using V = std::vector<std::string>;
  CHECK(Described(JobRegistries({}, "")) == V{"https://registry.npmjs.org/"});
  const ovvoc::v1::JobSpec spec = WithRegistries({{"@acme", "https://npm.acme.example/"},
                                                  {"", "https://job.example/npm/"},
                                                  {"", "https://second.example/"}});
  CHECK(Described(JobRegistries(spec, "")) ==
        V{"@acme https://npm.acme.example/", "https://job.example/npm/"});
  // The agent's mirror replaces the default; the public registry does not come back beside it.
  CHECK(Described(JobRegistries(spec, "https://mirror.internal/")) ==
        V{"@acme https://npm.acme.example/", "https://mirror.internal/"});
  CHECK(Described(JobRegistries({}, "https://mirror.internal/")) == V{"https://mirror.internal/"});
}

}  // namespace
}  // namespace ovvoc::agent
