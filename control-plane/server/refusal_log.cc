#include "control-plane/server/refusal_log.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "common/logging.h"
#include "common/time_util.h"

namespace ovvoc::cp {
namespace {

RefusalLog::Tally Merge(const RefusalLog::Tally& a, const RefusalLog::Tally& b) {
  return {a.count + b.count, std::min(a.first, b.first), std::max(a.last, b.last)};
}

}  // namespace

const RefusalLog::Key& RefusalLog::OverflowKey() {
  static const Key* key = new Key("various", "auth.refused", "various",
                                  "more distinct refusals than are recorded apart", "");
  return *key;
}

void RefusalLog::Count(Refusal refusal, absl::Time now) {
  Key key(std::move(refusal.actor), std::move(refusal.action), std::move(refusal.method),
          std::move(refusal.reason), std::move(refusal.subject));
  absl::MutexLock lock(&mu_);
  auto it = tallies_.find(key);
  if (it == tallies_.end()) {
    if (tallies_.size() >= kMaxKeys) key = OverflowKey();
    it = tallies_.try_emplace(std::move(key), Tally{0, now, now}).first;
  }
  ++it->second.count;
  it->second.last = now;
}

void RefusalLog::Flush(AuditLog& audit, absl::Time now, bool final) {
  std::map<Key, Tally> tallies;
  {
    absl::MutexLock lock(&mu_);
    budget_ = std::min(kMaxBurst, budget_ + kRowsPerMinute * absl::ToDoubleMinutes(now - refilled_));
    refilled_ = now;
    if (final) budget_ = std::max(budget_, 2.0);
    // Counted on, and written when the budget allows: two rows at least when there are two
    // keys, so that the merged row never swallows the refusal ranked first.
    if (tallies_.empty() || budget_ < (tallies_.size() > 1 ? 2 : 1)) return;
    tallies.swap(tallies_);
    // Refusals of enrolled agents (a revoked or stolen identity at work) get rows of their own
    // first, then the most frequent anonymous ones; what the budget cannot hold is written as
    // one row that says how many refusals it merges. An anonymous flood therefore cannot hide
    // an agent's refusal in that row while the budget allows two rows.
    const size_t rows = static_cast<size_t>(budget_);
    if (tallies.size() > rows) {
      std::vector<std::pair<Key, Tally>> ranked(tallies.begin(), tallies.end());
      auto by_agent = [](const Key& key) { return std::get<0>(key).rfind("agent:", 0) == 0; };
      std::sort(ranked.begin(), ranked.end(), [&](const auto& a, const auto& b) {
        if (by_agent(a.first) != by_agent(b.first)) return by_agent(a.first);
        return a.second.count > b.second.count;
      });
      tallies.clear();
      Tally merged{0, now, absl::InfinitePast()};
      for (size_t i = 0; i < ranked.size(); ++i) {
        if (i + 1 < rows && ranked[i].first != OverflowKey()) {
          tallies.insert(std::move(ranked[i]));
        } else {
          merged = Merge(merged, ranked[i].second);
        }
      }
      tallies[OverflowKey()] = merged;
    }
    budget_ -= static_cast<double>(tallies.size());
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

}  // namespace ovvoc::cp
