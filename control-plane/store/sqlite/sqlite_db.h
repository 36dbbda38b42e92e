// A thin RAII layer over the sqlite3 C API: a connection, prepared statements and
// transactions, with every failure turned into an absl::Status carrying SQLite's message.
// Not thread-safe: the owner serialises access.
#ifndef OVVOC_CONTROL_PLANE_STORE_SQLITE_SQLITE_DB_H_
#define OVVOC_CONTROL_PLANE_STORE_SQLITE_SQLITE_DB_H_

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ovvoc::cp::sqlite {

class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}

  // Binders take 1-based indices, as sqlite does; they return *this to chain.
  Statement& Bind(int index, absl::string_view text);
  Statement& BindBlob(int index, absl::string_view bytes);
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, absl::Time time);  // stored as Unix microseconds

  // True while a row is available, false when done.
  absl::StatusOr<bool> Step();
  // Runs to completion, expecting no rows.
  absl::Status Run();

  std::string Text(int column) const;
  std::string Blob(int column) const;
  int64_t Int(int column) const;
  absl::Time Time(int column) const;
  bool IsNull(int column) const;

 private:
  struct Finalizer {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  sqlite3* db_;
  std::unique_ptr<sqlite3_stmt, Finalizer> stmt_;
  absl::Status bind_status_;  // first binding error, reported by Step()
};

class Database {
 public:
  // Opens (creating if missing) with WAL, synchronous=FULL, foreign keys on and a busy timeout.
  static absl::StatusOr<Database> Open(const std::string& path);

  absl::Status Exec(absl::string_view sql);
  absl::StatusOr<Statement> Prepare(absl::string_view sql);
  // BEGIN IMMEDIATE; `body`; COMMIT, or ROLLBACK when `body` fails.
  absl::Status Transaction(const std::function<absl::Status()>& body);
  sqlite3* get() const { return db_.get(); }

 private:
  struct Closer {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  explicit Database(sqlite3* db) : db_(db) {}
  std::unique_ptr<sqlite3, Closer> db_;
};

// The store's message for `db`'s last error, with `what` in front.
absl::Status SqliteError(sqlite3* db, int rc, absl::string_view what);

}  // namespace ovvoc::cp::sqlite

#endif  // OVVOC_CONTROL_PLANE_STORE_SQLITE_SQLITE_DB_H_
