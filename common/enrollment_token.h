// The enrollment token an admin hands to a new agent:
//
//   ovvoc1.<ca pin>.<token id>.<secret>
//
// <ca pin> is base64url(SHA-256 of the CA certificate's SubjectPublicKeyInfo): with it the
// agent trusts exactly this control plane and no system CA. <secret> is 256 random bits; the
// control plane stores only its SHA-256 (the secret is high-entropy, so no slow hash is needed).
#ifndef OVVOC_COMMON_ENROLLMENT_TOKEN_H_
#define OVVOC_COMMON_ENROLLMENT_TOKEN_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ovvoc {

struct EnrollmentToken {
  std::string ca_pin;    // raw 32 bytes
  std::string token_id;  // "tok_..."
  std::string secret;    // raw 32 bytes
};

// A new token for `ca_pin` with a fresh id and secret.
EnrollmentToken NewEnrollmentToken(absl::string_view ca_pin);

std::string FormatEnrollmentToken(const EnrollmentToken& token);

// InvalidArgument, saying what is wrong, for anything that is not a well-formed token.
absl::StatusOr<EnrollmentToken> ParseEnrollmentToken(absl::string_view text);

// What the control plane stores in place of the secret.
std::string HashEnrollmentSecret(absl::string_view secret);

}  // namespace ovvoc

#endif  // OVVOC_COMMON_ENROLLMENT_TOKEN_H_
