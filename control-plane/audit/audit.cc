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

// Audit rows are never pruned, so no record may grow with what a caller sent: every string is
// cut to a bound (saying how much was cut) and so is every array and object.
constexpr size_t kMaxIdentity = 256;  // actor, action, subject
constexpr size_t kMaxString = 512;    // a string in details
constexpr size_t kMaxItems = 32;      // an array's elements, an object's members

std::string BoundedString(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
  return absl::StrCat(text.substr(0, cut), "...(", text.size() - cut, " more bytes)");
}

nlohmann::json Bounded(const nlohmann::json& value, int depth = 0) {
  if (value.is_string()) return BoundedString(value.get_ref<const std::string&>(), kMaxString);
  if (!value.is_structured()) return value;
  if (depth >= 4) return "(nested too deeply)";
  nlohmann::json out = value.is_array() ? nlohmann::json::array() : nlohmann::json::object();
  size_t kept = 0;
  for (auto it = value.begin(); it != value.end() && kept < kMaxItems; ++it, ++kept) {
    if (value.is_array()) {
      out.push_back(Bounded(*it, depth + 1));
    } else {
      out[BoundedString(it.key(), kMaxIdentity)] = Bounded(it.value(), depth + 1);
    }
  }
  if (value.size() > kept) {
    if (value.is_array()) {
      out.push_back(absl::StrCat("(", value.size() - kept, " more)"));
    } else {
      out["..."] = absl::StrCat(value.size() - kept, " more members");
    }
  }
  return out;
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
    record.actor = BoundedString(event.actor, kMaxIdentity);
    record.action = BoundedString(event.action, kMaxIdentity);
    record.subject = BoundedString(event.subject, kMaxIdentity);
    // Invalid UTF-8 from a peer is replaced, never thrown.
    record.details =
        event.details.is_null()
            ? "{}"
            : Bounded(event.details).dump(-1, ' ', false,
                                          nlohmann::json::error_handler_t::replace);
    record.prev_hash = last.has_value() ? last->hash : std::string(32, '\0');
    record.hash = RecordHash(record);
    return record;
  });
  return appended.status();
}

}  // namespace ovvoc::cp
