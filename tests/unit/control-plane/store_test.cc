// The Store conformance suite: every implementation must pass all of it. Today: SQLite.
#include "control-plane/store/store.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "common/ids.h"
#include "common/job_text.h"
#include "control-plane/server/job_spec.h"
#include "control-plane/store/sqlite/sqlite_store.h"
#include "tests/support/temp_dir.h"

namespace ovvoc::cp {
namespace {

using testing::TempDir;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

std::unique_ptr<Store> OpenFresh(const TempDir& dir) {
  absl::StatusOr<std::unique_ptr<Store>> store = OpenSqliteStore(dir.Sub("store.db"));
  REQUIRE(store.ok());
  return *std::move(store);
}

OrgRecord MakeOrg(Store& store, const std::string& name) {
  OrgRecord org{NewId("org"), name, kNow};
  REQUIRE(store.CreateOrg(org).ok());
  return org;
}

RepoRecord MakeRepo(Store& store, const OrgRecord& org, const std::string& pool = "default") {
  RepoRecord repo{NewId("repo"), org.id, "file:///r.git", pool, "git", kNow};
  REQUIRE(store.CreateRepo(repo).ok());
  return repo;
}

JobRecord MakeJob(Store& store, const RepoRecord& repo, absl::Time created = kNow) {
  JobRecord job;
  job.id = NewId("job");
  job.repo_id = repo.id;
  job.org_id = repo.org_id;
  job.pool = repo.pool;
  job.created_at = created;
  job.updated_at = created;
  REQUIRE(store.CreateJob(job).ok());
  return job;
}

// An enrolled agent of (org, pool), straight into the store.
std::string MakeAgent(Store& store, const OrgRecord& org, const std::string& pool = "default") {
  EnrollmentTokenRecord token{NewId("tok"), org.id, pool, "hash", kNow, kNow + absl::Minutes(10)};
  REQUIRE(store.CreateEnrollmentToken(token).ok());
  const std::string id = NewId("agt");
  REQUIRE(store
              .Enroll(token.id,
                      [&](EnrollmentTokenRecord& t) -> absl::StatusOr<AgentRecord> {
                        t.used = true;
                        AgentRecord agent;
                        agent.id = id;
                        agent.org_id = t.org_id;
                        agent.pool = t.pool;
                        agent.enrolled_at = kNow;
                        return agent;
                      })
              .ok());
  return id;
}

absl::Status AdmitAll(const AgentRecord&) { return absl::OkStatus(); }

absl::Status LeaseTo(JobRecord& job, const std::string& agent) {
  job.state = ovvoc::v1::JOB_STATE_LEASED;
  job.agent_id = agent;
  job.attempt += 1;
  job.lease_expires_at = kNow + absl::Seconds(60);
  return absl::OkStatus();
}

TEST_CASE("orgs: names are unique and found by name") {
  TempDir dir;
  auto store = OpenFresh(dir);
  OrgRecord acme = MakeOrg(*store, "acme");
  CHECK(absl::IsAlreadyExists(store->CreateOrg({NewId("org"), "acme", kNow})));
  absl::StatusOr<OrgRecord> found = store->FindOrgByName("acme");
  REQUIRE(found.ok());
  CHECK(found->id == acme.id);
  CHECK(absl::IsNotFound(store->FindOrgByName("nope").status()));
  CHECK(store->ListOrgs()->size() == 1);
}

TEST_CASE("repos and jobs round-trip every field") {
  TempDir dir;
  auto store = OpenFresh(dir);
  OrgRecord org = MakeOrg(*store, "acme");
  RepoRecord repo = MakeRepo(*store, org, "blue");
  CHECK(store->GetRepo(repo.id)->pool == "blue");
  CHECK(store->ListRepos(org.id)->size() == 1);
  CHECK(store->ListRepos("")->size() == 1);

  JobRecord job = MakeJob(*store, repo);
  absl::StatusOr<JobRecord> updated = store->UpdateJob(job.id, [](JobRecord& j) {
    j.state = ovvoc::v1::JOB_STATE_SUCCEEDED;
    j.attempt = 2;
    j.handbacks = 1;
    j.cancel_requested = true;
    j.status_reason = "done";
    j.progress.set_phase("clone");
    j.result.emplace();
    j.result->set_head_commit("abc");
    j.result->add_dependencies()->set_name("lodash");
    return absl::OkStatus();
  });
  REQUIRE(updated.ok());
  absl::StatusOr<JobRecord> read = store->GetJob(job.id);
  REQUIRE(read.ok());
  CHECK(read->state == ovvoc::v1::JOB_STATE_SUCCEEDED);
  CHECK(read->attempt == 2);
  CHECK(read->handbacks == 1);
  CHECK(read->cancel_requested);
  CHECK(read->status_reason == "done");
  CHECK(read->progress.phase() == "clone");
  REQUIRE(read->result.has_value());
  CHECK(read->result->head_commit() == "abc");
  CHECK(read->result->dependencies(0).name() == "lodash");
  CHECK(read->created_at == kNow);
}

TEST_CASE("a failing mutation changes nothing") {
  TempDir dir;
  auto store = OpenFresh(dir);
  RepoRecord repo = MakeRepo(*store, MakeOrg(*store, "acme"));
  JobRecord job = MakeJob(*store, repo);
  absl::Status s = store
                       ->UpdateJob(job.id,
                                   [](JobRecord& j) {
                                     j.state = ovvoc::v1::JOB_STATE_FAILED;
                                     return absl::FailedPreconditionError("no");
                                   })
                       .status();
  CHECK(absl::IsFailedPrecondition(s));
  CHECK(store->GetJob(job.id)->state == ovvoc::v1::JOB_STATE_QUEUED);
  CHECK(absl::IsNotFound(
      store->UpdateJob("job_missing", [](JobRecord&) { return absl::OkStatus(); }).status()));
}

TEST_CASE("enrollment marks the token and inserts the agent atomically") {
  TempDir dir;
  auto store = OpenFresh(dir);
  OrgRecord org = MakeOrg(*store, "acme");
  EnrollmentTokenRecord token{NewId("tok"), org.id, "default",
                              "hash",       kNow,   kNow + absl::Minutes(10)};
  REQUIRE(store->CreateEnrollmentToken(token).ok());

  auto enroll = [&](const std::string& agent_id) {
    return store->Enroll(token.id, [&](EnrollmentTokenRecord& t) -> absl::StatusOr<AgentRecord> {
      if (t.used) return absl::PermissionDeniedError("used");
      t.used = true;
      t.used_by = agent_id;
      t.used_at = kNow;
      AgentRecord agent;
      agent.id = agent_id;
      agent.org_id = t.org_id;
      agent.pool = t.pool;
      agent.enrolled_at = kNow;
      return agent;
    });
  };
  REQUIRE(enroll("agt_first").ok());
  CHECK(absl::IsPermissionDenied(enroll("agt_second")));
  CHECK(store->GetAgent("agt_first").ok());
  CHECK(absl::IsNotFound(store->GetAgent("agt_second").status()));
  CHECK(absl::IsNotFound(store->Enroll("tok_unknown", [](EnrollmentTokenRecord&) {
    return absl::StatusOr<AgentRecord>(AgentRecord{});
  })));

  absl::StatusOr<AgentRecord> revoked = store->UpdateAgent("agt_first", [](AgentRecord& a) {
    a.revoked = true;
    a.revoked_at = kNow;
    return absl::OkStatus();
  });
  REQUIRE(revoked.ok());
  CHECK(store->GetAgent("agt_first")->revoked);
  CHECK(store->ListAgents(org.id)->size() == 1);
}

TEST_CASE("leasing takes the oldest queued job of exactly that org and pool") {
  TempDir dir;
  auto store = OpenFresh(dir);
  OrgRecord a = MakeOrg(*store, "a");
  OrgRecord b = MakeOrg(*store, "b");
  RepoRecord repo_a = MakeRepo(*store, a);
  RepoRecord repo_a_blue = MakeRepo(*store, a, "blue");
  JobRecord newer = MakeJob(*store, repo_a, kNow + absl::Seconds(2));
  JobRecord older = MakeJob(*store, repo_a, kNow + absl::Seconds(1));
  MakeJob(*store, repo_a_blue);

  const std::map<std::pair<std::string, std::string>, std::string> agents = {
      {{a.id, "default"}, MakeAgent(*store, a)},
      {{a.id, "blue"}, MakeAgent(*store, a, "blue")},
      {{b.id, "default"}, MakeAgent(*store, b)}};
  auto lease = [&](const OrgRecord& org, const std::string& pool) {
    auto leased = store->LeaseNextJob(agents.at({org.id, pool}), AdmitAll,
                                      [](JobRecord& j) { return LeaseTo(j, "agt"); });
    REQUIRE(leased.ok());
    return *leased;
  };
  CHECK(!lease(b, "default").has_value());
  std::optional<JobRecord> first = lease(a, "default");
  REQUIRE(first.has_value());
  CHECK(first->id == older.id);
  CHECK(lease(a, "default")->id == newer.id);
  CHECK(!lease(a, "default").has_value());
  CHECK(lease(a, "blue").has_value());

  auto expired = store->ExpiredLeases(kNow + absl::Seconds(61));
  REQUIRE(expired.ok());
  CHECK(expired->size() == 3);
  CHECK(store->ExpiredLeases(kNow)->empty());
}

TEST_CASE("a lease is refused, with no job touched, when the agent is not admitted") {
  TempDir dir;
  auto store = OpenFresh(dir);
  OrgRecord org = MakeOrg(*store, "acme");
  JobRecord job = MakeJob(*store, MakeRepo(*store, org));
  const std::string agent = MakeAgent(*store, org);
  REQUIRE(store
              ->UpdateAgent(agent,
                            [](AgentRecord& a) {
                              a.revoked = true;
                              return absl::OkStatus();
                            })
              .ok());
  auto refuse_revoked = [](const AgentRecord& a) {
    return a.revoked ? absl::UnauthenticatedError("revoked") : absl::OkStatus();
  };
  bool mutated = false;
  auto leased = store->LeaseNextJob(agent, refuse_revoked, [&](JobRecord& j) {
    mutated = true;
    return LeaseTo(j, agent);
  });
  CHECK(absl::IsUnauthenticated(leased.status()));
  CHECK(!mutated);
  CHECK(store->GetJob(job.id)->state == ovvoc::v1::JOB_STATE_QUEUED);
  CHECK(absl::IsNotFound(store->LeaseNextJob("agt_nobody", AdmitAll, [](JobRecord&) {
                                 return absl::OkStatus();
                               }).status()));
}

TEST_CASE("an agent keeps the serial of the certificate its renewal replaced") {
  TempDir dir;
  auto store = OpenFresh(dir);
  const std::string id = MakeAgent(*store, MakeOrg(*store, "acme"));
  REQUIRE(store
              ->UpdateAgent(id,
                            [](AgentRecord& a) {
                              a.previous_certificate_serial = a.certificate_serial;
                              a.certificate_serial = "0a0b";
                              return absl::OkStatus();
                            })
              .ok());
  CHECK(store->GetAgent(id)->certificate_serial == "0a0b");
  REQUIRE(store
              ->UpdateAgent(id,
                            [](AgentRecord& a) {
                              a.previous_certificate_serial = "0102";
                              return absl::OkStatus();
                            })
              .ok());
  CHECK(store->GetAgent(id)->previous_certificate_serial == "0102");
  CHECK(store->ListAgents("")->front().previous_certificate_serial == "0102");
}

TEST_CASE("concurrent leasing never hands one job out twice") {
  TempDir dir;
  auto store = OpenFresh(dir);
  RepoRecord repo = MakeRepo(*store, MakeOrg(*store, "acme"));
  constexpr int kJobs = 60;
  for (int i = 0; i < kJobs; ++i) MakeJob(*store, repo, kNow + absl::Milliseconds(i));
  CHECK(store->QueuedPools()->size() == 1);
  const std::string agent = MakeAgent(*store, *store->GetOrg(repo.org_id));

  absl::Mutex mu;
  std::multiset<std::string> leased;
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      for (;;) {
        auto job = store->LeaseNextJob(agent, AdmitAll,
                                       [](JobRecord& j) { return LeaseTo(j, "agt"); });
        if (!job.ok() || !job->has_value()) return;
        absl::MutexLock lock(&mu);
        leased.insert((*job)->id);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(leased.size() == kJobs);
  CHECK(std::set<std::string>(leased.begin(), leased.end()).size() == kJobs);
  CHECK(store->QueuedPools()->empty());
}

TEST_CASE("audit appends see the previous record and keep a gapless sequence") {
  TempDir dir;
  auto store = OpenFresh(dir);
  for (int i = 0; i < 3; ++i) {
    auto appended = store->AppendAudit([&](const std::optional<AuditRecord>& last) {
      CHECK(last.has_value() == (i > 0));
      AuditRecord r;
      r.seq = last ? last->seq + 1 : 1;
      r.time = kNow;
      r.actor = "admin";
      r.action = "test";
      r.prev_hash = last ? last->hash : "";
      r.hash = "h" + std::to_string(i);
      return r;
    });
    REQUIRE(appended.ok());
  }
  auto records = store->ListAudit(0, 10);
  REQUIRE(records.ok());
  REQUIRE(records->size() == 3);
  CHECK((*records)[2].seq == 3);
  CHECK((*records)[2].prev_hash == "h1");
  CHECK(store->ListAudit(2, 10)->size() == 1);
}

TEST_CASE("data survives reopening the file") {
  TempDir dir;
  std::string id;
  {
    auto store = OpenFresh(dir);
    id = MakeJob(*store, MakeRepo(*store, MakeOrg(*store, "acme"))).id;
  }
  auto store = OpenFresh(dir);
  CHECK(store->GetJob(id).ok());
}

TEST_CASE("migrations: applied in order, resumed, and a newer schema is refused") {
  TempDir dir;
  const std::string path = dir.Sub("m.db");
  const std::vector<absl::string_view>& all = SqliteMigrations();
  REQUIRE(all.size() >= 2);
  {
    // An old binary knew only the first migration.
    auto old = OpenSqliteStore(path, {all[0]});
    REQUIRE(old.ok());
    REQUIRE((*old)->CreateOrg({NewId("org"), "acme", kNow}).ok());
    CHECK(!(*old)->ListAudit(0, 1).ok());  // the audit table does not exist yet
  }
  {
    auto upgraded = OpenSqliteStore(path);
    REQUIRE(upgraded.ok());
    CHECK((*upgraded)->FindOrgByName("acme").ok());
    CHECK((*upgraded)->ListAudit(0, 1).ok());
  }
  {
    auto reopened = OpenSqliteStore(path);  // nothing left to apply
    REQUIRE(reopened.ok());
  }
  auto downgraded = OpenSqliteStore(path, {all[0]});
  REQUIRE(!downgraded.ok());
  CHECK(absl::IsFailedPrecondition(downgraded.status()));
  CHECK_THAT(std::string(downgraded.status().message()), Catch::Contains("newer"));
}

TEST_CASE("OpenStore understands sqlite URLs and rejects the rest clearly") {
  TempDir dir;
  CHECK(OpenStore("sqlite://" + dir.Sub("u.db")).ok());
  CHECK(absl::IsUnimplemented(OpenStore("postgres://localhost/ovvoc").status()));
  CHECK(absl::IsInvalidArgument(OpenStore("mysql://x").status()));
}

}  // namespace
}  // namespace ovvoc::cp

namespace ovvoc::cp {
namespace {

// A finished job of `repo` whose result says which node ran and whether its baseline passed.
void FinishJob(Store& store, const RepoRecord& repo, absl::Time created, const std::string& ran,
               bool passed) {
  JobRecord job = MakeJob(store, repo, created);
  REQUIRE(store
              .UpdateJob(job.id,
                         [&](JobRecord& j) {
                           j.state = passed ? ovvoc::v1::JOB_STATE_SUCCEEDED
                                            : ovvoc::v1::JOB_STATE_FAILED;
                           ovvoc::v1::JobResult result;
                           result.mutable_node()->set_ran(ran);
                           result.mutable_node()->set_baseline_passed(passed);
                           j.result = result;
                           return absl::OkStatus();
                         })
              .ok());
}

TEST_CASE("a repository's remembered node: the newest job whose baseline passed, of that repo") {
  TempDir dir;
  std::unique_ptr<Store> store = OpenFresh(dir);
  const OrgRecord org = MakeOrg(*store, "acme");
  const RepoRecord repo = MakeRepo(*store, org);
  const RepoRecord other = MakeRepo(*store, org);
  CHECK(RememberedNodeMajor(*store, repo.id) == 0);  // no job yet

  FinishJob(*store, repo, kNow + absl::Seconds(1), "24.22.3", false);
  CHECK(RememberedNodeMajor(*store, repo.id) == 0);  // failed everywhere: nothing to remember

  FinishJob(*store, repo, kNow + absl::Seconds(2), "20.20.2", true);
  FinishJob(*store, other, kNow + absl::Seconds(3), "26.12.1", true);  // another repo's
  FinishJob(*store, repo, kNow + absl::Seconds(4), "24.22.3", false);  // a later failure
  CHECK(RememberedNodeMajor(*store, repo.id) == 20);
  CHECK(RememberedNodeMajor(*store, other.id) == 26);

  FinishJob(*store, repo, kNow + absl::Seconds(5), "22.23.5", true);
  CHECK(RememberedNodeMajor(*store, repo.id) == 22);

  JobFilter filter;
  filter.repo_id = other.id;
  absl::StatusOr<std::vector<JobRecord>> jobs = store->ListJobs(filter);
  REQUIRE(jobs.ok());
  CHECK(jobs->size() == 1);
}

ovvoc::v1::BaselineMemo Memo(const std::string& job_id, char key) {
  ovvoc::v1::BaselineMemo memo;
  memo.set_key(std::string(64, key));
  memo.set_job_id(job_id);
  memo.mutable_trial()->set_node("24.22.3");
  memo.mutable_trial()->mutable_build()->set_skipped(true);
  (*memo.mutable_installed()->mutable_packages())["node_modules/a"] = std::string(64, '1');
  return memo;
}

TEST_CASE("a repository keeps its newest baseline memo: its own succeeded job's, well formed") {
  TempDir dir;
  std::unique_ptr<Store> store = OpenFresh(dir);
  const OrgRecord org = MakeOrg(*store, "acme");
  const RepoRecord repo = MakeRepo(*store, org);
  const RepoRecord other = MakeRepo(*store, org);
  absl::StatusOr<std::optional<ovvoc::v1::BaselineMemo>> none =
      store->GetBaselineMemo(repo.id, repo.pool);
  REQUIRE(none.ok());
  CHECK(!none->has_value());

  FinishJob(*store, repo, kNow + absl::Seconds(1), "24.22.3", true);
  JobFilter filter;
  filter.repo_id = repo.id;
  const JobRecord job = store->ListJobs(filter)->front();
  KeepBaselineMemo(*store, job, Memo(job.id, 'a'));
  auto kept = store->GetBaselineMemo(repo.id, repo.pool);
  REQUIRE(kept.ok());
  REQUIRE(kept->has_value());
  CHECK((*kept)->key() == std::string(64, 'a'));
  CHECK((*kept)->installed().packages().at("node_modules/a") == std::string(64, '1'));
  CHECK(!store->GetBaselineMemo(other.id, other.pool)->has_value());

  // Refused, each leaving the kept one: another job's, a key that is no sha256, one without its
  // fingerprints, one excusing a high-severity finding, one too big, and one reported with a
  // failed job.
  KeepBaselineMemo(*store, job, Memo("job_other", 'b'));
  KeepBaselineMemo(*store, job, Memo(job.id, 'G'));
  ovvoc::v1::BaselineMemo blind = Memo(job.id, 'b');
  blind.clear_installed();
  KeepBaselineMemo(*store, job, blind);
  ovvoc::v1::BaselineMemo excusing = Memo(job.id, 'b');
  excusing.add_findings()->set_severity(ovvoc::v1::SEVERITY_HIGH);
  KeepBaselineMemo(*store, job, excusing);
  ovvoc::v1::BaselineMemo partial = Memo(job.id, 'b');
  partial.set_install_added_partial(true);
  KeepBaselineMemo(*store, job, partial);
  ovvoc::v1::BaselineMemo big = Memo(job.id, 'c');
  big.mutable_trial()->mutable_test()->set_log_excerpt(std::string(kMaxBaselineMemoBytes, 'x'));
  KeepBaselineMemo(*store, job, big);
  FinishJob(*store, repo, kNow + absl::Seconds(2), "24.22.3", false);
  const JobRecord failed = store->ListJobs(filter)->front();
  REQUIRE(failed.id != job.id);
  KeepBaselineMemo(*store, failed, Memo(failed.id, 'd'));
  CHECK((*store->GetBaselineMemo(repo.id, repo.pool))->key() == std::string(64, 'a'));

  // The next one replaces it.
  FinishJob(*store, repo, kNow + absl::Seconds(3), "24.22.3", true);
  const JobRecord newer = store->ListJobs(filter)->front();
  KeepBaselineMemo(*store, newer, Memo(newer.id, 'e'));
  CHECK((*store->GetBaselineMemo(repo.id, repo.pool))->key() == std::string(64, 'e'));
  // Kept per pool: another pool's agents are sent none of it.
  CHECK(!store->GetBaselineMemo(repo.id, "self-hosted")->has_value());
  REQUIRE(store->PutBaselineMemo(repo.id, "self-hosted", Memo(newer.id, 'f')).ok());
  CHECK((*store->GetBaselineMemo(repo.id, repo.pool))->key() == std::string(64, 'e'));
}

}  // namespace
}  // namespace ovvoc::cp
