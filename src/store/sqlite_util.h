// Small RAII helpers over the sqlite3 C API (internal to the store stage).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace sieve::store::sqlite {

struct StatementFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};

// "what: message (code)" for the last error on `db`.
inline Status ErrorStatus(sqlite3* db, std::string_view what) {
  int code = sqlite3_extended_errcode(db);
  std::string message = std::string(what) + ": " + sqlite3_errmsg(db);
  int primary = code & 0xff;
  if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) {
    return Status::InvalidInput(message + " (database file is damaged or not a Sieve index)");
  }
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    return Status::Timeout(message + " (index is locked by another process)");
  }
  if (primary == SQLITE_IOERR || primary == SQLITE_FULL || primary == SQLITE_CANTOPEN ||
      primary == SQLITE_READONLY || primary == SQLITE_PERM) {
    return Status::IoError(message);
  }
  return Status::Internal(message);
}

// A prepared statement. Bind indexes are 1-based, column indexes 0-based.
class Statement {
 public:
  static Result<Statement> Prepare(sqlite3* db, std::string_view sql) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &raw, nullptr) !=
        SQLITE_OK) {
      return ErrorStatus(db, "prepare \"" + std::string(sql.substr(0, 60)) + "\"");
    }
    return Statement(db, raw);
  }

  Statement& Bind(int index, std::int64_t value) {
    sqlite3_bind_int64(stmt_.get(), index, value);
    return *this;
  }
  Statement& Bind(int index, int value) { return Bind(index, static_cast<std::int64_t>(value)); }
  Statement& Bind(int index, double value) {
    sqlite3_bind_double(stmt_.get(), index, value);
    return *this;
  }
  Statement& Bind(int index, std::string_view value) {
    sqlite3_bind_text(stmt_.get(), index, value.data(), static_cast<int>(value.size()),
                      SQLITE_TRANSIENT);
    return *this;
  }
  Statement& Bind(int index, const std::string& value) {
    return Bind(index, std::string_view(value));
  }
  Statement& Bind(int index, const char* value) { return Bind(index, std::string_view(value)); }
  // Binds a pointer (sqlite3_bind_pointer) for a function that reads it with `type`; it must
  // outlive the statement's steps.
  Statement& BindPointer(int index, void* pointer, const char* type) {
    sqlite3_bind_pointer(stmt_.get(), index, pointer, type, nullptr);
    return *this;
  }

  // True when a row is available, false when done.
  Result<bool> Step() {
    int rc = sqlite3_step(stmt_.get());
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return ErrorStatus(db_, "query");
  }
  // Runs a statement that returns no rows (or ignores them) and resets it for reuse.
  Status Run() {
    Result<bool> row = Step();
    while (row.ok() && *row) row = Step();
    Status status = row.status();
    Reset();
    return status;
  }
  void Reset() {
    sqlite3_reset(stmt_.get());
    sqlite3_clear_bindings(stmt_.get());
  }

  std::int64_t Int(int column) const { return sqlite3_column_int64(stmt_.get(), column); }
  double Double(int column) const { return sqlite3_column_double(stmt_.get(), column); }
  std::string Text(int column) const {
    const auto* data = sqlite3_column_text(stmt_.get(), column);
    int size = sqlite3_column_bytes(stmt_.get(), column);
    return data ? std::string(reinterpret_cast<const char*>(data), static_cast<size_t>(size))
                : std::string();
  }
  sqlite3_stmt* raw() const { return stmt_.get(); }
  bool IsNull(int column) const { return sqlite3_column_type(stmt_.get(), column) == SQLITE_NULL; }

 private:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  sqlite3* db_;  // not owned
  std::unique_ptr<sqlite3_stmt, StatementFinalizer> stmt_;
};

}  // namespace sieve::store::sqlite
