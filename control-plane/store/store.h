// Store: the control plane's metadata store. Holds orgs, repos, agents, enrollment-token
// hashes, jobs with their results, and the audit log. Never source code, file contents or
// tokens in clear.
//
// One interface, several implementations (SQLite now, PostgreSQL later) that pass one
// conformance suite (tests/unit/control-plane/store_test.cc). Implementations are thread-safe;
// every call is one transaction. Calls block on disk: never call them from a gRPC reactor
// thread, use the server's executor.
#ifndef OVVOC_CONTROL_PLANE_STORE_STORE_H_
#define OVVOC_CONTROL_PLANE_STORE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "ovvoc/v1/job.pb.h"

namespace ovvoc::cp {

struct OrgRecord {
  std::string id;
  std::string name;
  absl::Time created_at;
};

struct RepoRecord {
  std::string id;
  std::string org_id;
  std::string url;
  std::string pool;
  std::string forge;
  absl::Time created_at;
};

struct AgentRecord {
  std::string id;
  std::string org_id;
  std::string pool;
  std::string hostname;
  std::string version;
  absl::Time enrolled_at;
  absl::Time last_seen_at;
  std::string certificate_serial;  // of the newest certificate issued
  // Of the certificate the newest one replaced, while the agent has not used the newest yet
  // (a renewal whose answer was lost must not lock the agent out); empty once it has.
  std::string previous_certificate_serial;
  absl::Time certificate_expires_at;
  bool revoked = false;
  absl::Time revoked_at = absl::UnixEpoch();
};

struct EnrollmentTokenRecord {
  std::string id;
  std::string org_id;
  std::string pool;
  std::string secret_hash;  // SHA-256 of the secret half; the secret itself is never stored
  absl::Time created_at;
  absl::Time expires_at;
  bool used = false;
  absl::Time used_at = absl::UnixEpoch();
  std::string used_by;  // agent id
};

struct JobRecord {
  std::string id;
  std::string repo_id;
  std::string org_id;
  std::string pool;
  ovvoc::v1::JobState state = ovvoc::v1::JOB_STATE_QUEUED;
  uint32_t attempt = 0;       // bumped by every lease; names the lease a report must match
  uint32_t max_attempts = 3;  // lost leases allowed before the job fails
  uint32_t handbacks = 0;     // leases handed back by a stopping agent; they do not count
  std::string agent_id;       // holder of the current or last lease
  absl::Time created_at;
  absl::Time updated_at;
  absl::Time lease_expires_at = absl::UnixEpoch();
  bool cancel_requested = false;
  std::string status_reason;
  ovvoc::v1::Progress progress;
  std::optional<ovvoc::v1::JobResult> result;
};

struct JobFilter {
  std::string org_id;                                            // empty: any
  std::string repo_id;                                           // empty: any
  ovvoc::v1::JobState state = ovvoc::v1::JOB_STATE_UNSPECIFIED;  // unspecified: any
  uint32_t limit = 100;
};

struct AuditRecord {
  int64_t seq = 0;  // 1-based, gapless
  absl::Time time;
  std::string actor;    // "admin", "agent:agt_...", "system", "anonymous"
  std::string action;   // "job.create", "agent.enroll", "auth.refused", ...
  std::string subject;  // the id acted on
  std::string details;  // JSON object
  std::string prev_hash;
  std::string hash;
};

// Read-modify-write callbacks run inside the store's transaction. Returning an error rolls the
// transaction back and the store call returns that error unchanged.
template <typename T>
using Mutation = std::function<absl::Status(T&)>;

class Store {
 public:
  virtual ~Store() = default;

  // Orgs. CreateOrg fails with AlreadyExists for a taken name.
  virtual absl::Status CreateOrg(const OrgRecord& org) = 0;
  virtual absl::StatusOr<OrgRecord> GetOrg(absl::string_view id) = 0;
  virtual absl::StatusOr<OrgRecord> FindOrgByName(absl::string_view name) = 0;
  virtual absl::StatusOr<std::vector<OrgRecord>> ListOrgs() = 0;

