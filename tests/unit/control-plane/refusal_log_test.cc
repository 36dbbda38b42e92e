// RefusalLog: refusals counted in memory, written as few rows, never faster than the budget.
#include "control-plane/server/refusal_log.h"

#include <catch2/catch.hpp>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace ovvoc::cp {
namespace {

class RecordingAudit final : public AuditLog {
 public:
  absl::Status Append(const AuditEvent& event) override {
    events.push_back(event);
    return absl::OkStatus();
  }
  uint64_t Counted() const {
    uint64_t n = 0;
    for (const AuditEvent& e : events) n += e.details["count"].get<uint64_t>();
    return n;
  }
  std::vector<AuditEvent> events;
};

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

TEST_CASE("a flood from one host is one row with its count") {
  RefusalLog log;
  for (int i = 0; i < 10'000; ++i) {
    log.Count({"anonymous@ipv4:10.0.0.7", "auth.refused", "PollJob", "no certificate", ""},
              kStart + absl::Milliseconds(i));
  }
  RecordingAudit audit;
  log.Flush(audit, kStart + absl::Seconds(20));
  REQUIRE(audit.events.size() == 1);
  CHECK(audit.events[0].actor == "anonymous@ipv4:10.0.0.7");
  CHECK(audit.Counted() == 10'000);
  log.Flush(audit, kStart + absl::Seconds(22));
  CHECK(audit.events.size() == 1);  // nothing new, nothing written
}

TEST_CASE("however many hosts and reasons, rows never outrun the budget, and nothing is lost") {
  RefusalLog log;
  RecordingAudit audit;
  uint64_t sent = 0;
  absl::Time now = kStart;
  for (int minute = 0; minute < 10; ++minute) {
    for (int flush = 0; flush < 30; ++flush) {
      for (int host = 0; host < 500; ++host) {
        log.Count({absl::StrCat("anonymous@ipv6:[2001:db8::", host, "]"), "auth.refused",
                   "Heartbeat", "no certificate", ""},
                  now);
        ++sent;
      }
      now += absl::Seconds(2);
      log.Flush(audit, now);
    }
  }
  log.Flush(audit, now, /*final=*/true);
  // 10 minutes at 30 rows a minute, plus the first burst and the final row.
  CHECK(audit.events.size() <= 10 * RefusalLog::kRowsPerMinute + RefusalLog::kMaxBurst + 1);
  CHECK(audit.Counted() == sent);
}

}  // namespace
}  // namespace ovvoc::cp

namespace ovvoc::cp {
namespace {

TEST_CASE("an agent's refusal keeps a row of its own under an anonymous flood") {
  RefusalLog log;
  RecordingAudit audit;
  absl::Time now = kStart;
  // Spend the burst on a flood from many hosts.
  for (int flush = 0; flush < 40; ++flush) {
    for (int host = 0; host < 300; ++host) {
      log.Count({absl::StrCat("anonymous@ipv4:10.0.", host / 250, ".", host % 250), "auth.refused",
                 "Heartbeat", "no certificate", ""},
                now);
    }
    now += absl::Seconds(2);
    log.Flush(audit, now);
  }
  audit.events.clear();
  // Now a revoked agent tries, among thousands of anonymous refusals.
  for (int i = 0; i < 5; ++i) {
    log.Count({"agent:agt_stolen", "auth.refused", "PollJob", "agent was revoked", "agt_stolen"},
              now);
  }
  for (int host = 0; host < 300; ++host) {
    log.Count({absl::StrCat("anonymous@ipv4:10.1.0.", host % 250), "auth.refused", "Heartbeat",
               "no certificate", ""},
              now);
  }
  for (int flush = 0; flush < 3; ++flush) {
    now += absl::Seconds(2);
    log.Flush(audit, now);
  }
  bool agent_row = false;
  for (const AuditEvent& e : audit.events) {
    if (e.actor == "agent:agt_stolen") {
      agent_row = true;
      CHECK(e.details["count"] == 5);
    }
  }
  CHECK(agent_row);
}

}  // namespace
}  // namespace ovvoc::cp
