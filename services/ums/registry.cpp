#include "services/ums/registry.hpp"

#include "framework/token.hpp"

#include <sqlite3.h>

#include <sys/stat.h>

#include <stdexcept>

namespace shadowlink::ums {

namespace {

// Each entry takes the schema one version further; never edited once released (a file that has
// seen it would not see the change), only appended to.
constexpr const char* migrations[] = {
    // 1: enrollment keys
    "CREATE TABLE enrollment_keys ("
    " key_sha256 TEXT PRIMARY KEY, folder TEXT NOT NULL, created_by TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, used_by TEXT, used_at INTEGER)",
    // 2: the devices enrolled with them
    "CREATE TABLE devices ("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL, folder TEXT NOT NULL, key_sha256 TEXT NOT NULL,"
    " enrolled_at INTEGER NOT NULL)",
    // 3: what each device last reported about itself
    "ALTER TABLE devices ADD COLUMN os TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE devices ADD COLUMN agent TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE devices ADD COLUMN peer TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE devices ADD COLUMN legacy_address TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE devices ADD COLUMN legacy_pin TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE devices ADD COLUMN reported_at INTEGER NOT NULL DEFAULT 0",
};
static_assert(std::size(migrations) == registry::schema_version);

// One prepared statement: bound, stepped, finalized with its scope.
class statement {
 public:
  statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK) fail();
  }
  ~statement() { sqlite3_finalize(s_); }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;

  statement& bind(int i, const std::string& v) {
    if (sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT) != SQLITE_OK) fail();
    return *this;
  }
  statement& bind(int i, std::int64_t v) {
    if (sqlite3_bind_int64(s_, i, v) != SQLITE_OK) fail();
    return *this;
  }
  // True while there is a row.
  bool step() {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) fail();
    return false;
  }
  std::string text(int col) const {
    const auto* p = sqlite3_column_text(s_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(s_, col))) : std::string();
  }
  std::int64_t integer(int col) const { return sqlite3_column_int64(s_, col); }

 private:
  [[noreturn]] void fail() const { throw std::runtime_error(std::string("registry: ") + sqlite3_errmsg(db_)); }
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
};

void exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string why = error ? error : sqlite3_errmsg(db);
    sqlite3_free(error);
    throw std::runtime_error("registry: " + why);
  }
}

