#include "services/ums/sql_engine.hpp"

#include <libpq-fe.h>

#include <cctype>
#include <stdexcept>

namespace shadowlink::ums {

namespace {

// Any fixed number: the advisory lock every UMS node takes for a registry write.
constexpr const char* registry_write_lock = "SELECT pg_advisory_xact_lock(1936223339)";

std::string trimmed(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back()))) out.pop_back();
  return out;
}

// ?N placeholders as PostgreSQL spells them.
std::string dollar_placeholders(std::string_view sql) {
  std::string s(sql);
  for (std::size_t i = 0; i + 1 < s.size(); ++i)
    if (s[i] == '?' && std::isdigit(static_cast<unsigned char>(s[i + 1]))) s[i] = '$';
  return s;
}

class result {
 public:
  explicit result(PGresult* r) : r_(r) {}
  ~result() { PQclear(r_); }
  result(const result&) = delete;
  result& operator=(const result&) = delete;
  PGresult* get() const { return r_; }

 private:
  PGresult* r_;
};

class postgresql_engine final : public sql_engine {
 public:
  explicit postgresql_engine(std::string conninfo) : conninfo_(std::move(conninfo)) {
    // Defaults first: what the connection string says overrides them. No wait is unbounded: a
    // server that does not answer is given up (connecting, and mid-statement) rather than
    // holding the registry's thread.
    const char* keys[] = {"connect_timeout", "tcp_user_timeout", "keepalives_idle", "keepalives_interval", "keepalives_count",
                          "application_name", "dbname", nullptr};
    const char* values[] = {"5", "10000", "5", "2", "3", "shadowlink-ums", conninfo_.c_str(), nullptr};
    conn_ = PQconnectdbParams(keys, values, 1);
    if (!conn_) throw std::runtime_error("out of memory");
    if (PQstatus(conn_) != CONNECTION_OK) {
      auto why = trimmed(PQerrorMessage(conn_));
      PQfinish(conn_);
      throw std::runtime_error(why);
    }
    where_ = std::string("PostgreSQL database ") + PQdb(conn_) + " at " + PQhost(conn_) + ":" + PQport(conn_);
    // (CREATE ... IF NOT EXISTS says so as a notice; libpq would print it on stderr.)
    PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
    session_settings();
  }
  ~postgresql_engine() override { PQfinish(conn_); }

  kind engine() const override { return kind::postgresql; }
  const std::string& where() const override { return where_; }

  std::vector<sql_row> query(std::string_view sql, std::initializer_list<sql_value> params) override {
    result r(execute(sql, params, PGRES_TUPLES_OK));
    std::vector<sql_row> out;
    const int rows = PQntuples(r.get()), cols = PQnfields(r.get());
    out.reserve(static_cast<std::size_t>(rows));
    for (int i = 0; i < rows; ++i) {
      sql_row row;
      for (int c = 0; c < cols; ++c)
        row.cols.emplace_back(PQgetisnull(r.get(), i, c) ? std::string()
                                                         : std::string(PQgetvalue(r.get(), i, c), static_cast<std::size_t>(PQgetlength(r.get(), i, c))));
      out.push_back(std::move(row));
    }
    return out;
  }
  std::int64_t run(std::string_view sql, std::initializer_list<sql_value> params) override {
    result r(execute(sql, params, PGRES_COMMAND_OK));
    return sql_row{{PQcmdTuples(r.get())}}.integer(0);
  }
  void script(const char* sql) override {
    if (!in_transaction_) reconnect_if_lost();
    result r(PQexec(conn_, sql));
    check(r.get(), PGRES_COMMAND_OK);
  }
  void begin_write() override {
    script("BEGIN");
    in_transaction_ = true;
    try {
      result r(PQexec(conn_, registry_write_lock));
      check(r.get(), PGRES_TUPLES_OK);
    } catch (...) {
      rollback();
      throw;
    }
  }
  void commit() override {
    // Sent while still in the transaction (no reconnect: a new session would "commit" nothing),
    // and checked: PostgreSQL answers a COMMIT of a failed transaction with ROLLBACK.
    result r(PQexec(conn_, "COMMIT"));
    in_transaction_ = false;
    check(r.get(), PGRES_COMMAND_OK);
    if (std::string_view(PQcmdStatus(r.get())) != "COMMIT") throw std::runtime_error("the transaction was rolled back");
  }
  void rollback() noexcept override {
    in_transaction_ = false;
    PQclear(PQexec(conn_, "ROLLBACK"));
  }

 private:
  void session_settings() { script("SET statement_timeout = 10000; SET lock_timeout = 10000"); }
  // The database restarted, or the network between dropped the connection: made again (with the
  // same parameters) before a statement that is not part of a transaction, never inside one.
  void reconnect_if_lost() {
    if (PQstatus(conn_) == CONNECTION_OK) return;
    PQreset(conn_);
    if (PQstatus(conn_) != CONNECTION_OK) throw std::runtime_error("cannot reach the " + where_ + ": " + trimmed(PQerrorMessage(conn_)));
    session_settings();
  }
  PGresult* execute(std::string_view sql, std::initializer_list<sql_value> params, ExecStatusType expected) {
    if (!in_transaction_) reconnect_if_lost();
    std::vector<std::string> text;
    text.reserve(params.size());
    for (const auto& p : params)
      text.push_back(std::holds_alternative<std::int64_t>(p) ? std::to_string(std::get<std::int64_t>(p)) : std::get<std::string>(p));
    std::vector<const char*> values;
    for (const auto& t : text) values.push_back(t.c_str());
    const auto statement = dollar_placeholders(sql);
    PGresult* r = PQexecParams(conn_, statement.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0);
    try {
      check(r, expected);
    } catch (...) {
      PQclear(r);
      throw;
    }
    return r;
  }
  void check(const PGresult* r, ExecStatusType expected) const {
    if (!r) throw std::runtime_error(trimmed(PQerrorMessage(conn_)));
    if (PQresultStatus(r) != expected) {
      auto why = trimmed(PQresultErrorMessage(r));
      throw std::runtime_error(why.empty() ? "unexpected answer from the database" : why);
    }
  }

  std::string conninfo_;
  PGconn* conn_ = nullptr;
  std::string where_;
  bool in_transaction_ = false;
};

}  // namespace

std::unique_ptr<sql_engine> open_postgresql(const std::string& conninfo) { return std::make_unique<postgresql_engine>(conninfo); }

std::string check_postgresql_conninfo(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (!options) {
    auto why = trimmed(error ? error : "out of memory");
    PQfreemem(error);
    return why;
  }
  std::string why;
  for (auto* o = options; o->keyword; ++o)
    if (std::string_view(o->keyword) == "password" && o->val && *o->val)
      why = "holds a password: put it in a passfile (passfile=/path/to/file, readable by the service user only)";
  PQconninfoFree(options);
  return why;
}

}  // namespace shadowlink::ums
