// Verifying a regenerated lockfile against the old one (agent/npm/lockfile_diff.h).
#include "agent/npm/lockfile_diff.h"

#include <algorithm>
#include <optional>
#include <set>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/inert.h"
#include "common/status_macros.h"

namespace ovvoc::agent::npm {
namespace {

constexpr int32_t kNone = -1;
// How many directories up a package outside node_modules looks for the one that encloses it (a
// workspace inside another): real ones are two or three deep.
constexpr int kMaxEnclosingWalk = 32;

std::string Quote(absl::string_view text) { return InertLine(text, kMaxDiffQuotedBytes); }

absl::Status TooCostly() {
  return absl::ResourceExhaustedError(
      absl::StrCat("the new lockfile takes more than ", kMaxVerifyWork,
                   " lookups to verify (real ones take a few million at most): refused"));
}

// The lookups one verification may make; each costs one, plus one per 64 bytes it hashes.
class Budget {
 public:
  bool Spend(size_t bytes) {
    const uint64_t cost = 1 + bytes / 64;
    if (cost > left_) {
      left_ = 0;
      exhausted_ = true;
      return false;
    }
    left_ -= cost;
    return true;
  }
  bool exhausted() const { return exhausted_; }

 private:
  uint64_t left_ = kMaxVerifyWork;
  bool exhausted_ = false;
};

// Where a key sits in a node_modules folder: "node_modules/a/node_modules/@s/b" is "@s/b" in the
// folder of "node_modules/a" (dir "" for the root's). Nullopt for a key outside every
// node_modules folder ("packages/a", "../lib") or not naming one package in it.
struct Place {
  absl::string_view dir;
  absl::string_view name;
};

std::optional<Place> PlaceOf(absl::string_view key) {
  size_t at = key.rfind("node_modules/");
  while (at != absl::string_view::npos && at != 0 && key[at - 1] != '/') {
    at = key.rfind("node_modules/", at - 1);
  }
  if (at == absl::string_view::npos) return std::nullopt;
  const absl::string_view name = key.substr(at + 13);
  const size_t slash = name.find('/');
  const bool scoped = absl::StartsWith(name, "@") && slash != absl::string_view::npos &&
                      slash > 1 && slash + 1 < name.size() &&
                      name.find('/', slash + 1) == absl::string_view::npos;
  if (name.empty() || (slash != absl::string_view::npos && !scoped)) return std::nullopt;
  return Place{at == 0 ? absl::string_view() : key.substr(0, at - 1), name};
}

// Ids of entries' identities, shared by both lockfiles: the same id, the same package. Each
// entry is hashed once, so this is linear in the lockfiles' sizes however they repeat values.
class Identities {
 public:
  int32_t Intern(const LockedEntry& entry) {
    std::vector<absl::string_view> names;
    // Entries outside node_modules (members, link targets) take their dependency maps from the
    // manifests, which the update edited.
    if (PlaceOf(entry.key)) names.assign(entry.dependencies.begin(), entry.dependencies.end());
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    const int32_t next = static_cast<int32_t>(ids_.size());
    return ids_.try_emplace(Key{&entry, std::move(names)}, next).first->second;
  }

 private:
  struct Key {
    const LockedEntry* entry;
    std::vector<absl::string_view> names;  // sorted, unique
  };
  struct KeyHash {
    size_t operator()(const Key& k) const {
      const LockedEntry& e = *k.entry;
      return absl::HashOf(e.name, e.version, e.resolved, e.integrity, e.link, e.has_install_script,
                          k.names);
    }
  };
  struct KeyEq {
    bool operator()(const Key& a, const Key& b) const {
      const LockedEntry& x = *a.entry;
      const LockedEntry& y = *b.entry;
      return x.name == y.name && x.version == y.version && x.resolved == y.resolved &&
             x.integrity == y.integrity && x.link == y.link &&
             x.has_install_script == y.has_install_script && a.names == b.names;
    }
  };
  absl::flat_hash_map<Key, int32_t, KeyHash, KeyEq> ids_;
};

// One lockfile, indexed for npm's node_modules lookup. Nodes 0..size()-1 are its packages,
// node size() is the project root. Every lookup spends from the shared budget; once it is
// spent, lookups find nothing and the caller refuses the lockfile.
class Tree {
 public:
  Tree(const Lockfile& lock, const std::vector<std::string>& root_names, Identities& identities,
       Budget& budget)
      : lock_(lock),
        root_names_(root_names),
        budget_(budget),
        n_(static_cast<int32_t>(lock.packages.size())) {
    by_key_.reserve(lock.packages.size());
    identity_.reserve(lock.packages.size());
    for (int32_t i = 0; i < n_; ++i) {
      by_key_.try_emplace(lock.packages[i].key, i);
      identity_.push_back(identities.Intern(lock.packages[i]));
    }
    parent_.assign(n_ + 1, kNone);
    for (int32_t i = 0; i < n_; ++i) Attach(i);
  }

