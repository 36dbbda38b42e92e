#include "agent/registry/cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <utility>
#include <vector>

#include "absl/memory/memory.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace ovvoc::agent::registry {
namespace {

namespace fs = std::filesystem;

constexpr char kTarballs[] = "tarballs";
constexpr char kPackuments[] = "packuments";

std::string TarballName(absl::string_view scope, const Integrity& integrity) {
  return absl::StrCat(kTarballs, "/", scope, scope.empty() ? "" : "-", integrity.Key(), ".tgz");
}

std::string PackumentName(absl::string_view key) {
  return absl::StrCat(kPackuments, "/", crypto::HexEncode(crypto::Sha256(key)), ".json");
}

// A packument file: one line of JSON with what came with the body, then the body.
std::string EncodePackument(const CachedPackument& p) {
  nlohmann::json meta = {{"content_type", p.content_type},
                         {"etag", p.etag},
                         {"last_modified", p.last_modified},
                         {"fetched", absl::ToUnixMillis(p.fetched)}};
  // Replaced, not thrown on: the values come from a registry's headers.
  return absl::StrCat(meta.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "\n",
                      p.body);
}

std::optional<CachedPackument> DecodePackument(std::string file) {
  const size_t newline = file.find('\n');
  if (newline == std::string::npos) return std::nullopt;
  nlohmann::json meta = nlohmann::json::parse(file.substr(0, newline), nullptr, false);
  if (!meta.is_object()) return std::nullopt;
  auto text = [&meta](const char* key) {
    auto it = meta.find(key);
    return it != meta.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto fetched = meta.find("fetched");
  if (fetched == meta.end() || !fetched->is_number_integer()) return std::nullopt;
  CachedPackument p;
  p.content_type = text("content_type");
  p.etag = text("etag");
  p.last_modified = text("last_modified");
  p.fetched = absl::FromUnixMillis(fetched->get<int64_t>());
  file.erase(0, newline + 1);
  p.body = std::move(file);
  return p;
}

// Whether the file at `fd` hashes to `integrity`; leaves the offset at the start.
bool Matches(int fd, const Integrity& integrity) {
  IntegrityHasher hasher(integrity);
  char buffer[64 * 1024];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) break;
    hasher.Update(absl::string_view(buffer, static_cast<size_t>(n)));
  }
  return hasher.Verify().ok() && ::lseek(fd, 0, SEEK_SET) == 0;
}

// Writes under a fresh temporary name, then renames. No fsync: the cache is not a record, and
// what a crash leaves short fails the check on reading (tarballs) or parsing (packuments).
absl::Status WriteEntry(const std::string& path, absl::string_view content) {
  std::string tmp = absl::StrCat(path, ".tmp.XXXXXX");
  UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, absl::StrCat("cannot create ", tmp));
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      return absl::ErrnoToStatus(err, absl::StrCat("cannot write ", tmp));
    }
    done += static_cast<size_t>(n);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return absl::ErrnoToStatus(err, absl::StrCat("cannot rename ", tmp));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<RegistryCache>> RegistryCache::Open(const std::string& dir,
                                                                   uint64_t max_bytes) {
  for (const std::string& sub : {dir, dir + "/" + kTarballs, dir + "/" + kPackuments}) {
    OVVOC_RETURN_IF_ERROR(files::EnsureDir(sub, 0700));
  }
  auto cache = absl::WrapUnique(new RegistryCache(dir, max_bytes));
  OVVOC_RETURN_IF_ERROR(cache->Scan());
  return cache;
}

