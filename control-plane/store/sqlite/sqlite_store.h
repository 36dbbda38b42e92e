// The SQLite implementation of Store: one file, WAL, fsync on commit. One connection guarded by
// a mutex: the control plane's store traffic is small metadata rows, and SQLite serialises
// writers anyway.
#ifndef OVVOC_CONTROL_PLANE_STORE_SQLITE_SQLITE_STORE_H_
#define OVVOC_CONTROL_PLANE_STORE_SQLITE_SQLITE_STORE_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "control-plane/store/store.h"

namespace ovvoc::cp {

// The schema, as an ordered list of migrations. The store records how many it has applied
// (PRAGMA user_version) and applies the rest, each in its own transaction.
const std::vector<absl::string_view>& SqliteMigrations();

// Opens `path` and migrates it with `migrations`. Refuses a file whose schema is newer than
// `migrations` knows (a downgraded binary must not write to it).
absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(
    const std::string& path, const std::vector<absl::string_view>& migrations = SqliteMigrations());

}  // namespace ovvoc::cp

#endif  // OVVOC_CONTROL_PLANE_STORE_SQLITE_SQLITE_STORE_H_