  const std::string& path() const { return lock_.path; }
  int32_t size() const { return n_; }
  int32_t root() const { return n_; }
  const LockedEntry& entry(int32_t node) const { return lock_.packages[node]; }
  int32_t identity(int32_t node) const { return identity_[node]; }

  int32_t Find(absl::string_view key) const {
    if (!budget_.Spend(key.size())) return kNone;
    auto it = by_key_.find(key);
    return it == by_key_.end() ? kNone : it->second;
  }

  absl::Span<const std::string> Edges(int32_t node) const {
    return node == n_ ? absl::MakeConstSpan(root_names_)
                      : absl::MakeConstSpan(lock_.packages[node].dependencies);
  }

  // What `name` means to `from`, as arborist's Node.resolve(): its own node_modules, then its
  // parent's (or, outside node_modules, the enclosing package's), up to the root's.
  int32_t Resolve(int32_t from, absl::string_view name) const {
    for (int32_t at = from; at != kNone; at = parent_[at]) {
      if (!budget_.Spend(name.size())) return kNone;
      auto it = children_.find(std::make_pair(at, name));
      if (it != children_.end()) return it->second;
    }
    return kNone;
  }

  // A link's target (kNone when the lockfile lacks it); any other node itself.
  int32_t Target(int32_t node) const {
    if (node == kNone || node == n_ || !entry(node).link) return node;
    return Find(entry(node).resolved);
  }

 private:
  // Files entry `i` under its folder's package, as arborist's Node does from its path: a
  // package in a node_modules folder is the child of the package owning the folder; any other
  // (a workspace member, a link's target, an entry whose folder's owner is missing) lives in
  // the nearest enclosing package's directory, or the root's, and resolves from there.
  void Attach(int32_t i) {
    const absl::string_view key = entry(i).key;
    if (std::optional<Place> place = PlaceOf(key)) {
      const int32_t owner = place->dir.empty() ? root() : Find(place->dir);
      if (owner != kNone) {
        parent_[i] = owner;
        children_.try_emplace(std::make_pair(owner, place->name), i);
        return;
      }
    }
    absl::string_view dir = key;
    for (int level = 0; level < kMaxEnclosingWalk; ++level) {
      const size_t slash = dir.rfind('/');
      if (slash == absl::string_view::npos) break;
      dir = dir.substr(0, slash);
      if (const int32_t enclosing = Find(dir); enclosing != kNone) {
        parent_[i] = enclosing;
        return;
      }
    }
    // A link's target outside the project ("../lib") has no package above it.
    const bool outside = absl::StartsWith(key, "../") || absl::StartsWith(key, "/") || key == "..";
    parent_[i] = outside ? kNone : root();
  }

  const Lockfile& lock_;
  const std::vector<std::string>& root_names_;
  Budget& budget_;
  const int32_t n_;
  absl::flat_hash_map<absl::string_view, int32_t> by_key_;
  std::vector<int32_t> identity_;
  std::vector<int32_t> parent_;  // per node; the root's is kNone
  absl::flat_hash_map<std::pair<int32_t, absl::string_view>, int32_t> children_;
};

std::string ManifestOf(const IntendedUpdate& update) {
  return update.manifest_dir.empty() ? "package.json"
                                     : absl::StrCat(update.manifest_dir, "/package.json");
}

// The entry `update`'s dependency resolves to from its manifest's directory; kNone when none.
int32_t UpdatedEntry(const Tree& tree, const IntendedUpdate& update) {
  int32_t from = tree.root();
  if (!update.manifest_dir.empty()) {
    const int32_t member = tree.Find(update.manifest_dir);
    if (member != kNone) {
      from = member;
    } else if (const int32_t own =
                   tree.Find(absl::StrCat(update.manifest_dir, "/node_modules/", update.name));
               own != kNone) {
      return own;
    }
  }
  return tree.Resolve(from, update.name);
}

absl::Status CheckUpdates(const Tree& after, const std::vector<IntendedUpdate>& updates) {
  for (const IntendedUpdate& update : updates) {
    const int32_t at = after.Target(UpdatedEntry(after, update));
    if (at == kNone) {
      return absl::FailedPreconditionError(absl::StrCat(Quote(update.name), " (",
                                                        Quote(ManifestOf(update)),
                                                        ") is not in the new ", after.path()));
    }
    const LockedEntry& e = after.entry(at);
    if (e.version != update.to_version) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the new ", after.path(), " holds ", Quote(update.name), " (", Quote(ManifestOf(update)),
          ") at ", Quote(e.version), " (", Quote(e.key), "), not ", Quote(update.to_version)));
    }
  }
  return absl::OkStatus();
}

