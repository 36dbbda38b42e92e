#include "control-plane/audit/audit.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/crypto.h"
#include "common/logging.h"

namespace ovvoc::cp {
namespace {

// Length-prefixed, so no choice of field contents can make two records hash alike.
void AppendField(std::string& out, absl::string_view field) {
  absl::StrAppend(&out, field.size(), ":", field, ";");
}

}  // namespace

void AuditLog::Record(const AuditEvent& event) {
  if (absl::Status s = Append(event); !s.ok()) {
    log::Error("audit: cannot record %s %s by %s: %s", event.action, event.subject, event.actor,
               s.ToString());
  }
}

std::string RecordHash(const AuditRecord& record) {
  std::string canonical;
  AppendField(canonical, "ovvoc-audit-v1");
  AppendField(canonical, absl::StrCat(record.seq));
  AppendField(canonical, absl::StrCat(absl::ToUnixMicros(record.time)));
  AppendField(canonical, record.actor);
  AppendField(canonical, record.action);
  AppendField(canonical, record.subject);
  AppendField(canonical, record.details);
  AppendField(canonical, record.prev_hash);
  return crypto::Sha256(canonical);
}

absl::Status StoreAuditLog::Append(const AuditEvent& event) {
  const absl::Time now = clock_.Now();
  auto appended = store_.AppendAudit([&](const std::optional<AuditRecord>& last) {
    AuditRecord record;
    record.seq = last.has_value() ? last->seq + 1 : 1;
    record.time = now;
    record.actor = event.actor;
    record.action = event.action;
    record.subject = event.subject;
    // Invalid UTF-8 from a peer is replaced, never thrown.
    record.details =
        event.details.is_null()
            ? "{}"
            : event.details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    record.prev_hash = last.has_value() ? last->hash : std::string(32, '\0');
    record.hash = RecordHash(record);
    return record;
  });
  return appended.status();
}

}  // namespace ovvoc::cp