absl::Status RegistryCache::Scan() {
  struct Found {
    std::string name;
    uint64_t size;
    fs::file_time_type used;
  };
  std::vector<Found> found;
  for (const char* sub : {kTarballs, kPackuments}) {
    std::error_code ec;
    for (const fs::directory_entry& entry : fs::directory_iterator(dir_ + "/" + sub, ec)) {
      const std::string file = entry.path().filename().string();
      if (!entry.is_regular_file(ec) || absl::StrContains(file, ".tmp")) {
        fs::remove_all(entry.path(), ec);  // a crash's half-written file, or not ours
        continue;
      }
      found.push_back({absl::StrCat(sub, "/", file), entry.file_size(ec),
                       entry.last_write_time(ec)});
    }
    if (ec) return absl::InternalError(absl::StrCat("cannot read the cache ", dir_, ": ", ec.message()));
  }
  std::sort(found.begin(), found.end(),
            [](const Found& a, const Found& b) { return a.used < b.used; });
  absl::MutexLock lock(&mu_);
  for (const Found& f : found) Add(f.name, f.size);  // oldest first: the newest end up in front
  EvictLocked();
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> RegistryCache::OpenTarball(absl::string_view scope,
                                                    const Integrity& integrity) {
  const std::string name = TarballName(scope, integrity);
  bool checked = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(name);
    if (it == entries_.end()) return absl::NotFoundError(integrity.ToString());
    checked = it->second.checked;
    Touch(name);
  }
  // Checked once per process when first read: entries are written without fsync, so a crash
  // can leave one short. What this process wrote or already checked is not hashed again.
  UniqueFd fd(::open((dir_ + "/" + name).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.valid() && (checked || Matches(fd.get(), integrity))) {
    if (!checked) {
      absl::MutexLock lock(&mu_);
      if (auto it = entries_.find(name); it != entries_.end()) it->second.checked = true;
    }
    return fd;
  }
  log::Warning("registry cache: %s is missing or damaged; dropping it", name);
  absl::MutexLock lock(&mu_);
  Forget(name);
  ::unlink((dir_ + "/" + name).c_str());
  return absl::NotFoundError(integrity.ToString());
}

bool RegistryCache::HasTarball(absl::string_view scope, const Integrity& integrity) {
  absl::MutexLock lock(&mu_);
  return entries_.count(TarballName(scope, integrity)) > 0;
}

absl::Status RegistryCache::PutTarball(absl::string_view scope, const Integrity& integrity,
                                       absl::string_view bytes) {
  OVVOC_ASSIGN_OR_RETURN(std::unique_ptr<TarballWriter> writer, NewTarball(scope, integrity));
  OVVOC_RETURN_IF_ERROR(writer->Write(bytes));
  return writer->Commit();
}

absl::StatusOr<std::unique_ptr<RegistryCache::TarballWriter>> RegistryCache::NewTarball(
    absl::string_view scope, const Integrity& integrity) {
  std::string name = TarballName(scope, integrity);
  std::string tmp = absl::StrCat(dir_, "/", name, ".tmp.XXXXXX");
  UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, absl::StrCat("cannot create ", tmp));
  return absl::WrapUnique(
      new TarballWriter(*this, std::move(name), std::move(tmp), std::move(fd), integrity));
}

RegistryCache::TarballWriter::TarballWriter(RegistryCache& cache, std::string name,
                                            std::string tmp, UniqueFd fd,
                                            const Integrity& integrity)
    : cache_(cache),
      name_(std::move(name)),
      tmp_(std::move(tmp)),
      fd_(std::move(fd)),
      integrity_(integrity),
      hasher_(std::make_unique<IntegrityHasher>(integrity)) {}

RegistryCache::TarballWriter::~TarballWriter() {
  if (fd_.valid()) ::unlink(tmp_.c_str());
}

absl::Status RegistryCache::TarballWriter::Restart() {
  if (!fd_.valid()) return absl::FailedPreconditionError("the tarball was committed");
  if (::ftruncate(fd_.get(), 0) != 0 || ::lseek(fd_.get(), 0, SEEK_SET) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot truncate ", tmp_));
  }
  hasher_ = std::make_unique<IntegrityHasher>(integrity_);
  size_ = 0;
  return absl::OkStatus();
}

