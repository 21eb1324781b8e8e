#include "services/ums/sql_engine.hpp"

#include <sqlite3.h>

#include <sys/stat.h>

#include <charconv>
#include <stdexcept>

namespace shadowlink::ums {

std::int64_t sql_row::integer(std::size_t i) const {
  const auto& s = cols.at(i);
  std::int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);  // ("" and NULL: 0)
  return v;
}

namespace {

class sqlite_engine final : public sql_engine {
 public:
  explicit sqlite_engine(const std::filesystem::path& file) : where_("registry file " + file.string()) {
    const auto old_mask = ::umask(077);  // the file and its WAL: the service user's only
    const int rc = sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
    ::umask(old_mask);
    if (rc != SQLITE_OK) {
      std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw std::runtime_error(why);
    }
    try {
      sqlite3_busy_timeout(db_, 5000);  // another process holding the write lock: wait, boundedly
      script("PRAGMA journal_mode=WAL");
      script("PRAGMA synchronous=FULL");
    } catch (...) {
      sqlite3_close(db_);
      throw;
    }
  }
  ~sqlite_engine() override { sqlite3_close(db_); }

  kind engine() const override { return kind::sqlite; }
  const std::string& where() const override { return where_; }

  std::vector<sql_row> query(std::string_view sql, std::initializer_list<sql_value> params) override {
    statement s(*this, sql, params);
    std::vector<sql_row> out;
    while (s.step()) {
      sql_row row;
      const int n = sqlite3_column_count(s.s);
      for (int i = 0; i < n; ++i) {
        const auto* p = sqlite3_column_text(s.s, i);
        row.cols.emplace_back(p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(s.s, i)))
                                : std::string());
      }
      out.push_back(std::move(row));
    }
    return out;
  }
  std::int64_t run(std::string_view sql, std::initializer_list<sql_value> params) override {
    statement s(*this, sql, params);
    while (s.step()) {
    }
    return sqlite3_changes(db_);
  }
  void script(const char* sql) override {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
      std::string why = error ? error : sqlite3_errmsg(db_);
      sqlite3_free(error);
      throw std::runtime_error(why);
    }
  }
  // IMMEDIATE: the write lock from the start, so two processes on one file never both read a key
  // as unused.
  void begin_write() override { script("BEGIN IMMEDIATE"); }
  void commit() override { script("COMMIT"); }
  void rollback() noexcept override { sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr); }

 private:
  // One prepared statement, its parameters bound; finalized with its scope.
  struct statement {
    statement(sqlite_engine& e, std::string_view sql, std::initializer_list<sql_value> params) : e(e) {
      if (sqlite3_prepare_v2(e.db_, sql.data(), static_cast<int>(sql.size()), &s, nullptr) != SQLITE_OK) e.fail();
      int i = 0;
      for (const auto& p : params) {
        ++i;
        const int rc = std::holds_alternative<std::int64_t>(p)
                           ? sqlite3_bind_int64(s, i, std::get<std::int64_t>(p))
                           : sqlite3_bind_text(s, i, std::get<std::string>(p).data(), static_cast<int>(std::get<std::string>(p).size()),
                                               SQLITE_TRANSIENT);
        if (rc != SQLITE_OK) e.fail();
      }
    }
    ~statement() { sqlite3_finalize(s); }
    statement(const statement&) = delete;
    statement& operator=(const statement&) = delete;
    // True while there is a row.
    bool step() {
      const int rc = sqlite3_step(s);
      if (rc == SQLITE_ROW) return true;
      if (rc != SQLITE_DONE) e.fail();
      return false;
    }
    sqlite_engine& e;
    sqlite3_stmt* s = nullptr;
  };
  [[noreturn]] void fail() const { throw std::runtime_error(sqlite3_errmsg(db_)); }

  sqlite3* db_ = nullptr;
  std::string where_;
};

}  // namespace

std::unique_ptr<sql_engine> open_sqlite(const std::filesystem::path& file) { return std::make_unique<sqlite_engine>(file); }

}  // namespace shadowlink::ums
