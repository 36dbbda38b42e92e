#include "control-plane/server/refusal_log.h"

#include <utility>
#include <vector>

#include "common/logging.h"
#include "common/time_util.h"

namespace ovvoc::cp {

void RefusalLog::Count(Refusal refusal, absl::Time now) {
  Key key(std::move(refusal.actor), std::move(refusal.action), std::move(refusal.method),
          std::move(refusal.reason), std::move(refusal.subject));
  absl::MutexLock lock(&mu_);
  auto it = tallies_.find(key);
  if (it == tallies_.end()) {
    if (tallies_.size() >= kMaxKeys) {
      key = Key("various", "auth.refused", "various", "more distinct refusals than kept apart", "");
    }
    it = tallies_.try_emplace(std::move(key), Tally{0, now, now}).first;
  }
  ++it->second.count;
  it->second.last = now;
}

void RefusalLog::Flush(AuditLog& audit) {
  std::map<Key, Tally> tallies;
  {
    absl::MutexLock lock(&mu_);
    tallies.swap(tallies_);
  }
  for (const auto& [key, tally] : tallies) {
    const auto& [actor, action, method, reason, subject] = key;
    log::Warning("refused %s from %s %llu time(s) since %s: %s", method, actor,
                 static_cast<unsigned long long>(tally.count), Rfc3339(tally.first), reason);
    audit.Record({actor,
                  action,
                  subject,
                  {{"method", method},
                   {"reason", reason},
                   {"count", tally.count},
                   {"first", Rfc3339(tally.first)},
                   {"last", Rfc3339(tally.last)}}});
  }
}

std::string RefusalLog::PeerHost(absl::string_view peer) {
  // "ipv4:1.2.3.4:5", "ipv6:[::1]:5", "unix:/path"
  if (peer.rfind("unix:", 0) == 0) return std::string(peer);
  const size_t colon = peer.rfind(':');
  const size_t scheme = peer.find(':');
  if (colon == absl::string_view::npos || colon == scheme) return std::string(peer);
  return std::string(peer.substr(0, colon));
}

}  // namespace ovvoc::cp
