#include "services/ums/registry.hpp"

#include "framework/token.hpp"

#include <algorithm>
#include <stdexcept>

namespace shadowlink::ums {

namespace {

// Each entry takes the schema one version further, in each engine's words; never edited once
// released (a database that has seen it would not see the change), only appended to.
struct migration {
  const char* sqlite;
  const char* postgresql;
};
constexpr migration migrations[] = {
    {// 1: enrollment keys
     "CREATE TABLE enrollment_keys ("
     " key_sha256 TEXT PRIMARY KEY, folder TEXT NOT NULL, created_by TEXT NOT NULL,"
     " created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, used_by TEXT, used_at INTEGER)",
     "CREATE TABLE enrollment_keys ("
     " key_sha256 TEXT PRIMARY KEY, folder TEXT NOT NULL, created_by TEXT NOT NULL,"
     " created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, used_by TEXT, used_at BIGINT)"},
    {// 2: the devices enrolled with them
     "CREATE TABLE devices ("
     " id TEXT PRIMARY KEY, name TEXT NOT NULL, folder TEXT NOT NULL, key_sha256 TEXT NOT NULL,"
     " enrolled_at INTEGER NOT NULL)",
     "CREATE TABLE devices ("
     " id TEXT PRIMARY KEY, name TEXT NOT NULL, folder TEXT NOT NULL, key_sha256 TEXT NOT NULL,"
     " enrolled_at BIGINT NOT NULL)"},
    {// 3: what each device last reported about itself
     "ALTER TABLE devices ADD COLUMN os TEXT NOT NULL DEFAULT '';"
     "ALTER TABLE devices ADD COLUMN agent TEXT NOT NULL DEFAULT '';"
     "ALTER TABLE devices ADD COLUMN peer TEXT NOT NULL DEFAULT '';"
     "ALTER TABLE devices ADD COLUMN legacy_address TEXT NOT NULL DEFAULT '';"
     "ALTER TABLE devices ADD COLUMN legacy_pin TEXT NOT NULL DEFAULT '';"
     "ALTER TABLE devices ADD COLUMN reported_at INTEGER NOT NULL DEFAULT 0",
     "ALTER TABLE devices ADD COLUMN os TEXT NOT NULL DEFAULT '', ADD COLUMN agent TEXT NOT NULL DEFAULT '',"
     " ADD COLUMN peer TEXT NOT NULL DEFAULT '', ADD COLUMN legacy_address TEXT NOT NULL DEFAULT '',"
     " ADD COLUMN legacy_pin TEXT NOT NULL DEFAULT '', ADD COLUMN reported_at BIGINT NOT NULL DEFAULT 0"},
    {// 4: the device's own settings (the name it reports goes into `name`)
     "ALTER TABLE devices ADD COLUMN mac TEXT NOT NULL DEFAULT '';"
     "ALTER TABLE devices ADD COLUMN ip TEXT NOT NULL DEFAULT ''",
     "ALTER TABLE devices ADD COLUMN mac TEXT NOT NULL DEFAULT '', ADD COLUMN ip TEXT NOT NULL DEFAULT ''"},
    {// 5: the UMS nodes of a cluster, and which of them each online device is linked to
     "CREATE TABLE nodes (name TEXT PRIMARY KEY, url TEXT NOT NULL, seen INTEGER NOT NULL);"
     "CREATE TABLE presence (device TEXT PRIMARY KEY, node TEXT NOT NULL, via TEXT NOT NULL, os TEXT NOT NULL, since INTEGER NOT NULL)",
     "CREATE TABLE nodes (name TEXT PRIMARY KEY, url TEXT NOT NULL, seen BIGINT NOT NULL);"
     "CREATE TABLE presence (device TEXT PRIMARY KEY, node TEXT NOT NULL, via TEXT NOT NULL, os TEXT NOT NULL, since BIGINT NOT NULL)"},
    {// 6: device certificates (until then <data_dir>/device-certificates.json, imported at start-up)
     "CREATE TABLE device_certificates (device TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, previous TEXT NOT NULL,"
     " key TEXT NOT NULL, not_after TEXT NOT NULL, issued INTEGER NOT NULL, revoked_keys TEXT NOT NULL)",
     "CREATE TABLE device_certificates (device TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, previous TEXT NOT NULL,"
     " key TEXT NOT NULL, not_after TEXT NOT NULL, issued BIGINT NOT NULL, revoked_keys TEXT NOT NULL)"},
    {// 7: the sessions each node of a cluster runs, for the list on every node
     "CREATE TABLE sessions (id TEXT PRIMARY KEY, node TEXT NOT NULL, device TEXT NOT NULL, user_name TEXT NOT NULL,"
     " via TEXT NOT NULL, view_only INTEGER NOT NULL, state TEXT NOT NULL, created INTEGER NOT NULL)",
     "CREATE TABLE sessions (id TEXT PRIMARY KEY, node TEXT NOT NULL, device TEXT NOT NULL, user_name TEXT NOT NULL,"
     " via TEXT NOT NULL, view_only INTEGER NOT NULL, state TEXT NOT NULL, created BIGINT NOT NULL)"},
    {// 8: every node's audit records, for the cluster-wide audit trail (each node's file stays its own)
     "CREATE TABLE audit (node TEXT NOT NULL, digest TEXT NOT NULL, time TEXT NOT NULL, device TEXT NOT NULL,"
     " user_name TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (node, digest));"
     "CREATE INDEX audit_time ON audit (time)",
     "CREATE TABLE audit (node TEXT NOT NULL, digest TEXT NOT NULL, time TEXT COLLATE \"C\" NOT NULL, device TEXT NOT NULL,"
     " user_name TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (node, digest));"
     "CREATE INDEX audit_time ON audit (time)"},
    {// 9: the folder tree of devices, rights on its folders, groups of administrators; `rules` counts
     // their changes, so that every node sees when to read them again
     "CREATE TABLE folders (path TEXT PRIMARY KEY, created_by TEXT NOT NULL, created_at INTEGER NOT NULL);"
     "CREATE TABLE rights (subject TEXT NOT NULL, folder TEXT NOT NULL, right_name TEXT NOT NULL, allow INTEGER NOT NULL,"
     " granted_by TEXT NOT NULL, granted_at INTEGER NOT NULL, PRIMARY KEY (subject, folder, right_name));"
     "CREATE TABLE admin_groups (name TEXT NOT NULL, member TEXT NOT NULL, PRIMARY KEY (name, member));"
     "CREATE TABLE revisions (what TEXT PRIMARY KEY, revision INTEGER NOT NULL);"
     "INSERT INTO revisions VALUES ('rules', 0)",
     "CREATE TABLE folders (path TEXT PRIMARY KEY, created_by TEXT NOT NULL, created_at BIGINT NOT NULL);"
     "CREATE TABLE rights (subject TEXT NOT NULL, folder TEXT NOT NULL, right_name TEXT NOT NULL, allow INTEGER NOT NULL,"
     " granted_by TEXT NOT NULL, granted_at BIGINT NOT NULL, PRIMARY KEY (subject, folder, right_name));"
     "CREATE TABLE admin_groups (name TEXT NOT NULL, member TEXT NOT NULL, PRIMARY KEY (name, member));"
     "CREATE TABLE revisions (what TEXT PRIMARY KEY, revision BIGINT NOT NULL);"
     "INSERT INTO revisions VALUES ('rules', 0)"},
    {// 10: administrators made at run time, and every node's logins (so that any node takes a login
     // made at another, and a logout anywhere ends it everywhere)
     "CREATE TABLE administrators (name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL,"
     " created_by TEXT NOT NULL, created_at INTEGER NOT NULL);"
     "CREATE TABLE logins (token_sha256 TEXT PRIMARY KEY, user_name TEXT NOT NULL, password TEXT NOT NULL, expires INTEGER NOT NULL,"
     " last_used INTEGER NOT NULL)",
     "CREATE TABLE administrators (name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL,"
     " created_by TEXT NOT NULL, created_at BIGINT NOT NULL);"
     "CREATE TABLE logins (token_sha256 TEXT PRIMARY KEY, user_name TEXT NOT NULL, password TEXT NOT NULL, expires BIGINT NOT NULL,"
     " last_used BIGINT NOT NULL)"},
    {// 11: a folder's policy for the sessions of the devices in and below it (until then a config
     // group named like the folder): consent ('' sets none) and recording
     "ALTER TABLE folders ADD COLUMN consent TEXT NOT NULL DEFAULT '';"
     "ALTER TABLE folders ADD COLUMN record INTEGER NOT NULL DEFAULT 0",
     "ALTER TABLE folders ADD COLUMN consent TEXT NOT NULL DEFAULT '', ADD COLUMN record INTEGER NOT NULL DEFAULT 0"},
    {// 12: API tokens for automation (until then in the config), each acting as an administrator
     "CREATE TABLE api_tokens (token_sha256 TEXT PRIMARY KEY, user_name TEXT NOT NULL, created_by TEXT NOT NULL,"
     " created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL)",
     "CREATE TABLE api_tokens (token_sha256 TEXT PRIMARY KEY, user_name TEXT NOT NULL, created_by TEXT NOT NULL,"
     " created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL)"},
};
static_assert(std::size(migrations) == registry::schema_version);

registry::enrollment_key key_of(const sql_row& r) {
  return {r.text(0).substr(0, 12), r.text(1), r.text(2), r.integer(3), r.integer(4), r.text(5), r.integer(6)};
}

}  // namespace

registry::registry(std::unique_ptr<sql_engine> db, int up_to) : db_(std::move(db)) {
  try {
    migrate(up_to);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot use the " + db_->where() + ": " + e.what());
  }
}

std::unique_ptr<registry> registry::open(const std::string& postgresql, const std::filesystem::path& sqlite_file) {
  std::unique_ptr<sql_engine> db;
  try {
    if (postgresql.empty()) std::filesystem::create_directories(sqlite_file.parent_path());
    db = postgresql.empty() ? open_sqlite(sqlite_file) : open_postgresql(postgresql);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot open the registry " + (postgresql.empty() ? sqlite_file.string() : "database") + ": " + e.what());
  }
  return std::make_unique<registry>(std::move(db));
}

registry::~registry() = default;

void registry::migrate(int up_to) {
  const bool pg = db_->engine() == sql_engine::kind::postgresql;
  for (;;) {
    // (In the transaction: nodes starting together wait for one another, then see its work.)
    write_transaction t(*db_);
    db_->script("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    const auto rows = db_->query("SELECT version FROM schema_version");
    const int at = rows.empty() ? 0 : static_cast<int>(rows[0].integer(0));
    if (at > schema_version)
      throw std::runtime_error("its schema is version " + std::to_string(at) + ", newer than this UMS (" +
                               std::to_string(schema_version) + "): upgrade the UMS");
    if (at >= up_to) return;
    db_->script(pg ? migrations[at].postgresql : migrations[at].sqlite);
    if (at == 0) db_->run("INSERT INTO schema_version VALUES (1)");
    else db_->run("UPDATE schema_version SET version = ?1", {std::int64_t{at + 1}});
    t.commit();
  }
}

int registry::version() const {
  std::lock_guard lock(m_);
  const auto rows = db_->query("SELECT version FROM schema_version");
  return rows.empty() ? 0 : static_cast<int>(rows[0].integer(0));
}

std::pair<std::string, registry::enrollment_key> registry::create_key(const std::string& folder, const std::string& created_by,
                                                                      std::int64_t now, std::int64_t expires_at) {
  std::lock_guard lock(m_);
  auto key = random_token();
  const auto hash = sha256_hex(key);
  db_->run("INSERT INTO enrollment_keys (key_sha256, folder, created_by, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
           {hash, folder, created_by, now, expires_at});
  return {std::move(key), enrollment_key{hash.substr(0, 12), folder, created_by, now, expires_at, {}, 0}};
}

std::vector<registry::enrollment_key> registry::keys() const {
  std::lock_guard lock(m_);
  std::vector<enrollment_key> out;
  for (const auto& r : db_->query("SELECT key_sha256, folder, created_by, created_at, expires_at, coalesce(used_by, ''), coalesce(used_at, 0)"
                                  " FROM enrollment_keys ORDER BY created_at DESC, key_sha256"))
    out.push_back(key_of(r));
  return out;
}

bool registry::delete_key(const std::string& id) {
  std::lock_guard lock(m_);
  if (id.size() != 12 || id.find_first_not_of("0123456789abcdef") != std::string::npos) return false;
  write_transaction t(*db_);  // (not while an enrollment, on any node, is using it)
  const bool gone = db_->run("DELETE FROM enrollment_keys WHERE substr(key_sha256, 1, 12) = ?1 AND used_by IS NULL", {id}) > 0;
  t.commit();
  return gone;
}

std::variant<registry::device, std::string> registry::enroll(const std::string& key, const std::string& id, const std::string& name,
                                                             std::int64_t now) {
  std::lock_guard lock(m_);
  const auto hash = sha256_hex(key);
  write_transaction t(*db_);
  const auto found = db_->query("SELECT folder, expires_at, CASE WHEN used_by IS NULL THEN 0 ELSE 1 END FROM enrollment_keys WHERE key_sha256 = ?1",
                                {hash});
  // The same words for a key that never existed and one used up: neither tells a guesser more.
  if (found.empty() || found[0].integer(2) != 0) return std::string("unknown or used enrollment key");
  if (found[0].integer(1) <= now) return std::string("the enrollment key has expired");
  const auto folder = found[0].text(0);
  if (!db_->query("SELECT 1 FROM devices WHERE id = ?1", {id}).empty()) return "device " + id + " is already enrolled";
  // (Still unused: checked again where it is written, whatever another node did meanwhile.)
  if (db_->run("UPDATE enrollment_keys SET used_by = ?1, used_at = ?2 WHERE key_sha256 = ?3 AND used_by IS NULL", {id, now, hash}) != 1)
    return std::string("unknown or used enrollment key");
  db_->run("INSERT INTO devices (id, name, folder, key_sha256, enrolled_at) VALUES (?1, ?2, ?3, ?4, ?5)", {id, name, folder, hash, now});
  t.commit();
  return device{id, name, folder, hash, now, {}};
}

bool registry::import_device(const std::string& id, const std::string& name, const std::string& folder, const std::string& credential_sha256,
                             std::int64_t now) {
  std::lock_guard lock(m_);
  return db_->run("INSERT INTO devices (id, name, folder, key_sha256, enrolled_at) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO NOTHING",
                  {id, name, folder, credential_sha256, now}) == 1;
}

void registry::report(const std::string& id, const reported& r) {
  std::lock_guard lock(m_);
  db_->run("UPDATE devices SET os = ?2, agent = ?3, peer = ?4, legacy_address = ?5, legacy_pin = ?6, reported_at = ?7,"
           " name = CASE WHEN ?8 = '' THEN name ELSE ?8 END, mac = ?9, ip = ?10 WHERE id = ?1",
           {id, r.os, r.agent, r.peer, r.legacy_address, r.legacy_pin, r.at, r.name, r.mac, r.ip});
}

bool registry::remove_device(const std::string& id) {
  std::lock_guard lock(m_);
  return db_->run("DELETE FROM devices WHERE id = ?1", {id}) > 0;
}

namespace {
constexpr const char* device_columns =
    "SELECT id, name, folder, key_sha256, enrolled_at, os, agent, peer, legacy_address, legacy_pin, reported_at, mac, ip FROM devices";
registry::device device_of(const sql_row& r) {
  return {r.text(0), r.text(1), r.text(2), r.text(3), r.integer(4),
          {r.text(5), r.text(6), r.text(7), r.text(8), r.text(9), r.integer(10), r.text(1), r.text(11), r.text(12)}};
}
}  // namespace

std::vector<registry::device> registry::devices() const {
  std::lock_guard lock(m_);
  std::vector<device> out;
  // (Sorted here: the engines' collations differ.)
  for (const auto& r : db_->query(device_columns)) out.push_back(device_of(r));
  std::sort(out.begin(), out.end(), [](const device& a, const device& b) { return a.id < b.id; });
  return out;
}

std::optional<registry::device> registry::enrolled(const std::string& id) const {
  std::lock_guard lock(m_);
  const auto rows = db_->query(std::string(device_columns) + " WHERE id = ?1", {id});
  if (rows.empty()) return std::nullopt;
  return device_of(rows[0]);
}

}  // namespace shadowlink::ums
