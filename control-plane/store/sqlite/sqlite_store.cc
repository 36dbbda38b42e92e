#include "control-plane/store/sqlite/sqlite_store.h"

#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "control-plane/store/sqlite/sqlite_db.h"

namespace ovvoc::cp {
namespace {

using sqlite::Database;
using sqlite::Statement;

constexpr absl::string_view kJobColumns =
    "id, repo_id, org_id, pool, state, attempt, max_attempts, handbacks, agent_id, created_at, "
    "updated_at, lease_expires_at, cancel_requested, status_reason, progress, result";
// Same parameter numbering as BindJob, so one binder serves INSERT and UPDATE.
constexpr absl::string_view kUpdateJob =
    "UPDATE jobs SET repo_id = ?2, org_id = ?3, pool = ?4, state = ?5, attempt = ?6, "
    "max_attempts = ?7, handbacks = ?8, agent_id = ?9, created_at = ?10, updated_at = ?11, "
    "lease_expires_at = ?12, cancel_requested = ?13, status_reason = ?14, progress = ?15, "
    "result = ?16 WHERE id = ?1";
constexpr absl::string_view kUpdateAgent =
    "UPDATE agents SET org_id = ?2, pool = ?3, hostname = ?4, version = ?5, enrolled_at = ?6, "
    "last_seen_at = ?7, certificate_serial = ?8, certificate_expires_at = ?9, revoked = ?10, "
    "revoked_at = ?11, previous_certificate_serial = ?12 WHERE id = ?1";
constexpr absl::string_view kAgentColumns =
    "id, org_id, pool, hostname, version, enrolled_at, last_seen_at, certificate_serial, "
    "certificate_expires_at, revoked, revoked_at, previous_certificate_serial";
constexpr absl::string_view kAuditColumns =
    "seq, time, actor, action, subject, details, prev_hash, hash";

JobRecord ReadJob(const Statement& st) {
  JobRecord job;
  job.id = st.Text(0);
  job.repo_id = st.Text(1);
  job.org_id = st.Text(2);
  job.pool = st.Text(3);
  job.state = static_cast<ovvoc::v1::JobState>(st.Int(4));
  job.attempt = static_cast<uint32_t>(st.Int(5));
  job.max_attempts = static_cast<uint32_t>(st.Int(6));
  job.handbacks = static_cast<uint32_t>(st.Int(7));
  job.agent_id = st.Text(8);
  job.created_at = st.Time(9);
  job.updated_at = st.Time(10);
  job.lease_expires_at = st.Time(11);
  job.cancel_requested = st.Int(12) != 0;
  job.status_reason = st.Text(13);
  job.progress.ParseFromString(st.Blob(14));
  if (!st.IsNull(15)) {
    job.result.emplace();
    job.result->ParseFromString(st.Blob(15));
  }
  return job;
}

void BindJob(Statement& st, const JobRecord& job) {
  st.Bind(1, job.id)
      .Bind(2, job.repo_id)
      .Bind(3, job.org_id)
      .Bind(4, job.pool)
      .Bind(5, static_cast<int64_t>(job.state))
      .Bind(6, static_cast<int64_t>(job.attempt))
      .Bind(7, static_cast<int64_t>(job.max_attempts))
      .Bind(8, static_cast<int64_t>(job.handbacks))
      .Bind(9, job.agent_id)
      .Bind(10, job.created_at)
      .Bind(11, job.updated_at)
      .Bind(12, job.lease_expires_at)
      .Bind(13, static_cast<int64_t>(job.cancel_requested))
      .Bind(14, job.status_reason)
      .BindBlob(15, job.progress.SerializeAsString());
  if (job.result.has_value()) st.BindBlob(16, job.result->SerializeAsString());
}

AgentRecord ReadAgent(const Statement& st) {
  AgentRecord a;
  a.id = st.Text(0);
  a.org_id = st.Text(1);
  a.pool = st.Text(2);
  a.hostname = st.Text(3);
  a.version = st.Text(4);
  a.enrolled_at = st.Time(5);
  a.last_seen_at = st.Time(6);
  a.certificate_serial = st.Text(7);
  a.certificate_expires_at = st.Time(8);
  a.revoked = st.Int(9) != 0;
  a.revoked_at = st.Time(10);
  a.previous_certificate_serial = st.Text(11);
  return a;
}

void BindAgent(Statement& st, const AgentRecord& a) {
  st.Bind(1, a.id)
      .Bind(2, a.org_id)
      .Bind(3, a.pool)
      .Bind(4, a.hostname)
      .Bind(5, a.version)
      .Bind(6, a.enrolled_at)
      .Bind(7, a.last_seen_at)
      .Bind(8, a.certificate_serial)
      .Bind(9, a.certificate_expires_at)
      .Bind(10, static_cast<int64_t>(a.revoked))
      .Bind(11, a.revoked_at)
      .Bind(12, a.previous_certificate_serial);
}

EnrollmentTokenRecord ReadToken(const Statement& st) {
  EnrollmentTokenRecord t;
  t.id = st.Text(0);
  t.org_id = st.Text(1);
  t.pool = st.Text(2);
  t.secret_hash = st.Blob(3);
  t.created_at = st.Time(4);
  t.expires_at = st.Time(5);
  t.used = st.Int(6) != 0;
  t.used_at = st.Time(7);
  t.used_by = st.Text(8);
  return t;
}

OrgRecord ReadOrg(const Statement& st) { return OrgRecord{st.Text(0), st.Text(1), st.Time(2)}; }

RepoRecord ReadRepo(const Statement& st) {
  return RepoRecord{st.Text(0), st.Text(1), st.Text(2), st.Text(3), st.Text(4), st.Time(5)};
}

AuditRecord ReadAudit(const Statement& st) {
  AuditRecord r;
  r.seq = st.Int(0);
  r.time = st.Time(1);
  r.actor = st.Text(2);
  r.action = st.Text(3);
  r.subject = st.Text(4);
  r.details = st.Text(5);
  r.prev_hash = st.Blob(6);
  r.hash = st.Blob(7);
  return r;
}

// Steps `st` to its end, turning each row into a value with `read`.
template <typename Read>
auto ReadAll(Statement& st, Read read)
    -> absl::StatusOr<std::vector<decltype(read(std::declval<const Statement&>()))>> {
  std::vector<decltype(read(std::declval<const Statement&>()))> out;
  for (;;) {
    OVVOC_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return out;
    out.push_back(read(st));
  }
}

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(Database db) : db_(std::move(db)) {}

