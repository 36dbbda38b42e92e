// RefusalLog: what the control plane refused, counted in memory and written to the audit log
// as one record per (who, action, method, reason, subject) per flush. A refusal must cost the
// server almost nothing: counting is a map update under a mutex (at most kMaxKeys keys, then
// one overflow key), and however many calls, hosts or reasons an attacker brings, the log grows
// by at most kRowsPerMinute records a minute (bursts to kMaxBurst): past that, the most
// frequent keys keep rows of their own and the rest are merged into one, and counts wait in
// memory for the next flush. Who is the caller's IP address for anonymous callers
// ("anonymous@ipv4:10.0.0.7"), never the port, so a flood from one host is one key; anonymous
// refusals carry no subject (it would be the caller's to choose). Thread-safe; Flush() blocks on
// the store (call it from a background loop).
#ifndef OVVOC_CONTROL_PLANE_SERVER_REFUSAL_LOG_H_
#define OVVOC_CONTROL_PLANE_SERVER_REFUSAL_LOG_H_

#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "control-plane/audit/audit.h"

namespace ovvoc::cp {

struct Refusal {
  std::string actor;    // "anonymous@<ip>" or "agent:<id>"
  std::string action;   // "auth.refused", "agent.enroll.refused", "job.heartbeat.refused", ...
  std::string method;   // the RPC
  std::string reason;   // why; our words, never the caller's bytes
  std::string subject;  // the id acted on, if it is well formed; else empty
};

class RefusalLog {
 public:
  static constexpr size_t kMaxKeys = 256;
  static constexpr double kRowsPerMinute = 30;
  static constexpr double kMaxBurst = 60;

  // Counts `refusal`. Past kMaxKeys distinct keys, it is counted under one overflow key.
  void Count(Refusal refusal, absl::Time now);

  // Writes one audit record per key counted since the last flush ("count", "first", "last"
  // and the key's fields in its details) and forgets them.
  // `final` (at shutdown): whatever is left is written, merged into one row if need be.
  void Flush(AuditLog& audit, absl::Time now, bool final = false);

  using Key = std::tuple<std::string, std::string, std::string, std::string, std::string>;
  struct Tally {
    uint64_t count = 0;
    absl::Time first;
    absl::Time last;
  };

 private:
  static const Key& OverflowKey();

  absl::Mutex mu_;
  std::map<Key, Tally> tallies_ ABSL_GUARDED_BY(mu_);
  double budget_ ABSL_GUARDED_BY(mu_) = kMaxBurst;  // rows that may be written now
  // When budget_ was last topped up, on the caller's clock; the first Flush() finds it full.
  absl::Time refilled_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace ovvoc::cp

#endif  // OVVOC_CONTROL_PLANE_SERVER_REFUSAL_LOG_H_
