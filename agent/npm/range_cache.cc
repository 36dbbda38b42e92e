#include "agent/npm/range_cache.h"

#include "absl/strings/str_cat.h"

namespace ovvoc::agent::npm {

bool RangeCache::Satisfies(absl::string_view version, absl::string_view range,
                           const Options& options) {
  // The options are part of the key: a range parses differently with each.
  const std::string key =
      absl::StrCat(options.loose ? "l" : "-", options.include_prerelease ? "p" : "-", range);
  auto it = ranges_.find(key);
  if (it == ranges_.end()) {
    if (ranges_.size() >= kMaxEntries) return SatisfiesWith(nullptr, version, range, options);
    it = ranges_.emplace(key, Range::Parse(range, options)).first;
  }
  if (!it->second.ok()) return false;
  absl::StatusOr<bool> ok = it->second->Test(version);
  return ok.ok() && *ok;
}

bool SatisfiesWith(RangeCache* cache, absl::string_view version, absl::string_view range,
                   const Options& options) {
  if (cache != nullptr) return cache->Satisfies(version, range, options);
  absl::StatusOr<bool> ok = npm::Satisfies(version, range, options);
  return ok.ok() && *ok;
}

}  // namespace ovvoc::agent::npm