// Every entry reachable from an updated dependency's, as a flag per package.
std::vector<char> Reachable(const Tree& tree, const std::vector<IntendedUpdate>& updates) {
  std::vector<char> seen(tree.size() + 1, 0);
  std::vector<int32_t> queue;
  auto visit = [&](int32_t node) {
    while (node != kNone && !seen[node]) {  // a link, then its target
      seen[node] = 1;
      queue.push_back(node);
      const int32_t target = tree.Target(node);
      node = target == node ? kNone : target;
    }
  };
  for (const IntendedUpdate& update : updates) visit(UpdatedEntry(tree, update));
  for (size_t next = 0; next < queue.size(); ++next) {
    for (const std::string& name : tree.Edges(queue[next])) {
      visit(tree.Resolve(queue[next], name));
    }
  }
  seen.resize(tree.size());
  return seen;
}

// One lockfile seen against the other.
struct Side {
  const Tree& self;
  const Tree& other;
  std::vector<int32_t> counterpart;  // per package: the other's at the same key, or kNone
  std::vector<char> differs;         // no counterpart, or one of another identity
  std::vector<char> reachable;       // from an updated dependency
};

Side MakeSide(const Tree& self, const Tree& other, const std::vector<IntendedUpdate>& updates) {
  Side side{self, other, {}, {}, Reachable(self, updates)};
  side.counterpart.resize(self.size());
  side.differs.resize(self.size());
  for (int32_t i = 0; i < self.size(); ++i) {
    const int32_t there = other.Find(self.entry(i).key);
    side.counterpart[i] = there;
    side.differs[i] = there == kNone || other.identity(there) != self.identity(i);
  }
  return side;
}

bool GitOrFile(absl::string_view spec) {
  for (absl::string_view prefix :
       {"file:", "git+", "git:", "git@", "github:", "gitlab:", "bitbucket:", "gist:"}) {
    if (absl::StartsWith(spec, prefix)) return true;
  }
  return false;
}

// The old lockfile already leaves `resolved` out of registry entries
// (omit-lockfile-registry-resolved): new ones may too, their integrity still pins them.
bool OmitsResolved(const Lockfile& lock) {
  return std::any_of(lock.packages.begin(), lock.packages.end(), [](const LockedEntry& e) {
    return !e.link && !e.in_bundle && e.resolved.empty() && !e.integrity.empty();
  });
}

// No registry package of the new lockfile lacks what pins it.
absl::Status CheckPinned(const Side& after, bool omits_resolved) {
  for (int32_t i = 0; i < after.self.size(); ++i) {
    const LockedEntry& e = after.self.entry(i);
    // Links, bundled packages and what lives outside node_modules (workspace members, a
    // link's target) come from no registry.
    if (e.link || e.in_bundle || !PlaceOf(e.key)) continue;
    const int32_t was = after.counterpart[i];
    const bool pinned_before = was != kNone && !after.other.entry(was).resolved.empty() &&
                               !after.other.entry(was).integrity.empty();
    const bool fresh = after.differs[i] && !GitOrFile(e.resolved) && !GitOrFile(e.version);
    if (!pinned_before && !fresh) continue;
    const bool needs_resolved = pinned_before || !omits_resolved;
    if (e.integrity.empty() || (needs_resolved && e.resolved.empty())) {
      return absl::FailedPreconditionError(
          absl::StrCat(Quote(e.key), " (", Quote(e.name), "@", Quote(e.version), ") has no ",
                       e.integrity.empty() ? "integrity" : "resolved", " in the new ",
                       after.self.path(), ": the lockfile would no longer pin what npm installs"));
    }
  }
  return absl::OkStatus();
}

// Who depends on a package: `from` (a node of the same lockfile) resolves `name` to `of`.
struct Dependent {
  int32_t of;
  int32_t from;
  absl::string_view name;
};

// The dependents of every candidate, sorted by the candidate: one lookup of every edge.
std::vector<Dependent> DependentsOf(const Tree& tree, const std::vector<char>& candidate) {
  std::vector<Dependent> dependents;
  for (int32_t from = 0; from <= tree.size(); ++from) {
    for (const std::string& name : tree.Edges(from)) {
      const int32_t of = tree.Resolve(from, name);
      if (of != kNone && candidate[of]) dependents.push_back(Dependent{of, from, name});
    }
  }
  std::sort(dependents.begin(), dependents.end(),
            [](const Dependent& a, const Dependent& b) { return a.of < b.of; });
  return dependents;
}

