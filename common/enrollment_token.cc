#include "common/enrollment_token.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/crypto.h"
#include "common/ids.h"

namespace ovvoc {
namespace {
constexpr absl::string_view kPrefix = "ovvoc1";
constexpr size_t kSecretBytes = 32;
}  // namespace

EnrollmentToken NewEnrollmentToken(absl::string_view ca_pin) {
  return EnrollmentToken{std::string(ca_pin), NewId("tok"), crypto::RandomBytes(kSecretBytes)};
}

std::string FormatEnrollmentToken(const EnrollmentToken& token) {
  return absl::StrCat(kPrefix, ".", crypto::Base64UrlEncode(token.ca_pin), ".", token.token_id, ".",
                      crypto::Base64UrlEncode(token.secret));
}

absl::StatusOr<EnrollmentToken> ParseEnrollmentToken(absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, '.');
  if (parts.size() != 4 || parts[0] != kPrefix) {
    return absl::InvalidArgumentError(
        "malformed enrollment token: expected ovvoc1.<pin>.<id>.<secret> as printed by "
        "`ovvoc-control-plane enroll-token create`");
  }
  EnrollmentToken token;
  absl::StatusOr<std::string> pin = crypto::Base64UrlDecode(parts[1]);
  if (!pin.ok() || pin->size() != 32) {
    return absl::InvalidArgumentError("malformed enrollment token: bad CA pin");
  }
  token.ca_pin = *std::move(pin);
  if (!IsWellFormedId(parts[2], "tok")) {
    return absl::InvalidArgumentError("malformed enrollment token: bad token id");
  }
  token.token_id = std::string(parts[2]);
  absl::StatusOr<std::string> secret = crypto::Base64UrlDecode(parts[3]);
  if (!secret.ok() || secret->size() != kSecretBytes) {
    return absl::InvalidArgumentError("malformed enrollment token: bad secret");
  }
  token.secret = *std::move(secret);
  return token;
}

std::string HashEnrollmentSecret(absl::string_view secret) {
  return crypto::Sha256(absl::StrCat("ovvoc-enrollment-secret-v1:", secret));
}

}  // namespace ovvoc
