#include "agent/npm/typosquat.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "agent/npm/popular_packages.h"  // generated from agent/npm/data/popular_packages.txt

namespace ovvoc::agent::npm {
namespace {

// ---- Names ----

struct NameParts {
  absl::string_view scope;  // "@babel" for "@babel/core"; empty when unscoped
  absl::string_view bare;   // "core"
};

NameParts Split(absl::string_view name) {
  if (absl::StartsWith(name, "@")) {
    size_t slash = name.find('/');
    if (slash != absl::string_view::npos) return {name.substr(0, slash), name.substr(slash + 1)};
  }
  return {{}, name};
}

// Whether `name` takes part at all (the length rules in the header).
bool Comparable(absl::string_view name) {
  if (name.size() > kMaxPackageNameLength) return false;
  NameParts parts = Split(name);
  size_t distinct = parts.scope.empty() ? name.size() : parts.scope.size() - 1;  // less the '@'
  return distinct >= kMinTyposquatLength;
}

bool SameScope(absl::string_view a, absl::string_view b) {
  absl::string_view scope = Split(a).scope;
  return !scope.empty() && scope == Split(b).scope;
}

// ---- Hashes of a name and of its one-deletion variants ----

// A polynomial hash under two prime moduli, so that the hash of "ab" + "cd" is computed from the
// prefix's and the suffix's without copying: h(p + s) = h(p) * kBase^|s| + h(s). Equal strings
// hash equal wherever the deleted byte was; unequal ones rarely collide, and a collision only
// adds a candidate that OneEditApart() then rejects.
constexpr uint64_t kMod1 = 1'000'000'007;
constexpr uint64_t kMod2 = 998'244'353;
constexpr uint64_t kBase = 257;

struct PolyHash {
  uint64_t h1 = 0, h2 = 0;
  PolyHash Append(unsigned char c) const {
    return {(h1 * kBase + c) % kMod1, (h2 * kBase + c) % kMod2};
  }
  uint64_t Key() const { return h1 << 32 | h2; }
};

// Powers of kBase up to the longest name compared.
const std::vector<PolyHash>& Powers() {
  static const std::vector<PolyHash>* const powers = [] {
    auto* p = new std::vector<PolyHash>{{1, 1}};
    while (p->size() <= kMaxPackageNameLength) p->push_back(p->back().Append(0));
    return p;
  }();
  return *powers;
}

// h(prefix + suffix) from h(prefix), h(suffix) and |suffix|.
uint64_t Concat(PolyHash prefix, PolyHash suffix, size_t suffix_size) {
  const PolyHash& power = Powers()[suffix_size];
  return PolyHash{(prefix.h1 * power.h1 + suffix.h1) % kMod1,
                  (prefix.h2 * power.h2 + suffix.h2) % kMod2}
      .Key();
}

// Keys of `name` and of `name` with each one byte removed, sorted, unique. O(|name|); `name` is
// Comparable, so no longer than Powers() reaches.
std::vector<uint64_t> VariantKeys(absl::string_view name) {
  const size_t n = name.size();
  // prefix[i] hashes name[0, i); suffix[i], name[i, n).
  std::vector<PolyHash> prefix(n + 1), suffix(n + 1);
  for (size_t i = 0; i < n; ++i) prefix[i + 1] = prefix[i].Append(name[i]);
  for (size_t i = n; i > 0; --i) {
    const PolyHash& power = Powers()[n - i];
    suffix[i - 1] = {(static_cast<unsigned char>(name[i - 1]) * power.h1 + suffix[i].h1) % kMod1,
                     (static_cast<unsigned char>(name[i - 1]) * power.h2 + suffix[i].h2) % kMod2};
  }
  std::vector<uint64_t> keys;
  keys.reserve(n + 1);
  keys.push_back(prefix[n].Key());
  for (size_t i = 0; i < n; ++i) keys.push_back(Concat(prefix[i], suffix[i + 1], n - i - 1));
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

// ---- One side's names, indexed by variant ----

class NeighbourIndex {
 public:
  explicit NeighbourIndex(const std::vector<std::string>& names) {
    for (const std::string& name : names) {
      all_.insert(name);
      if (Comparable(name)) names_.push_back(name);
    }
    std::sort(names_.begin(), names_.end());
    names_.erase(std::unique(names_.begin(), names_.end()), names_.end());
    for (uint32_t i = 0; i < names_.size(); ++i) {
      for (uint64_t key : VariantKeys(names_[i])) entries_.emplace_back(key, i);
    }
    std::sort(entries_.begin(), entries_.end());
  }

  bool Contains(absl::string_view name) const { return all_.contains(name); }

  // The smallest indexed name one edit from `name` and outside its scope. `name` is Comparable.
  std::optional<absl::string_view> Closest(absl::string_view name) const {
    std::vector<uint32_t> candidates;
    for (uint64_t key : VariantKeys(name)) {
      auto it = std::lower_bound(entries_.begin(), entries_.end(), std::make_pair(key, 0u));
      for (; it != entries_.end() && it->first == key; ++it) candidates.push_back(it->second);
    }
    std::sort(candidates.begin(), candidates.end());  // names_ is sorted: so are its indices
    candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
    for (uint32_t i : candidates) {
      if (OneEditApart(name, names_[i]) && !SameScope(name, names_[i])) return names_[i];
    }
    return std::nullopt;
  }

 private:
  absl::flat_hash_set<absl::string_view> all_;          // every name given, for Contains()
  std::vector<absl::string_view> names_;                // the Comparable ones, sorted, unique
  std::vector<std::pair<uint64_t, uint32_t>> entries_;  // (variant key, index in names_), sorted
};

std::vector<std::string> ParsePopularList(absl::string_view text) {
  std::vector<std::string> names;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!line.empty() && line[0] != '#') names.emplace_back(line);
  }
  return names;
}

const NeighbourIndex& PopularIndex() {
  static const NeighbourIndex* const index = new NeighbourIndex(PopularPackageNames());
  return *index;
}

}  // namespace

