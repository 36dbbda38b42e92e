#include "control-plane/store/store.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "control-plane/store/sqlite/sqlite_store.h"

namespace ovvoc::cp {

absl::StatusOr<std::unique_ptr<Store>> OpenStore(absl::string_view url) {
  if (absl::StartsWith(url, "sqlite://")) {
    return OpenSqliteStore(std::string(url.substr(absl::string_view("sqlite://").size())));
  }
  if (absl::StartsWith(url, "postgres://") || absl::StartsWith(url, "postgresql://")) {
    return absl::UnimplementedError(
        "the PostgreSQL store is not built yet; use the default SQLite store");
  }
  if (absl::StartsWith(url, "/")) return OpenSqliteStore(std::string(url));
  return absl::InvalidArgumentError(
      absl::StrCat("unknown store \"", url, "\": use sqlite:///ABSOLUTE/PATH or postgres://..."));
}

}  // namespace ovvoc::cp
