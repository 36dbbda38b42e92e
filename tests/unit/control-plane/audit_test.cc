#include "control-plane/audit/audit.h"

#include <catch2/catch.hpp>

#include "control-plane/store/sqlite/sqlite_store.h"
#include "tests/support/temp_dir.h"

namespace ovvoc::cp {
namespace {

TEST_CASE("audit records chain: each hash covers the record and the previous hash") {
  testing::TempDir dir;
  auto store = OpenSqliteStore(dir.Sub("store.db"));
  REQUIRE(store.ok());
  ManualClock clock;
  StoreAuditLog audit(**store, clock);
  REQUIRE(audit.Append({"admin", "org.create", "org_1", {{"name", "acme"}}}).ok());
  clock.Advance(absl::Seconds(1));
  REQUIRE(audit.Append({"agent:agt_1", "job.lease", "job_1", {{"attempt", 1}}}).ok());
  // Bytes that are not UTF-8 (say, from a hostile peer) are recorded, not thrown.
  REQUIRE(audit.Append({"anonymous@x", "auth.refused", "", {{"reason", "bad \xff"}}}).ok());

  auto records = (*store)->ListAudit(0, 10);
  REQUIRE(records.ok());
  REQUIRE(records->size() == 3);
  CHECK((*records)[0].prev_hash == std::string(32, '\0'));
  CHECK((*records)[0].details == R"({"name":"acme"})");
  for (size_t i = 0; i < records->size(); ++i) {
    CHECK((*records)[i].seq == static_cast<int64_t>(i + 1));
    CHECK((*records)[i].hash == RecordHash((*records)[i]));
    if (i > 0) CHECK((*records)[i].prev_hash == (*records)[i - 1].hash);
  }
  // Any edit changes the hash, so an edited record no longer matches its chain.
  AuditRecord edited = (*records)[1];
  edited.subject = "job_2";
  CHECK(RecordHash(edited) != (*records)[1].hash);
  edited = (*records)[1];
  edited.time += absl::Microseconds(1);
  CHECK(RecordHash(edited) != (*records)[1].hash);
}

}  // namespace
}  // namespace ovvoc::cp

namespace ovvoc::cp {
namespace {

TEST_CASE("an audit record stays small whatever a caller sent") {
  testing::TempDir dir;
  auto store = OpenSqliteStore(dir.Sub("store.db"));
  REQUIRE(store.ok());
  StoreAuditLog audit(**store, Clock::Real());
  const std::string huge(4 << 20, 'j');
  nlohmann::json details = {{"id", huge}, {"list", std::vector<std::string>(10'000, huge.substr(0, 1000))}};
  details["nested"] = {{"a", {{"b", {{"c", {{"d", {{"e", huge}}}}}}}}}};
  REQUIRE(audit.Append({"agent:" + huge, "job.result.refused", huge, details}).ok());
  auto records = (*store)->ListAudit(0, 10);
  REQUIRE(records.ok());
  REQUIRE(records->size() == 1);
  const AuditRecord& r = records->front();
  CHECK(r.actor.size() < 400);
  CHECK(r.subject.size() < 400);
  CHECK(r.details.size() < 64 * 1024);
  CHECK(r.details.find("more bytes") != std::string::npos);
  CHECK(r.hash == RecordHash(r));
}

}  // namespace
}  // namespace ovvoc::cp