absl::Status RegistryCache::TarballWriter::Write(absl::string_view bytes) {
  if (!fd_.valid()) return absl::FailedPreconditionError("the tarball was committed");
  hasher_->Update(bytes);
  size_ += bytes.size();
  while (!bytes.empty()) {
    ssize_t n = ::write(fd_.get(), bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot write ", tmp_));
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status RegistryCache::TarballWriter::Commit() {
  if (!fd_.valid()) return absl::FailedPreconditionError("the tarball was committed");
  OVVOC_RETURN_IF_ERROR(hasher_->Verify());  // the destructor drops the bytes
  const std::string path = absl::StrCat(cache_.dir_, "/", name_);
  if (::rename(tmp_.c_str(), path.c_str()) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot rename ", tmp_));
  }
  fd_.reset();
  cache_.Stored(name_, size_, /*checked=*/true);
  return absl::OkStatus();
}

std::optional<CachedPackument> RegistryCache::GetPackument(absl::string_view key) {
  const std::string name = PackumentName(key);
  {
    absl::MutexLock lock(&mu_);
    if (entries_.count(name) == 0) return std::nullopt;
    Touch(name);
  }
  absl::StatusOr<std::string> file = files::ReadFile(dir_ + "/" + name);
  if (!file.ok()) return std::nullopt;
  return DecodePackument(*std::move(file));
}

absl::StatusOr<RegistryCache::PackumentFile> RegistryCache::OpenPackument(absl::string_view key) {
  const std::string name = PackumentName(key);
  {
    absl::MutexLock lock(&mu_);
    if (entries_.count(name) == 0) return absl::NotFoundError("not cached");
    Touch(name);
  }
  PackumentFile file;
  file.fd = UniqueFd(::open((dir_ + "/" + name).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!file.fd.valid()) return absl::NotFoundError("not cached");
  // The first line is what came with the body (EncodePackument); it is short.
  char head[4096];
  const ssize_t n = ::pread(file.fd.get(), head, sizeof(head), 0);
  const absl::string_view read(head, n > 0 ? static_cast<size_t>(n) : 0);
  const size_t newline = read.find('\n');
  struct stat st;
  if (newline == absl::string_view::npos || ::fstat(file.fd.get(), &st) != 0) {
    return absl::DataLossError("a damaged cache entry");
  }
  nlohmann::json meta = nlohmann::json::parse(read.substr(0, newline), nullptr, false);
  file.content_type = meta.is_object() ? meta.value("content_type", "application/json")
                                       : "application/json";
  file.size = static_cast<uint64_t>(st.st_size) - (newline + 1);
  if (::lseek(file.fd.get(), static_cast<off_t>(newline + 1), SEEK_SET) < 0) {
    return absl::DataLossError("a damaged cache entry");
  }
  return file;
}

absl::Status RegistryCache::PutPackument(absl::string_view key, const CachedPackument& packument) {
  return Store(PackumentName(key), EncodePackument(packument));
}

uint64_t RegistryCache::bytes() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

absl::Status RegistryCache::Store(const std::string& name, absl::string_view content) {
  OVVOC_RETURN_IF_ERROR(WriteEntry(dir_ + "/" + name, content));
  Stored(name, content.size(), /*checked=*/false);
  return absl::OkStatus();
}

void RegistryCache::Stored(const std::string& name, uint64_t size, bool checked) {
  absl::MutexLock lock(&mu_);
  Forget(name);
  Add(name, size);
  entries_[name].checked = checked;
  EvictLocked();
}

void RegistryCache::Touch(const std::string& name) {
  auto it = entries_.find(name);
  if (it == entries_.end()) return;
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  // The order survives a restart: Scan() sorts by modification time.
  const timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
  ::utimensat(AT_FDCWD, (dir_ + "/" + name).c_str(), now, AT_SYMLINK_NOFOLLOW);
}

void RegistryCache::Add(const std::string& name, uint64_t size) {
  lru_.push_front(name);
  entries_[name] = Entry{size, false, lru_.begin()};
  bytes_ += size;
}

void RegistryCache::Forget(const std::string& name) {
  auto it = entries_.find(name);
  if (it == entries_.end()) return;
  bytes_ -= it->second.size;
  lru_.erase(it->second.lru);
  entries_.erase(it);
}

void RegistryCache::EvictLocked() {
  // The newest entry stays even when it alone is over the cap: it is in use.
  while (bytes_ > max_bytes_ && lru_.size() > 1) {
    const std::string name = lru_.back();
    Forget(name);
    if (::unlink((dir_ + "/" + name).c_str()) != 0 && errno != ENOENT) {
      log::Warning("registry cache: cannot remove %s/%s", dir_, name);
    }
  }
}

}  // namespace ovvoc::agent::registry
