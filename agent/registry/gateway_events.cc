#include "agent/registry/gateway_events.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/registry/request_head.h"

namespace ovvoc::agent::registry {

std::string RequestForReport(const GatewayEvent& event, bool with_path) {
  const std::string where = absl::StrCat(event.host.empty() ? "" : HostPort(event.host, event.port),
                                         with_path ? event.path : "");
  return absl::StrCat(event.method.empty() ? "request" : event.method, where.empty() ? "" : " ",
                      where);
}

namespace {

// Refusals that differ in their paths at most: one finding.
struct RefusalGroup {
  static constexpr size_t kOtherPathsShown = 4;

  explicit RefusalGroup(const GatewayEvent& event) : first(&event) {}
  void Add(const GatewayEvent& event) {
    ++count;
    if (event.path == first->path ||
        std::find(other_paths.begin(), other_paths.end(), event.path) != other_paths.end()) {
      return;
    }
    if (other_paths.size() < kOtherPathsShown) {
      other_paths.push_back(event.path);
    } else {
      more_paths = true;
    }
  }
  std::string Describe(absl::string_view phase) const {
    std::string detail =
        absl::StrCat(RequestForReport(*first), " refused by the registry gateway during ", phase,
                     ": ", first->reason);
    if (count > 1) {
      absl::StrAppend(&detail, " (", count, " times", other_paths.empty() ? "" : ", also at ",
                      absl::StrJoin(other_paths, ", "), more_paths ? " and other paths" : "", ")");
    }
    return detail;
  }

  const GatewayEvent* first;
  uint64_t count = 0;
  std::vector<absl::string_view> other_paths;  // distinct, and not first's
  bool more_paths = false;
};

}  // namespace

std::vector<ovvoc::v1::SecurityFinding> RefusalFindings(absl::Span<const GatewayEvent> events,
                                                        uint64_t dropped, absl::string_view phase) {
  std::vector<RefusalGroup> groups;
  std::map<std::tuple<absl::string_view, absl::string_view, int, absl::string_view>, size_t> index;
  for (const GatewayEvent& event : events) {
    if (!event.refused) continue;
    auto [it, added] =
        index.try_emplace({event.method, event.host, event.port, event.reason}, groups.size());
    if (added) groups.emplace_back(event);
    groups[it->second].Add(event);
  }
  std::vector<ovvoc::v1::SecurityFinding> findings;
  auto add = [&findings](const char* kind, ovvoc::v1::Severity severity, std::string detail) {
    ovvoc::v1::SecurityFinding& finding = findings.emplace_back();
    finding.set_kind(kind);
    finding.set_severity(severity);
    finding.set_detail(std::move(detail));
  };
  const size_t itemised = std::min(groups.size(), kMaxRefusalFindings);
  for (size_t i = 0; i < itemised; ++i) {
    add("blocked-egress", ovvoc::v1::SEVERITY_HIGH, groups[i].Describe(phase));
  }
  if (groups.size() > itemised) {
    // Named as far as they fit in a stored finding's detail (1 KiB).
    constexpr size_t kMaxNamed = 600;
    uint64_t requests = 0;
    std::string named;
    bool all_named = true;
    for (size_t i = itemised; i < groups.size(); ++i) {
      requests += groups[i].count;
      const std::string name =
          absl::StrCat(RequestForReport(*groups[i].first, /*with_path=*/false),
                       groups[i].count > 1 ? absl::StrCat(" (", groups[i].count, " times)") : "");
      all_named = all_named && named.size() + name.size() + 2 <= kMaxNamed;
      if (all_named) absl::StrAppend(&named, named.empty() ? "" : ", ", name);
    }
    add("blocked-egress", ovvoc::v1::SEVERITY_HIGH,
        absl::StrCat("... and ", requests, " more requests of ", groups.size() - itemised,
                     " other kinds refused by the registry gateway during ", phase, ": ", named,
                     all_named ? "" : ", ..."));
  }
  if (dropped > 0) {
    add("egress-flood", ovvoc::v1::SEVERITY_MEDIUM,
        absl::StrCat(dropped, " more requests to the registry gateway during ", phase,
                     ", counted but not itemised"));
  }
  return findings;
}

}  // namespace ovvoc::agent::registry