// A transaction that rolls back unless committed. IMMEDIATE: it holds the write lock from the
// start, so two UMS processes on one file never both read a key as unused.
class transaction {
 public:
  explicit transaction(sqlite3* db) : db_(db) { exec(db_, "BEGIN IMMEDIATE"); }
  ~transaction() {
    if (!done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void commit() {
    exec(db_, "COMMIT");
    done_ = true;
  }

 private:
  sqlite3* db_;
  bool done_ = false;
};

registry::enrollment_key key_of(const statement& s) {
  return {s.text(0).substr(0, 12), s.text(1), s.text(2), s.integer(3), s.integer(4), s.text(5), s.integer(6)};
}

}  // namespace

registry::registry(const std::filesystem::path& file) : file_(file.string()) {
  const auto old_mask = ::umask(077);  // the file and its WAL: the service user's only
  const int rc = sqlite3_open_v2(file_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  ::umask(old_mask);
  if (rc != SQLITE_OK) {
    std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw std::runtime_error("cannot open the registry " + file_ + ": " + why);
  }
  try {
    sqlite3_busy_timeout(db_, 5000);  // another process holding the write lock: wait, boundedly
    exec(db_, "PRAGMA journal_mode=WAL");
    exec(db_, "PRAGMA synchronous=FULL");
    migrate();
  } catch (const std::exception& e) {
    sqlite3_close(db_);
    throw std::runtime_error("cannot open the registry " + file_ + ": " + e.what());
  }
}

registry::~registry() { sqlite3_close(db_); }

void registry::migrate() {
  exec(db_, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  for (;;) {
    transaction t(db_);
    int at = 0;
    {  // (finished before the migration's statements: a later one may rebuild tables)
      statement q(db_, "SELECT version FROM schema_version");
      if (q.step()) at = static_cast<int>(q.integer(0));
    }
    if (at > schema_version)
      throw std::runtime_error("its schema is version " + std::to_string(at) + ", newer than this UMS (" +
                               std::to_string(schema_version) + "): upgrade the UMS");
    if (at == schema_version) return;
    exec(db_, migrations[at]);
    if (at == 0) statement(db_, "INSERT INTO schema_version VALUES (1)").step();
    else statement(db_, "UPDATE schema_version SET version = ?1").bind(1, std::int64_t{at + 1}).step();
    t.commit();
  }
}

int registry::version() const {
  std::lock_guard lock(m_);
  statement q(db_, "SELECT version FROM schema_version");
  return q.step() ? static_cast<int>(q.integer(0)) : 0;
}

std::pair<std::string, registry::enrollment_key> registry::create_key(const std::string& folder, const std::string& created_by,
                                                                      std::int64_t now, std::int64_t expires_at) {
  std::lock_guard lock(m_);
  auto key = random_token();
  const auto hash = sha256_hex(key);
  statement(db_, "INSERT INTO enrollment_keys (key_sha256, folder, created_by, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)")
      .bind(1, hash)
      .bind(2, folder)
      .bind(3, created_by)
      .bind(4, now)
      .bind(5, expires_at)
      .step();
  return {std::move(key), enrollment_key{hash.substr(0, 12), folder, created_by, now, expires_at, {}, 0}};
}

std::vector<registry::enrollment_key> registry::keys() const {
  std::lock_guard lock(m_);
  statement q(db_,
              "SELECT key_sha256, folder, created_by, created_at, expires_at, coalesce(used_by, ''), coalesce(used_at, 0)"
              " FROM enrollment_keys ORDER BY created_at DESC, key_sha256");
  std::vector<enrollment_key> out;
  while (q.step()) out.push_back(key_of(q));
  return out;
}

bool registry::delete_key(const std::string& id) {
  std::lock_guard lock(m_);
  if (id.size() != 12 || id.find_first_not_of("0123456789abcdef") != std::string::npos) return false;
  statement(db_, "DELETE FROM enrollment_keys WHERE substr(key_sha256, 1, 12) = ?1 AND used_by IS NULL").bind(1, id).step();
  return sqlite3_changes(db_) > 0;
}

std::variant<registry::device, std::string> registry::enroll(const std::string& key, const std::string& id, const std::string& name,
                                                             std::int64_t now) {
  std::lock_guard lock(m_);
  const auto hash = sha256_hex(key);
  transaction t(db_);
  std::string folder;
  {
    statement q(db_, "SELECT folder, expires_at, used_by IS NOT NULL FROM enrollment_keys WHERE key_sha256 = ?1");
    q.bind(1, hash);
    // The same words for a key that never existed and one used up: neither tells a guesser more.
    if (!q.step() || q.integer(2) != 0) return std::string("unknown or used enrollment key");
    if (q.integer(1) <= now) return std::string("the enrollment key has expired");
    folder = q.text(0);
  }
  {
    statement q(db_, "SELECT 1 FROM devices WHERE id = ?1");
    if (q.bind(1, id).step()) return "device " + id + " is already enrolled";
  }
  statement(db_, "UPDATE enrollment_keys SET used_by = ?1, used_at = ?2 WHERE key_sha256 = ?3").bind(1, id).bind(2, now).bind(3, hash).step();
  statement(db_, "INSERT INTO devices (id, name, folder, key_sha256, enrolled_at) VALUES (?1, ?2, ?3, ?4, ?5)")
      .bind(1, id)
      .bind(2, name)
      .bind(3, folder)
      .bind(4, hash)
      .bind(5, now)
      .step();
  t.commit();
  return device{id, name, folder, hash, now, {}};
}

void registry::report(const std::string& id, const reported& r) {
  std::lock_guard lock(m_);
  statement(db_,
            "UPDATE devices SET os = ?2, agent = ?3, peer = ?4, legacy_address = ?5, legacy_pin = ?6, reported_at = ?7 WHERE id = ?1")
      .bind(1, id)
      .bind(2, r.os)
      .bind(3, r.agent)
      .bind(4, r.peer)
      .bind(5, r.legacy_address)
      .bind(6, r.legacy_pin)
      .bind(7, r.at)
      .step();
}

bool registry::remove_device(const std::string& id) {
  std::lock_guard lock(m_);
  statement(db_, "DELETE FROM devices WHERE id = ?1").bind(1, id).step();
  return sqlite3_changes(db_) > 0;
}

std::vector<registry::device> registry::devices() const {
  std::lock_guard lock(m_);
  statement q(db_,
              "SELECT id, name, folder, key_sha256, enrolled_at, os, agent, peer, legacy_address, legacy_pin, reported_at"
              " FROM devices ORDER BY id");
  std::vector<device> out;
  while (q.step())
    out.push_back({q.text(0), q.text(1), q.text(2), q.text(3), q.integer(4), {q.text(5), q.text(6), q.text(7), q.text(8), q.text(9), q.integer(10)}});
  return out;
}

}  // namespace shadowlink::ums
