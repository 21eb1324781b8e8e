#pragma once
// The registry's database engines, behind only what its queries need: parameters, rows of text, a
// count of changed rows, and a write transaction that serialises writers, across processes too
// (SQLite: BEGIN IMMEDIATE on the file; PostgreSQL: a transaction-scoped advisory lock, so UMS
// nodes sharing one database never both read a key as unused). Queries are written once, with
// ?1, ?2... placeholders; the PostgreSQL engine spells them $1, $2...
// Blocking: called on the registry's own thread, never on the event loop.
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace shadowlink::ums {

using sql_value = std::variant<std::string, std::int64_t>;

// One result row; NULL reads as "" (or 0).
struct sql_row {
  std::vector<std::string> cols;
  const std::string& text(std::size_t i) const { return cols.at(i); }
  std::int64_t integer(std::size_t i) const;
};

class sql_engine {
 public:
  enum class kind { sqlite, postgresql };
  virtual ~sql_engine() = default;
  virtual kind engine() const = 0;
  // Where the data is, for logs and errors (no password: none is ever in it).
  virtual const std::string& where() const = 0;
  virtual std::vector<sql_row> query(std::string_view sql, std::initializer_list<sql_value> params = {}) = 0;
  // A statement that returns no rows; how many rows it changed.
  virtual std::int64_t run(std::string_view sql, std::initializer_list<sql_value> params = {}) = 0;
  // Several statements without parameters (a schema migration).
  virtual void script(const char* sql) = 0;
  virtual void begin_write() = 0;
  virtual void commit() = 0;
  virtual void rollback() noexcept = 0;
};

// A write transaction that rolls back unless committed.
class write_transaction {
 public:
  explicit write_transaction(sql_engine& db) : db_(db) { db_.begin_write(); }
  ~write_transaction() {
    if (!done_) db_.rollback();
  }
  write_transaction(const write_transaction&) = delete;
  write_transaction& operator=(const write_transaction&) = delete;
  void commit() {
    db_.commit();
    done_ = true;
  }

 private:
  sql_engine& db_;
  bool done_ = false;
};

// The file (created mode 0600, WAL, synchronous=FULL: a write is durable when it returns).
std::unique_ptr<sql_engine> open_sqlite(const std::filesystem::path& file);
// A libpq connection string (key=value or postgresql:// URI); connects at once. Statements time
// out after 10 s and a silent server is given up after 10 s, so no request waits without bound; a
// lost connection is made again at the next call outside a transaction.
std::unique_ptr<sql_engine> open_postgresql(const std::string& conninfo);
// Why a connection string is not acceptable in a config file ("" if it is): unparsable, or it
// holds a password (that goes in a passfile, readable by the service user only).
std::string check_postgresql_conninfo(const std::string& conninfo);

}  // namespace shadowlink::ums