  absl::Status Migrate(const std::vector<absl::string_view>& migrations) {
    absl::MutexLock lock(&mu_);
    OVVOC_ASSIGN_OR_RETURN(int64_t version, UserVersion());
    if (version > static_cast<int64_t>(migrations.size())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the store's schema is version ", version, " but this binary knows only up to ",
          migrations.size(), "; run a newer ovvoc-control-plane"));
    }
    for (size_t i = static_cast<size_t>(version); i < migrations.size(); ++i) {
      OVVOC_RETURN_IF_ERROR(db_.Transaction([&]() -> absl::Status {
        OVVOC_RETURN_IF_ERROR(db_.Exec(migrations[i]));
        return db_.Exec(absl::StrCat("PRAGMA user_version = ", i + 1));
      }));
    }
    return absl::OkStatus();
  }

  // --- orgs ---
  absl::Status CreateOrg(const OrgRecord& org) override {
    absl::MutexLock lock(&mu_);
    OVVOC_ASSIGN_OR_RETURN(Statement st,
                           db_.Prepare("INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?)"));
    absl::Status s = st.Bind(1, org.id).Bind(2, org.name).Bind(3, org.created_at).Run();
    if (absl::IsAlreadyExists(s)) {
      return absl::AlreadyExistsError(absl::StrCat("org \"", org.name, "\" already exists"));
    }
    return s;
  }

  absl::StatusOr<OrgRecord> GetOrg(absl::string_view id) override { return FindOrg("id", id); }
  absl::StatusOr<OrgRecord> FindOrgByName(absl::string_view name) override {
    return FindOrg("name", name);
  }

  absl::StatusOr<std::vector<OrgRecord>> ListOrgs() override {
    absl::MutexLock lock(&mu_);
    OVVOC_ASSIGN_OR_RETURN(Statement st,
                           db_.Prepare("SELECT id, name, created_at FROM orgs ORDER BY name"));
    return ReadAll(st, ReadOrg);
  }

  // --- repos ---
  absl::Status CreateRepo(const RepoRecord& repo) override {
    absl::MutexLock lock(&mu_);
    OVVOC_ASSIGN_OR_RETURN(Statement st,
                           db_.Prepare("INSERT INTO repos (id, org_id, url, pool, forge, "
                                       "created_at) VALUES (?, ?, ?, ?, ?, ?)"));
    return st.Bind(1, repo.id)
        .Bind(2, repo.org_id)
        .Bind(3, repo.url)
        .Bind(4, repo.pool)
        .Bind(5, repo.forge)
        .Bind(6, repo.created_at)
        .Run();
  }

  absl::StatusOr<RepoRecord> GetRepo(absl::string_view id) override {
    absl::MutexLock lock(&mu_);
    OVVOC_ASSIGN_OR_RETURN(
        Statement st,
        db_.Prepare("SELECT id, org_id, url, pool, forge, created_at FROM repos WHERE id = ?"));
    st.Bind(1, id);
    OVVOC_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return absl::NotFoundError(absl::StrCat("no repo ", id));
    return ReadRepo(st);
  }

  absl::StatusOr<std::vector<RepoRecord>> ListRepos(absl::string_view org_id) override {
    absl::MutexLock lock(&mu_);
    OVVOC_ASSIGN_OR_RETURN(
        Statement st, db_.Prepare("SELECT id, org_id, url, pool, forge, created_at FROM repos "
                                  "WHERE (?1 = '' OR org_id = ?1) ORDER BY created_at, rowid"));
    st.Bind(1, org_id);
    return ReadAll(st, ReadRepo);
  }

  // --- enrollment ---
  absl::Status CreateEnrollmentToken(const EnrollmentTokenRecord& t) override {
    absl::MutexLock lock(&mu_);
    OVVOC_ASSIGN_OR_RETURN(
        Statement st,
        db_.Prepare(
            "INSERT INTO enrollment_tokens (id, org_id, pool, secret_hash, created_at, expires_at, "
            "used, used_at, used_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    return st.Bind(1, t.id)
        .Bind(2, t.org_id)
        .Bind(3, t.pool)
        .BindBlob(4, t.secret_hash)
        .Bind(5, t.created_at)
        .Bind(6, t.expires_at)
        .Bind(7, static_cast<int64_t>(t.used))
        .Bind(8, t.used_at)
        .Bind(9, t.used_by)
        .Run();
  }

  absl::Status Enroll(absl::string_view token_id, const Enrollment& enroll) override {
    absl::MutexLock lock(&mu_);
    return db_.Transaction([&]() -> absl::Status {
      OVVOC_ASSIGN_OR_RETURN(Statement get,
                             db_.Prepare("SELECT id, org_id, pool, secret_hash, created_at, "
                                         "expires_at, used, used_at, used_by "
                                         "FROM enrollment_tokens WHERE id = ?"));
      get.Bind(1, token_id);
      OVVOC_ASSIGN_OR_RETURN(bool row, get.Step());
      if (!row) return absl::NotFoundError("unknown enrollment token");
      EnrollmentTokenRecord token = ReadToken(get);
      OVVOC_ASSIGN_OR_RETURN(AgentRecord agent, enroll(token));
      OVVOC_ASSIGN_OR_RETURN(
          Statement put,
          db_.Prepare(
              "UPDATE enrollment_tokens SET used = ?, used_at = ?, used_by = ? WHERE id = ?"));
      OVVOC_RETURN_IF_ERROR(put.Bind(1, static_cast<int64_t>(token.used))
                                .Bind(2, token.used_at)
                                .Bind(3, token.used_by)
                                .Bind(4, token.id)
                                .Run());
      OVVOC_ASSIGN_OR_RETURN(
          Statement ins, db_.Prepare(absl::StrCat("INSERT INTO agents (", kAgentColumns,
                                                  ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")));
      BindAgent(ins, agent);
      return ins.Run();
    });
  }

  // --- agents ---
  absl::StatusOr<AgentRecord> GetAgent(absl::string_view id) override {
    absl::MutexLock lock(&mu_);
    return GetAgentLocked(id);
  }

  absl::StatusOr<std::vector<AgentRecord>> ListAgents(absl::string_view org_id) override {
    absl::MutexLock lock(&mu_);
    OVVOC_ASSIGN_OR_RETURN(
        Statement st,
        db_.Prepare(absl::StrCat(
            "SELECT ", kAgentColumns,
            " FROM agents WHERE (?1 = '' OR org_id = ?1) ORDER BY enrolled_at, rowid")));
    st.Bind(1, org_id);
    return ReadAll(st, ReadAgent);
  }

  absl::StatusOr<AgentRecord> UpdateAgent(absl::string_view id,
                                          const Mutation<AgentRecord>& mutate) override {
    absl::MutexLock lock(&mu_);
    AgentRecord agent;
    OVVOC_RETURN_IF_ERROR(db_.Transaction([&]() -> absl::Status {
      OVVOC_ASSIGN_OR_RETURN(agent, GetAgentLocked(id));
      OVVOC_RETURN_IF_ERROR(mutate(agent));
      OVVOC_ASSIGN_OR_RETURN(Statement st, db_.Prepare(kUpdateAgent));
      BindAgent(st, agent);
      return st.Run();
    }));
    return agent;
  }

  // --- jobs ---
  absl::Status CreateJob(const JobRecord& job) override {
    absl::MutexLock lock(&mu_);
    return WriteJob(job, absl::StrCat("INSERT INTO jobs (", kJobColumns,
                                      ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  }

  absl::StatusOr<JobRecord> GetJob(absl::string_view id) override {
    absl::MutexLock lock(&mu_);
    return GetJobLocked(id);
  }

  absl::StatusOr<std::vector<JobRecord>> ListJobs(const JobFilter& filter) override {
    absl::MutexLock lock(&mu_);
    OVVOC_ASSIGN_OR_RETURN(
        Statement st, db_.Prepare(absl::StrCat(
                          "SELECT ", kJobColumns,
                          " FROM jobs WHERE (?1 = '' OR org_id = ?1) AND (?2 = 0 OR state = ?2) "
                          "AND (?4 = '' OR repo_id = ?4) "
                          "ORDER BY created_at DESC, rowid DESC LIMIT ?3")));
    st.Bind(1, filter.org_id)
        .Bind(2, static_cast<int64_t>(filter.state))
        .Bind(3, static_cast<int64_t>(filter.limit))
        .Bind(4, filter.repo_id);
    return ReadAll(st, ReadJob);
  }

  absl::StatusOr<JobRecord> UpdateJob(absl::string_view id,
                                      const Mutation<JobRecord>& mutate) override {
    absl::MutexLock lock(&mu_);
    JobRecord job;
    OVVOC_RETURN_IF_ERROR(db_.Transaction([&]() -> absl::Status {
      OVVOC_ASSIGN_OR_RETURN(job, GetJobLocked(id));
      OVVOC_RETURN_IF_ERROR(mutate(job));
      return WriteJob(job, kUpdateJob);
    }));
    return job;
  }

  absl::StatusOr<std::optional<JobRecord>> LeaseNextJob(
      absl::string_view agent_id, const Admission& admit,
      const Mutation<JobRecord>& mutate) override {
    absl::MutexLock lock(&mu_);
    std::optional<JobRecord> leased;
    OVVOC_RETURN_IF_ERROR(db_.Transaction([&]() -> absl::Status {
      OVVOC_ASSIGN_OR_RETURN(AgentRecord agent, GetAgentLocked(agent_id));
      OVVOC_RETURN_IF_ERROR(admit(agent));
      const std::string& org_id = agent.org_id;
      const std::string& pool = agent.pool;
      OVVOC_ASSIGN_OR_RETURN(
          Statement st,
          db_.Prepare(absl::StrCat("SELECT ", kJobColumns,
                                   " FROM jobs WHERE state = ? AND org_id = ? AND pool = ? "
                                   "ORDER BY created_at, rowid LIMIT 1")));
      st.Bind(1, static_cast<int64_t>(ovvoc::v1::JOB_STATE_QUEUED)).Bind(2, org_id).Bind(3, pool);
      OVVOC_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) return absl::OkStatus();
      JobRecord job = ReadJob(st);
      OVVOC_RETURN_IF_ERROR(mutate(job));
      OVVOC_RETURN_IF_ERROR(WriteJob(job, kUpdateJob));
      leased = std::move(job);
      return absl::OkStatus();
    }));
    return leased;
  }

  absl::StatusOr<std::vector<std::string>> ExpiredLeases(absl::Time now) override {
    absl::MutexLock lock(&mu_);
    OVVOC_ASSIGN_OR_RETURN(Statement st,
                           db_.Prepare("SELECT id FROM jobs WHERE state = ? AND lease_expires_at < "
                                       "? ORDER BY lease_expires_at"));
    st.Bind(1, static_cast<int64_t>(ovvoc::v1::JOB_STATE_LEASED)).Bind(2, now);
    return ReadAll(st, [](const Statement& row) { return row.Text(0); });
  }

  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> QueuedPools() override {
    absl::MutexLock lock(&mu_);
    OVVOC_ASSIGN_OR_RETURN(Statement st,
                           db_.Prepare("SELECT DISTINCT org_id, pool FROM jobs WHERE state = ?"));
    st.Bind(1, static_cast<int64_t>(ovvoc::v1::JOB_STATE_QUEUED));
    return ReadAll(st,
                   [](const Statement& row) { return std::make_pair(row.Text(0), row.Text(1)); });
  }

  // --- audit ---
  absl::StatusOr<AuditRecord> AppendAudit(const AuditBuilder& make) override {
    absl::MutexLock lock(&mu_);
    AuditRecord record;
    OVVOC_RETURN_IF_ERROR(db_.Transaction([&]() -> absl::Status {
      OVVOC_ASSIGN_OR_RETURN(
          Statement last, db_.Prepare(absl::StrCat("SELECT ", kAuditColumns,
                                                   " FROM audit_log ORDER BY seq DESC LIMIT 1")));
      OVVOC_ASSIGN_OR_RETURN(bool row, last.Step());
      std::optional<AuditRecord> previous;
      if (row) previous = ReadAudit(last);
      record = make(previous);
      OVVOC_ASSIGN_OR_RETURN(Statement st,
                             db_.Prepare(absl::StrCat("INSERT INTO audit_log (", kAuditColumns,
                                                      ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)")));
      return st.Bind(1, record.seq)
          .Bind(2, record.time)
          .Bind(3, record.actor)
          .Bind(4, record.action)
          .Bind(5, record.subject)
          .Bind(6, record.details)
          .BindBlob(7, record.prev_hash)
          .BindBlob(8, record.hash)
          .Run();
    }));
    return record;
  }

  absl::Status PutBaselineMemo(absl::string_view repo_id, absl::string_view pool,
                               const ovvoc::v1::BaselineMemo& memo) override {
    absl::MutexLock lock(&mu_);
    OVVOC_ASSIGN_OR_RETURN(
        Statement st,
        db_.Prepare("INSERT INTO baseline_memos (repo_id, pool, memo) VALUES (?1, ?2, ?3) "
                    "ON CONFLICT(repo_id, pool) DO UPDATE SET memo = ?3"));
    return st.Bind(1, repo_id).Bind(2, pool).BindBlob(3, memo.SerializeAsString()).Run();
  }

  absl::StatusOr<std::optional<ovvoc::v1::BaselineMemo>> GetBaselineMemo(
      absl::string_view repo_id, absl::string_view pool) override {
    absl::MutexLock lock(&mu_);
    OVVOC_ASSIGN_OR_RETURN(
        Statement st,
        db_.Prepare("SELECT memo FROM baseline_memos WHERE repo_id = ? AND pool = ?"));
    st.Bind(1, repo_id).Bind(2, pool);
    OVVOC_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return std::nullopt;
    ovvoc::v1::BaselineMemo memo;
    if (!memo.ParseFromString(st.Blob(0))) {
      return absl::DataLossError(
          absl::StrCat("the baseline memo of repo ", repo_id, " cannot be parsed"));
    }
    return memo;
  }

  absl::StatusOr<std::vector<AuditRecord>> ListAudit(int64_t after_seq, uint32_t limit) override {
    absl::MutexLock lock(&mu_);
    OVVOC_ASSIGN_OR_RETURN(
        Statement st,
        db_.Prepare(absl::StrCat("SELECT ", kAuditColumns,
                                 " FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?")));
    st.Bind(1, after_seq).Bind(2, static_cast<int64_t>(limit));
    return ReadAll(st, ReadAudit);
  }

 private:
  absl::StatusOr<int64_t> UserVersion() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    OVVOC_ASSIGN_OR_RETURN(Statement st, db_.Prepare("PRAGMA user_version"));
    OVVOC_ASSIGN_OR_RETURN(bool row, st.Step());
    return row ? st.Int(0) : 0;
  }

  absl::StatusOr<OrgRecord> FindOrg(absl::string_view column, absl::string_view value) {
    absl::MutexLock lock(&mu_);
    OVVOC_ASSIGN_OR_RETURN(
        Statement st,
        db_.Prepare(absl::StrCat("SELECT id, name, created_at FROM orgs WHERE ", column, " = ?")));
    st.Bind(1, value);
    OVVOC_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return absl::NotFoundError(absl::StrCat("no org \"", value, "\""));
    return ReadOrg(st);
  }

  absl::StatusOr<AgentRecord> GetAgentLocked(absl::string_view id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    OVVOC_ASSIGN_OR_RETURN(Statement st, db_.Prepare(absl::StrCat("SELECT ", kAgentColumns,
                                                                  " FROM agents WHERE id = ?")));
    st.Bind(1, id);
    OVVOC_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return absl::NotFoundError(absl::StrCat("no agent ", id));
    return ReadAgent(st);
  }

  absl::StatusOr<JobRecord> GetJobLocked(absl::string_view id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    OVVOC_ASSIGN_OR_RETURN(
        Statement st, db_.Prepare(absl::StrCat("SELECT ", kJobColumns, " FROM jobs WHERE id = ?")));
    st.Bind(1, id);
    OVVOC_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return absl::NotFoundError(absl::StrCat("no job ", id));
    return ReadJob(st);
  }

  // `sql` is the INSERT of a new job or kUpdateJob.
  absl::Status WriteJob(const JobRecord& job, absl::string_view sql)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    OVVOC_ASSIGN_OR_RETURN(Statement st, db_.Prepare(sql));
    BindJob(st, job);
    return st.Run();
  }

  absl::Mutex mu_;
  Database db_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(
    const std::string& path, const std::vector<absl::string_view>& migrations) {
  OVVOC_ASSIGN_OR_RETURN(Database db, Database::Open(path));
  auto store = std::make_unique<SqliteStore>(std::move(db));
  OVVOC_RETURN_IF_ERROR(store->Migrate(migrations));
  return store;
}

}  // namespace ovvoc::cp
