// The rules for spending an enrollment token, as a pure function the store applies inside its
// Enroll transaction (so two agents racing for one token cannot both win).
#ifndef OVVOC_CONTROL_PLANE_ENROLLMENT_ENROLLMENT_H_
#define OVVOC_CONTROL_PLANE_ENROLLMENT_ENROLLMENT_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "control-plane/store/store.h"

namespace ovvoc::cp {

// Marks `token` used by `agent_id` if `secret` is its secret, it is unused and unexpired at
// `now`. Otherwise leaves it unchanged and returns the refusal an agent sees: Unauthenticated
// for a wrong secret (nothing about the token is revealed), PermissionDenied for a used or
// expired one, with what to do about it.
absl::Status SpendEnrollmentToken(EnrollmentTokenRecord& token, absl::string_view secret,
                                  absl::string_view agent_id, absl::Time now);

}  // namespace ovvoc::cp

#endif  // OVVOC_CONTROL_PLANE_ENROLLMENT_ENROLLMENT_H_
