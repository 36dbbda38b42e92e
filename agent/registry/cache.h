// RegistryCache: the agent's one cache of registry content, in its state dir and shared by
// every job it runs. It is never mounted into a container, so no job can write to it; what it
// holds was fetched by the agent itself:
//   tarballs/<algo>-<hex>.tgz   content-addressed by integrity, written only once the bytes
//                               matched it: a registry serving forged bytes adds nothing;
//                               hashed again when first read by a later process
//   packuments/<hex>.json       a packument (one URL and Accept), with the validators and the
//                               time it was fetched
// Size-capped: the least recently used entries go first once the cap is passed.
//
// Thread-safety: every method may be called from any thread. Files are written under a
// temporary name and renamed, so a reader sees a whole entry or none.
#ifndef OVVOC_AGENT_REGISTRY_CACHE_H_
#define OVVOC_AGENT_REGISTRY_CACHE_H_

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/registry/integrity.h"
#include "common/http.h"
#include "common/unique_fd.h"

namespace ovvoc::agent::registry {

struct CachedPackument {
  std::string body;
  std::string content_type;
  std::string etag;           // "" when the registry sent none
  std::string last_modified;  // "" when the registry sent none
  absl::Time fetched;
};

class RegistryCache {
 public:
  // Opens (creating, 0700) the cache in `dir`, removing half-written files a crash left.
  static absl::StatusOr<std::unique_ptr<RegistryCache>> Open(const std::string& dir,
                                                             uint64_t max_bytes);

  // Tarballs live in scopes: "" for what anyone may read, else one per credential
  // (RegistryEndpoint::CacheScope()), so that what one credential fetched is never served to a
  // job without it.
  //
  // The tarball with this integrity, opened for reading; NotFound when it is not cached.
  absl::StatusOr<UniqueFd> OpenTarball(absl::string_view scope, const Integrity& integrity)
      ABSL_LOCKS_EXCLUDED(mu_);
  bool HasTarball(absl::string_view scope, const Integrity& integrity) ABSL_LOCKS_EXCLUDED(mu_);
  // Keeps `bytes` if they match `integrity`; DataLoss (and nothing kept) if they do not.
  absl::Status PutTarball(absl::string_view scope, const Integrity& integrity,
                          absl::string_view bytes) ABSL_LOCKS_EXCLUDED(mu_);

  // A tarball written as it arrives (an http::BodySink), hashed on the way, and kept by
  // Commit() only if it matched its integrity. Dropped, it leaves nothing. One thread at a time.
  class TarballWriter final : public http::BodySink {
   public:
    ~TarballWriter() override;
    absl::Status Restart() override;
    absl::Status Write(absl::string_view bytes) override;
    // DataLoss (and nothing kept) when the bytes do not match.
    absl::Status Commit();

   private:
    friend class RegistryCache;
    TarballWriter(RegistryCache& cache, std::string name, std::string tmp, UniqueFd fd,
                  const Integrity& integrity);
    RegistryCache& cache_;
    const std::string name_;  // relative to the cache's dir
    const std::string tmp_;   // absolute; "" once committed
    UniqueFd fd_;
    const Integrity integrity_;
    std::unique_ptr<IntegrityHasher> hasher_;
    uint64_t size_ = 0;
  };
  absl::StatusOr<std::unique_ptr<TarballWriter>> NewTarball(absl::string_view scope,
                                                            const Integrity& integrity);

  // `key` names the request (URL, Accept and credential scope); any text.
  std::optional<CachedPackument> GetPackument(absl::string_view key) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status PutPackument(absl::string_view key, const CachedPackument& packument)
      ABSL_LOCKS_EXCLUDED(mu_);

  // A cached packument to stream, not to hold: its file, positioned at the body.
  struct PackumentFile {
    UniqueFd fd;
    uint64_t size = 0;  // of the body
    std::string content_type;
  };
  absl::StatusOr<PackumentFile> OpenPackument(absl::string_view key) ABSL_LOCKS_EXCLUDED(mu_);

  uint64_t bytes() const ABSL_LOCKS_EXCLUDED(mu_);
  const std::string& dir() const { return dir_; }

 private:
  struct Entry {
    uint64_t size = 0;
    bool checked = false;  // this process wrote it or hashed it since (tarballs)
    std::list<std::string>::iterator lru;  // into lru_, most recent first
  };

  RegistryCache(std::string dir, uint64_t max_bytes)
      : dir_(std::move(dir)), max_bytes_(max_bytes) {}

  absl::Status Scan() ABSL_LOCKS_EXCLUDED(mu_);
  // Writes `content` as `name` (relative to dir_) and accounts for it.
  absl::Status Store(const std::string& name, absl::string_view content) ABSL_LOCKS_EXCLUDED(mu_);
  // Accounts for `name`, just renamed into place with `size` bytes.
  void Stored(const std::string& name, uint64_t size, bool checked) ABSL_LOCKS_EXCLUDED(mu_);
  void Touch(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Add(const std::string& name, uint64_t size) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Forget(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EvictLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Immutable after construction.
  const std::string dir_;
  const uint64_t max_bytes_;

  mutable absl::Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::list<std::string> lru_ ABSL_GUARDED_BY(mu_);
  uint64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace ovvoc::agent::registry

#endif  // OVVOC_AGENT_REGISTRY_CACHE_H_
