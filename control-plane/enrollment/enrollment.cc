#include "control-plane/enrollment/enrollment.h"

#include "absl/strings/str_cat.h"
#include "common/crypto.h"
#include "common/enrollment_token.h"
#include "common/time_util.h"

namespace ovvoc::cp {

absl::Status SpendEnrollmentToken(EnrollmentTokenRecord& token, absl::string_view secret,
                                  absl::string_view agent_id, absl::Time now) {
  if (!crypto::ConstantTimeEquals(HashEnrollmentSecret(secret), token.secret_hash)) {
    return absl::UnauthenticatedError("enrollment token not recognised");
  }
  if (token.used) {
    return absl::PermissionDeniedError(
        absl::StrCat("enrollment token ", token.id, " was already used (by ", token.used_by, " at ",
                     Rfc3339(token.used_at),
                     "); create a new one with `ovvoc-control-plane enroll-token create`"));
  }
  if (now >= token.expires_at) {
    return absl::PermissionDeniedError(
        absl::StrCat("enrollment token ", token.id, " expired at ", Rfc3339(token.expires_at),
                     "; create a new one with `ovvoc-control-plane enroll-token create`"));
  }
  token.used = true;
  token.used_at = now;
  token.used_by = std::string(agent_id);
  return absl::OkStatus();
}

}  // namespace ovvoc::cp
