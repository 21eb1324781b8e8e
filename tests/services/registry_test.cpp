#include "services/ums/registry.hpp"

#include "framework/token.hpp"
#include "tests/support/async.hpp"

#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <sys/stat.h>

using namespace shadowlink::ums;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t now = 1'800'000'000;

std::string refusal(const std::variant<registry::device, std::string>& r) {
  return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : std::string();
}

// A registry file as the first schema version left it, with one unused key in it.
void write_version_1(const fs::path& file, const std::string& key_sha256) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  const std::string sql =
      "CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);"
      "CREATE TABLE enrollment_keys (key_sha256 TEXT PRIMARY KEY, folder TEXT NOT NULL, created_by TEXT NOT NULL,"
      " created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, used_by TEXT, used_at INTEGER);"
      "INSERT INTO enrollment_keys (key_sha256, folder, created_by, created_at, expires_at) VALUES ('" +
      key_sha256 + "', 'reception', 'admin', 1, 9999999999);";
  REQUIRE(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
}

}  // namespace

TEST_CASE("a new registry file gets every schema version and is readable by the service user only") {
  const fs::path dir = shadowlink::testing::temp_dir();
  const auto file = dir / "registry.sqlite3";
  {
    registry r(file);
    CHECK(r.version() == registry::schema_version);
    CHECK(r.keys().empty());
    CHECK(r.devices().empty());
  }
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  registry again(file);  // opening a current file changes nothing
  CHECK(again.version() == registry::schema_version);
}

TEST_CASE("a registry of the previous schema version is migrated and keeps its keys") {
  const fs::path dir = shadowlink::testing::temp_dir();
  const auto file = dir / "registry.sqlite3";
  const std::string key = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  write_version_1(file, shadowlink::sha256_hex(key));
  registry r(file);
  CHECK(r.version() == registry::schema_version);
  REQUIRE(r.keys().size() == 1);
  CHECK(r.keys()[0].folder == "reception");
  // The migrated key enrolls a device into the table the migration added.
  auto d = r.enroll(key, "tc-9", "tc-9", now);
  REQUIRE(std::holds_alternative<registry::device>(d));
  CHECK(std::get<registry::device>(d).folder == "reception");
  CHECK(r.devices().size() == 1);
}

TEST_CASE("a registry of schema version 2 keeps its devices and gains what they report") {
  const fs::path dir = shadowlink::testing::temp_dir();
  const auto file = dir / "registry.sqlite3";
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
    const char* sql =
        "CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (2);"
        "CREATE TABLE enrollment_keys (key_sha256 TEXT PRIMARY KEY, folder TEXT NOT NULL, created_by TEXT NOT NULL,"
        " created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, used_by TEXT, used_at INTEGER);"
        "CREATE TABLE devices (id TEXT PRIMARY KEY, name TEXT NOT NULL, folder TEXT NOT NULL, key_sha256 TEXT NOT NULL,"
        " enrolled_at INTEGER NOT NULL);"
        "INSERT INTO devices VALUES ('tc-7', 'Front desk', 'reception', 'abc', 42);";
    REQUIRE(sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  {
    registry r(file);
    CHECK(r.version() == registry::schema_version);
    auto devices = r.devices();
    REQUIRE(devices.size() == 1);
    CHECK(devices[0].name == "Front desk");
    CHECK(devices[0].enrolled_at == 42);
    CHECK(devices[0].last.at == 0);  // nothing reported yet
    r.report("tc-7", {"11", "shadowlink-device/0.1", "10.0.0.7:50000", "10.0.0.7:5901", "ab12", now});
  }
  registry again(file);
  const auto last = again.devices().at(0).last;
  CHECK(last.os == "11");
  CHECK(last.agent == "shadowlink-device/0.1");
  CHECK(last.peer == "10.0.0.7:50000");
  CHECK(last.legacy_address == "10.0.0.7:5901");
  CHECK(last.legacy_pin == "ab12");
  CHECK(last.at == now);
}

TEST_CASE("a registry newer than the UMS is refused rather than used") {
  const fs::path dir = shadowlink::testing::temp_dir();
  const auto file = dir / "registry.sqlite3";
  { registry r(file); }
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "UPDATE schema_version SET version = 99", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  CHECK_THROWS_WITH(registry(file), Catch::Contains("newer than this UMS"));
}

TEST_CASE("an enrollment key enrolls one device once, before it expires, and survives a reopen") {
  const fs::path dir = shadowlink::testing::temp_dir();
  const auto file = dir / "registry.sqlite3";
  std::string key, expiring, id;
  {
    registry r(file);
    auto [k, entry] = r.create_key("reception", "admin", now, now + 3600);
    key = k;
    id = entry.id;
    CHECK(entry.id == shadowlink::sha256_hex(key).substr(0, 12));
    expiring = r.create_key("", "admin", now, now + 10).first;
    CHECK(key != expiring);
    CHECK(r.keys().size() == 2);

    const std::string wrong = key.substr(0, key.size() - 1) + (key.back() == '0' ? '1' : '0');
    REQUIRE(wrong != key);
    CHECK(refusal(r.enroll(wrong, "tc-9", "tc-9", now)) == "unknown or used enrollment key");
    CHECK(refusal(r.enroll(expiring, "tc-8", "tc-8", now + 10)) == "the enrollment key has expired");

    auto d = r.enroll(key, "tc-9", "Front desk", now + 1);
    REQUIRE(std::holds_alternative<registry::device>(d));
    CHECK(std::get<registry::device>(d).folder == "reception");
    CHECK(refusal(r.enroll(key, "tc-10", "tc-10", now + 2)) == "unknown or used enrollment key");
    // A second key cannot take over an enrolled device's id.
    auto other = r.create_key("", "admin", now, now + 3600).first;
    CHECK(refusal(r.enroll(other, "tc-9", "tc-9", now + 3)) == "device tc-9 is already enrolled");
    CHECK(std::holds_alternative<registry::device>(r.enroll(other, "tc-11", "tc-11", now + 4)));  // the refusal did not use it up
  }
  registry r(file);
  const auto devices = r.devices();
  REQUIRE(devices.size() == 2);
  CHECK(devices[0].id == "tc-11");
  CHECK(devices[1].id == "tc-9");
  CHECK(devices[1].name == "Front desk");
  CHECK(devices[1].key_sha256.substr(0, 12) == id);
  bool used = false;
  for (const auto& k : r.keys())
    if (k.id == id) used = k.used_by == "tc-9" && k.used_at == now + 1;
  CHECK(used);
}

TEST_CASE("only an unused enrollment key can be deleted") {
  const fs::path dir = shadowlink::testing::temp_dir();
  registry r(dir / "registry.sqlite3");
  auto [used_key, used] = r.create_key("", "admin", now, now + 3600);
  auto unused = r.create_key("", "admin", now, now + 3600).second;
  REQUIRE(std::holds_alternative<registry::device>(r.enroll(used_key, "tc-1", "tc-1", now)));
  CHECK_FALSE(r.delete_key(used.id));
  CHECK_FALSE(r.delete_key("not-a-key-id"));
  CHECK(r.delete_key(unused.id));
  CHECK_FALSE(r.delete_key(unused.id));
  REQUIRE(r.keys().size() == 1);
  CHECK(r.keys()[0].id == used.id);
}