const std::vector<std::string>& PopularPackageNames() {
  static const std::vector<std::string>* const names =
      new std::vector<std::string>(ParsePopularList(kPopularPackagesText));
  return *names;
}

std::vector<TyposquatSuspect> FindTyposquatSuspects(const std::vector<std::string>& added,
                                                    const std::vector<std::string>& known) {
  std::vector<absl::string_view> names(added.begin(), added.end());
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());

  const NeighbourIndex& popular = PopularIndex();
  const NeighbourIndex repository(known);
  std::vector<TyposquatSuspect> suspects;
  for (absl::string_view name : names) {
    if (!Comparable(name) || repository.Contains(name) || popular.Contains(name)) continue;
    if (std::optional<absl::string_view> own = repository.Closest(name)) {
      suspects.push_back({std::string(name), std::string(*own), false});
    } else if (std::optional<absl::string_view> listed = popular.Closest(name)) {
      suspects.push_back({std::string(name), std::string(*listed), true});
    }
  }
  return suspects;
}

bool OneEditApart(absl::string_view a, absl::string_view b) {
  if (a.size() > b.size()) std::swap(a, b);
  if (b.size() - a.size() > 1) return false;
  size_t i = 0;
  while (i < a.size() && a[i] == b[i]) ++i;
  if (a.size() < b.size()) return a.substr(i) == b.substr(i + 1);     // one insertion
  if (i == a.size()) return false;                                    // equal
  if (a.substr(i + 1) == b.substr(i + 1)) return true;                // one substitution
  return i + 1 < a.size() && a[i] == b[i + 1] && a[i + 1] == b[i] &&  // one swap
         a.substr(i + 2) == b.substr(i + 2);
}

}  // namespace ovvoc::agent::npm
