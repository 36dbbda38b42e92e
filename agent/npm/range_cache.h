// Parsed ranges by their text, for the loops that test many versions against a few distinct
// ranges: a packument's engines (thousands of versions, a handful of distinct `engines.node`
// strings), a policy's ignored versions, a lockfile-only spec. Without it each test parses the
// range again, and a range may be a thousand characters long.
//
// Bounded: past kMaxEntries distinct ranges it parses each one on every call, as before. Not
// thread-safe: one per planner, whose engines versions and packuments stay the same.
#ifndef OVVOC_AGENT_NPM_RANGE_CACHE_H_
#define OVVOC_AGENT_NPM_RANGE_CACHE_H_

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/npm/semver.h"

namespace ovvoc::agent::npm {

class RangeCache {
 public:
  static constexpr size_t kMaxEntries = 4096;

  // satisfies(version, range, options) where npm's throwing or an invalid range is false.
  bool Satisfies(absl::string_view version, absl::string_view range, const Options& options);

  size_t size() const { return ranges_.size(); }

  // A verdict remembered by what it is about (a packument version, for its engines): each
  // version's engines are tested once however often a plan asks. Past kMaxVerdicts, `compute`
  // runs every time. `key` must outlive the cache.
  static constexpr size_t kMaxVerdicts = 4'000'000;
  template <typename Compute>
  bool Remember(const void* key, Compute compute) {
    if (auto it = verdicts_.find(key); it != verdicts_.end()) return it->second;
    const bool verdict = compute();
    if (verdicts_.size() < kMaxVerdicts) verdicts_.emplace(key, verdict);
    return verdict;
  }

 private:
  absl::flat_hash_map<std::string, absl::StatusOr<Range>> ranges_;
  absl::flat_hash_map<const void*, bool> verdicts_;
};

// The cache when there is one, else a parse per call.
bool SatisfiesWith(RangeCache* cache, absl::string_view version, absl::string_view range,
                   const Options& options);

}  // namespace ovvoc::agent::npm

#endif  // OVVOC_AGENT_NPM_RANGE_CACHE_H_