// The entries of `side` that differ and that the update does not explain (see the header): not
// reachable, and not a move. A candidate is a move when it has dependents and each resolves the
// same name, in the other lockfile, to a package of the same identity; a dependent that differs
// itself (a candidate too, since a reachable one would make this one reachable) is waited for.
// Explained is the least fixed point, so no cycle of candidates explains itself.
std::vector<char> Unexplained(const Side& side) {
  const Tree& self = side.self;
  const int32_t n = self.size();
  std::vector<char> candidate(n + 1, 0);
  bool any = false;
  for (int32_t i = 0; i < n; ++i) {
    candidate[i] = side.differs[i] && !side.reachable[i];
    any = any || candidate[i];
  }
  candidate.resize(n);
  if (!any) return candidate;
  const std::vector<Dependent> dependents = DependentsOf(self, candidate);
  std::vector<char> failed(n, 0);
  std::vector<int32_t> pending(n, 0);
  std::vector<std::vector<int32_t>> waiting(n);  // by a differing dependent: who waits for it
  std::vector<int32_t> ready;
  size_t next = 0;
  for (int32_t of = 0; of < n; ++of) {
    if (!candidate[of]) continue;
    failed[of] = next == dependents.size() || dependents[next].of != of;  // none depends on it
    for (; next < dependents.size() && dependents[next].of == of; ++next) {
      const Dependent& d = dependents[next];
      if (d.from != n && side.differs[d.from]) {
        if (candidate[d.from]) {
          waiting[d.from].push_back(of);
          ++pending[of];
        }
        continue;
      }
      const int32_t from = d.from == n ? side.other.root() : side.counterpart[d.from];
      const int32_t there = side.other.Resolve(from, d.name);
      failed[of] = failed[of] || there == kNone || side.other.identity(there) != self.identity(of);
    }
    if (!failed[of] && pending[of] == 0) ready.push_back(of);
  }
  while (!ready.empty()) {
    const int32_t done = ready.back();
    ready.pop_back();
    candidate[done] = 0;  // explained
    for (int32_t waiter : waiting[done]) {
      if (!failed[waiter] && --pending[waiter] == 0) ready.push_back(waiter);
    }
  }
  return candidate;
}

// The root's dependency names: the "" entries' (either lockfile's, since the new one is
// untrusted and the manifests' names did not change); v1 does not say, so every package at the
// top of the old lockfile.
std::vector<std::string> RootNames(const Lockfile& before, const Lockfile& after) {
  std::vector<std::string> names;
  if (before.lockfile_version >= 2) {
    names = before.root_dependencies;
    names.insert(names.end(), after.root_dependencies.begin(), after.root_dependencies.end());
  } else {
    for (const LockedEntry& e : before.packages) {
      std::optional<Place> place = PlaceOf(e.key);
      if (place && place->dir.empty()) names.emplace_back(place->name);
    }
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

// Sorts and dedupes `all`, keeps the first kMaxDiffListed quoted in `listed`, counts them.
template <typename T>
void List(std::vector<T> all, std::vector<std::string>& listed, uint32_t& total) {
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  total = static_cast<uint32_t>(all.size());
  for (size_t i = 0; i < all.size() && i < kMaxDiffListed; ++i) listed.push_back(Quote(all[i]));
}

LockfileDiff Summarize(const Side& old_side, const Side& new_side,
                       const std::vector<char>& gone_unexplained,
                       const std::vector<char>& come_unexplained) {
  LockfileDiff diff;
  std::vector<std::string> scripts;
  std::vector<absl::string_view> outside;
  for (int32_t i = 0; i < new_side.self.size(); ++i) {
    const LockedEntry& e = new_side.self.entry(i);
    if (new_side.counterpart[i] == kNone) {
      ++diff.added;
    } else if (new_side.differs[i]) {
      ++diff.changed;
    }
    if (new_side.differs[i] && e.has_install_script) {
      scripts.push_back(absl::StrCat(e.name, "@", e.version));
    }
    if (come_unexplained[i]) outside.push_back(e.key);
  }
  for (int32_t i = 0; i < old_side.self.size(); ++i) {
    if (old_side.counterpart[i] == kNone) ++diff.removed;
    if (gone_unexplained[i]) outside.push_back(old_side.self.entry(i).key);
  }
  List(std::move(scripts), diff.added_with_install_scripts, diff.install_scripts_total);
  List(std::move(outside), diff.outside, diff.outside_total);
  return diff;
}

}  // namespace

absl::StatusOr<LockfileDiff> VerifyLockfile(const Lockfile& before, const Lockfile& after,
                                            const std::vector<IntendedUpdate>& updates) {
  for (const IntendedUpdate& update : updates) {
    if (update.name.empty() || update.to_version.empty()) {
      return absl::InvalidArgumentError("an intended update needs a name and a version");
    }
  }
  if (after.lockfile_version != before.lockfile_version) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the new ", after.path, " has lockfileVersion ", after.lockfile_version, " where ",
        before.path, " had ", before.lockfile_version, ": npm must keep the format"));
  }
  Budget budget;
  Identities identities;
  const std::vector<std::string> root_names = RootNames(before, after);
  const Tree old_tree(before, root_names, identities, budget);
  const Tree new_tree(after, root_names, identities, budget);
  const absl::Status updated = CheckUpdates(new_tree, updates);
  if (budget.exhausted()) return TooCostly();
  OVVOC_RETURN_IF_ERROR(updated);
  const Side old_side = MakeSide(old_tree, new_tree, updates);
  const Side new_side = MakeSide(new_tree, old_tree, updates);
  if (budget.exhausted()) return TooCostly();
  OVVOC_RETURN_IF_ERROR(CheckPinned(new_side, OmitsResolved(before)));
  const std::vector<char> gone = Unexplained(old_side);
  const std::vector<char> come = Unexplained(new_side);
  if (budget.exhausted()) return TooCostly();
  return Summarize(old_side, new_side, gone, come);
}

