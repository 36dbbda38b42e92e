// Small cryptographic primitives over OpenSSL: randomness, hashes, MACs, encodings and a
// constant-time compare. Stateless and thread-safe.
#ifndef OVVOC_COMMON_CRYPTO_H_
#define OVVOC_COMMON_CRYPTO_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ovvoc::crypto {

// `n` bytes from the OS CSPRNG (RAND_bytes). Aborts if the CSPRNG fails: nothing secure can
// continue without it.
std::string RandomBytes(size_t n);

// Raw 32-byte digests.
std::string Sha256(absl::string_view data);
std::string HmacSha256(absl::string_view key, absl::string_view data);

std::string HexEncode(absl::string_view bytes);  // lowercase
absl::StatusOr<std::string> HexDecode(absl::string_view hex);

// RFC 4648 section 5, without padding.
std::string Base64UrlEncode(absl::string_view bytes);
absl::StatusOr<std::string> Base64UrlDecode(absl::string_view text);
// Standard alphabet with padding (HTTP Basic auth, PEM bodies).
std::string Base64Encode(absl::string_view bytes);

// Compares in time that depends only on the lengths.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace ovvoc::crypto

#endif  // OVVOC_COMMON_CRYPTO_H_
