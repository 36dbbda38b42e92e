// Subresource Integrity, as npm writes it in lockfiles and packuments ("sha512-<base64>", or
// several space-separated hashes of which the strongest counts). What a tarball's bytes are
// checked against before the agent keeps or serves them. Pure functions, thread-safe.
#ifndef OVVOC_AGENT_REGISTRY_INTEGRITY_H_
#define OVVOC_AGENT_REGISTRY_INTEGRITY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ovvoc::agent::registry {

struct Integrity {
  std::string algorithm;  // "sha512", "sha384", "sha256" or "sha1"
  std::string digest;     // raw bytes, of the algorithm's length

  // "sha512-<base64>", as npm writes it.
  std::string ToString() const;
  // "sha512-<hex>": a file name that names the content.
  std::string Key() const;
  bool operator==(const Integrity& other) const = default;
};

// The strongest well-formed hash of `sri`; hashes of unknown algorithms are skipped, as npm's
// ssri does. InvalidArgument when none is usable.
absl::StatusOr<Integrity> ParseIntegrity(absl::string_view sri);

// Hashes data as it streams past, with `expected`'s algorithm.
class IntegrityHasher {
 public:
  explicit IntegrityHasher(const Integrity& expected);
  ~IntegrityHasher();
  IntegrityHasher(const IntegrityHasher&) = delete;
  IntegrityHasher& operator=(const IntegrityHasher&) = delete;

  void Update(absl::string_view data);
  // OK when what went through Update() has `expected`'s digest; else DataLoss naming both.
  absl::Status Verify();

 private:
  struct State;
  const Integrity expected_;
  std::unique_ptr<State> state_;
};

// OK when `data` matches `expected`; DataLoss naming both digests otherwise.
absl::Status VerifyIntegrity(const Integrity& expected, absl::string_view data);

}  // namespace ovvoc::agent::registry

#endif  // OVVOC_AGENT_REGISTRY_INTEGRITY_H_
