// Identifiers: a short type prefix and 80 random bits in lowercase base32, e.g.
// "job_3kq7f2m9x4a6b8c1d0e5". Unguessable, so an id is never a capability by itself either.
#ifndef OVVOC_COMMON_IDS_H_
#define OVVOC_COMMON_IDS_H_

#include <string>
#include <string_view>

#include "absl/strings/string_view.h"

namespace ovvoc {

std::string NewId(absl::string_view prefix);

// True when `id` looks like NewId(prefix) made it (used to reject junk input early).
bool IsWellFormedId(absl::string_view id, absl::string_view prefix);

}  // namespace ovvoc

#endif  // OVVOC_COMMON_IDS_H_