  // Repos.
  virtual absl::Status CreateRepo(const RepoRecord& repo) = 0;
  virtual absl::StatusOr<RepoRecord> GetRepo(absl::string_view id) = 0;
  virtual absl::StatusOr<std::vector<RepoRecord>> ListRepos(absl::string_view org_id) = 0;

  // Enrollment: `enroll` sees the token (NotFound if there is none), marks it used and returns
  // the agent to insert, or fails; token update and agent insert are one transaction.
  using Enrollment = std::function<absl::StatusOr<AgentRecord>(EnrollmentTokenRecord&)>;
  virtual absl::Status CreateEnrollmentToken(const EnrollmentTokenRecord& token) = 0;
  virtual absl::Status Enroll(absl::string_view token_id, const Enrollment& enroll) = 0;

  // Agents.
  virtual absl::StatusOr<AgentRecord> GetAgent(absl::string_view id) = 0;
  virtual absl::StatusOr<std::vector<AgentRecord>> ListAgents(absl::string_view org_id) = 0;
  virtual absl::StatusOr<AgentRecord> UpdateAgent(absl::string_view id,
                                                  const Mutation<AgentRecord>& mutate) = 0;

  // Jobs.
  virtual absl::Status CreateJob(const JobRecord& job) = 0;
  virtual absl::StatusOr<JobRecord> GetJob(absl::string_view id) = 0;
  virtual absl::StatusOr<std::vector<JobRecord>> ListJobs(const JobFilter& filter) = 0;
  virtual absl::StatusOr<JobRecord> UpdateJob(absl::string_view id,
                                              const Mutation<JobRecord>& mutate) = 0;
  // Leases for `agent_id`, in one transaction: reads the agent (NotFound if there is none),
  // runs `admit` on it (its error refuses the lease and is returned: revoked, certificate
  // replaced or expired), then applies `mutate` to the oldest queued job of the agent's org and
  // pool, if there is one. So no lease is ever made for an agent revoked before it. Two
  // concurrent callers never get the same job.
  using Admission = std::function<absl::Status(const AgentRecord&)>;
  virtual absl::StatusOr<std::optional<JobRecord>> LeaseNextJob(
      absl::string_view agent_id, const Admission& admit, const Mutation<JobRecord>& mutate) = 0;
  // Ids of leased jobs whose lease ended before `now`.
  virtual absl::StatusOr<std::vector<std::string>> ExpiredLeases(absl::Time now) = 0;
  // (org_id, pool) pairs that have queued jobs: what pollers should be woken for at start-up.
  virtual absl::StatusOr<std::vector<std::pair<std::string, std::string>>> QueuedPools() = 0;

  // Baseline memos (job.proto's BaselineMemo): the newest one an agent of `pool` reported per
  // repository, replacing the one before; nullopt when there is none. What the next job's spec
  // carries, for an agent of the same pool.
  virtual absl::Status PutBaselineMemo(absl::string_view repo_id, absl::string_view pool,
                                       const ovvoc::v1::BaselineMemo& memo) = 0;
  virtual absl::StatusOr<std::optional<ovvoc::v1::BaselineMemo>> GetBaselineMemo(
      absl::string_view repo_id, absl::string_view pool) = 0;

  // Audit log. `make` receives the newest record (nullopt for the first) and returns the new
  // one with seq, prev_hash and hash filled; both happen in one transaction so the chain
  // cannot fork.
  using AuditBuilder = std::function<AuditRecord(const std::optional<AuditRecord>& last)>;
  virtual absl::StatusOr<AuditRecord> AppendAudit(const AuditBuilder& make) = 0;
  virtual absl::StatusOr<std::vector<AuditRecord>> ListAudit(int64_t after_seq, uint32_t limit) = 0;
};

// Opens the store named by `url`: "sqlite:///abs/path/store.db" or a plain path. Applies
// pending migrations.
absl::StatusOr<std::unique_ptr<Store>> OpenStore(absl::string_view url);

}  // namespace ovvoc::cp

#endif  // OVVOC_CONTROL_PLANE_STORE_STORE_H_