absl::Status CheckIntendedVersions(const Lockfile& before, const Lockfile& after,
                                   const std::vector<IntendedUpdate>& updates) {
  Budget budget;
  Identities identities;
  const Tree tree(after, RootNames(before, after), identities, budget);
  const absl::Status updated = CheckUpdates(tree, updates);
  if (budget.exhausted()) return TooCostly();
  return updated;
}

namespace {

bool SameIdentity(const LockedEntry& a, const LockedEntry& b) {
  return a.name == b.name && a.version == b.version && a.resolved == b.resolved &&
         a.integrity == b.integrity && a.link == b.link &&
         a.has_install_script == b.has_install_script;
}

}  // namespace

std::set<std::string> DifferingKeys(const Lockfile& before, const Lockfile& after) {
  absl::flat_hash_map<absl::string_view, const LockedEntry*> old_by_key;
  for (const LockedEntry& e : before.packages) old_by_key.emplace(e.key, &e);
  std::set<std::string> keys;
  for (const LockedEntry& e : after.packages) {
    auto old = old_by_key.find(e.key);
    if (old == old_by_key.end() || !SameIdentity(*old->second, e)) keys.insert(e.key);
    if (old != old_by_key.end()) old_by_key.erase(old);
  }
  for (const auto& [key, _] : old_by_key) keys.emplace(key);
  return keys;
}

std::vector<std::string> ScriptedDependentsOfChanges(const Lockfile& before,
                                                     const Lockfile& after) {
  const std::set<std::string> differing = DifferingKeys(before, after);
  // By name, as a node_modules lookup finds packages (conservative: every entry of a name counts
  // for each place it is required from): which names depend on which, and which changed.
  absl::flat_hash_map<absl::string_view, std::vector<absl::string_view>> dependents_of;
  for (const LockedEntry& e : after.packages) {
    for (const std::string& name : e.dependencies) dependents_of[name].push_back(e.name);
  }
  std::vector<absl::string_view> queue;
  absl::flat_hash_set<absl::string_view> reaches;  // changed, or depends on one at any depth
  for (const Lockfile* lock : {&before, &after}) {
    for (const LockedEntry& e : lock->packages) {
      if (differing.count(e.key) > 0 && reaches.insert(e.name).second) queue.push_back(e.name);
    }
  }
  while (!queue.empty()) {
    const absl::string_view name = queue.back();
    queue.pop_back();
    auto it = dependents_of.find(name);
    if (it == dependents_of.end()) continue;
    for (absl::string_view dependent : it->second) {
      if (reaches.insert(dependent).second) queue.push_back(dependent);
    }
  }
  std::vector<std::string> dependents;
  for (const LockedEntry& e : after.packages) {
    if (!e.has_install_script || differing.count(e.key) > 0) continue;  // npm runs its scripts
    for (const std::string& name : e.dependencies) {
      if (reaches.contains(name)) {
        dependents.push_back(e.key);
        break;
      }
    }
  }
  return dependents;  // in `after`'s order
}

}  // namespace ovvoc::agent::npm
