// AuditLog: the append-only record of everything that changes state or is refused.
// Records are hash-chained (each hash covers the previous hash and the record's fields), so
// editing or deleting a record in the store breaks the chain from that point on. Signed
// checkpoints and `audit verify` build on RecordHash(). Thread-safe.
#ifndef OVVOC_CONTROL_PLANE_AUDIT_AUDIT_H_
#define OVVOC_CONTROL_PLANE_AUDIT_AUDIT_H_

#include <string>

#include "absl/status/status.h"
#include "common/clock.h"
#include "control-plane/store/store.h"
#include "nlohmann/json.hpp"

namespace ovvoc::cp {

struct AuditEvent {
  std::string actor;    // "admin", "agent:<id>", "system", "anonymous@<peer>"
  std::string action;   // dotted verb: "job.create", "agent.revoke", "auth.refused"
  std::string subject;  // the id acted on, if any
  nlohmann::json details = nlohmann::json::object();
};

class AuditLog {
 public:
  virtual ~AuditLog() = default;
  virtual absl::Status Append(const AuditEvent& event) = 0;

  // Appends, and logs (does not return) a failure: for callers whose own work has already
  // happened and must not be reported as failed because its record could not be written.
  void Record(const AuditEvent& event);
};

// The chain hash of `record` (its seq, time, actor, action, subject, details and prev_hash).
std::string RecordHash(const AuditRecord& record);

// An AuditLog that appends to `store`. `store` and `clock` must outlive it.
class StoreAuditLog final : public AuditLog {
 public:
  StoreAuditLog(Store& store, const Clock& clock) : store_(store), clock_(clock) {}
  absl::Status Append(const AuditEvent& event) override;

 private:
  Store& store_;
  const Clock& clock_;
};

}  // namespace ovvoc::cp

#endif  // OVVOC_CONTROL_PLANE_AUDIT_AUDIT_H_
