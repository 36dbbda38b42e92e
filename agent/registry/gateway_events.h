// What the registry gateway (gateway.h) saw, one event per request it refused, failed or
// served, and how a job reports them: a phase's refusals become blocked-egress findings.
#ifndef OVVOC_AGENT_REGISTRY_GATEWAY_EVENTS_H_
#define OVVOC_AGENT_REGISTRY_GATEWAY_EVENTS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "ovvoc/v1/job.pb.h"

namespace ovvoc::agent::registry {

struct GatewayEvent {
  absl::Time time;
  std::string method;  // "" when none was read
  std::string host;    // "" when none was parsed
  int port = 0;
  std::string path;  // PathForReport(): no query, bounded
  // A request that is not a read of a configured registry (or, in script mode, not of what the
  // lockfile names): the job reports it as blocked egress.
  bool refused = false;
  // A read the gateway could not serve (the registry failed, lied, or had no such package).
  bool failed = false;
  std::string reason;  // why refused or failed
  uint64_t bytes = 0;  // body bytes served to the container
};

// "GET registry.example:443/left-pad", "CONNECT evil.example:443", "request".
std::string RequestForReport(const GatewayEvent& event, bool with_path = true);

// A phase's refused events as findings, and the events the gateway only counted
// (DroppedEvents()) as one more. Refusals are grouped by method, host, port and reason, so
// that a container repeating one request (a decoy in a loop) makes one finding of it, not
// thousands that push the job's other findings out of its stored result. The first
// kMaxRefusalFindings groups, in the order first seen, are a blocked-egress finding each ("PUT
// 127.0.0.1:4873/x refused by the registry gateway during install: only GET and HEAD read a
// registry (3 times, also at /y, /z)"); one more sums up the rest and names what it can of them.
inline constexpr size_t kMaxRefusalFindings = 20;
std::vector<ovvoc::v1::SecurityFinding> RefusalFindings(absl::Span<const GatewayEvent> events,
                                                        uint64_t dropped, absl::string_view phase);

}  // namespace ovvoc::agent::registry

#endif  // OVVOC_AGENT_REGISTRY_GATEWAY_EVENTS_H_
