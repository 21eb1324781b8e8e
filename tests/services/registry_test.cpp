// The registry on both of its engines: an SQLite file, and a database of its own in the test
// suite's PostgreSQL server (tests/support/postgresql.sh, a ctest fixture).
#include "services/ums/registry.hpp"
#include "services/ums/device_certificates.hpp"

#include "framework/token.hpp"
#include "tests/support/async.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <thread>

using namespace shadowlink::ums;
namespace up = shadowlink::up;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t now = 1'800'000'000;

std::string refusal(const std::variant<registry::device, std::string>& r) {
  return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : std::string();
}

// The test server's connection string, without a database name.
std::string test_server() {
  const char* file = std::getenv("SHADOWLINK_TEST_POSTGRESQL");
  INFO("SHADOWLINK_TEST_POSTGRESQL names the test server's connection string (ctest's postgresql fixture)");
  REQUIRE(file != nullptr);
  std::ifstream in(file);
  std::string conninfo;
  std::getline(in, conninfo);
  REQUIRE_FALSE(conninfo.empty());
  return conninfo;
}

// A new, empty database on one engine; open() connects to it again each time, as a restarted
// UMS (or another node) would.
struct database {
  std::string engine;
  fs::path file;
  std::string conninfo;

  explicit database(std::string e) : engine(std::move(e)) {
    if (engine == "sqlite") {
      file = fs::path(shadowlink::testing::temp_dir()) / "registry.sqlite3";
      return;
    }
    const auto name = "registry_" + shadowlink::sha256_hex(shadowlink::random_token()).substr(0, 16);
    open_postgresql(test_server() + " dbname=postgres")->script(("CREATE DATABASE " + name).c_str());
    conninfo = test_server() + " dbname=" + name;
  }
  std::unique_ptr<sql_engine> open() const { return engine == "sqlite" ? open_sqlite(file) : open_postgresql(conninfo); }
};

}  // namespace

TEST_CASE("a new registry gets every schema version, and an SQLite file is readable by the service user only") {
  const database db(GENERATE(as<std::string>{}, "sqlite", "postgresql"));
  {
    registry r(db.open());
    CHECK(r.version() == registry::schema_version);
    CHECK(r.keys().empty());
    CHECK(r.devices().empty());
  }
  if (db.engine == "sqlite") {
    struct stat st {};
    REQUIRE(::stat(db.file.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
  }
  registry again(db.open());  // opening a current database changes nothing
  CHECK(again.version() == registry::schema_version);
}

TEST_CASE("a registry of schema version 1 is migrated and keeps its keys") {
  const database db(GENERATE(as<std::string>{}, "sqlite", "postgresql"));
  std::string key;
  {
    registry old(db.open(), 1);  // what a UMS of that version made
    REQUIRE(old.version() == 1);
    key = old.create_key("reception", "admin", now, now + 3600).first;
  }
  registry r(db.open());
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
  const database db(GENERATE(as<std::string>{}, "sqlite", "postgresql"));
  {
    registry old(db.open(), 2);
    REQUIRE(old.version() == 2);
    auto key = old.create_key("reception", "admin", now, now + 3600).first;
    REQUIRE(std::holds_alternative<registry::device>(old.enroll(key, "tc-7", "Front desk", 42)));
  }
  {
    registry r(db.open());
    CHECK(r.version() == registry::schema_version);
    auto devices = r.devices();
    REQUIRE(devices.size() == 1);
    CHECK(devices[0].name == "Front desk");
    CHECK(devices[0].enrolled_at == 42);
    CHECK(devices[0].last.at == 0);  // nothing reported yet
    r.report("tc-7", {"11", "shadowlink-device/0.1", "10.0.0.7", "10.0.0.7:5901", "ab12", now, "", "", ""});
  }
  registry again(db.open());
  CHECK(again.devices().at(0).name == "Front desk");  // no name reported: the one it had stays
  const auto last = again.devices().at(0).last;
  CHECK(last.os == "11");
  CHECK(last.agent == "shadowlink-device/0.1");
  CHECK(last.peer == "10.0.0.7");
  CHECK(last.legacy_address == "10.0.0.7:5901");
  CHECK(last.legacy_pin == "ab12");
  CHECK(last.at == now);
}

TEST_CASE("a registry of schema version 3 gains the device's own settings: its name, MAC and IP address") {
  const database db(GENERATE(as<std::string>{}, "sqlite", "postgresql"));
  {
    registry old(db.open(), 3);
    REQUIRE(old.version() == 3);
    auto key = old.create_key("", "admin", now, now + 3600).first;
    REQUIRE(std::holds_alternative<registry::device>(old.enroll(key, "tc-7", "tc-7", 42)));
  }
  {
    registry r(db.open());
    CHECK(r.version() == registry::schema_version);
    REQUIRE(r.devices().size() == 1);
    CHECK(r.devices()[0].last.mac.empty());
    r.report("tc-7", {"12", "shadowlink-device/0.1", "192.0.2.1", "", "", now, "Front desk", "52:54:00:12:34:56", "10.0.0.7"});
  }
  registry again(db.open());
  const auto d = again.devices().at(0);
  CHECK(d.name == "Front desk");
  CHECK(d.last.name == "Front desk");
  CHECK(d.last.mac == "52:54:00:12:34:56");
  CHECK(d.last.ip == "10.0.0.7");
  CHECK(d.last.peer == "192.0.2.1");
  CHECK(d.last.at == now);
}

TEST_CASE("a registry of schema version 4 gains the cluster's nodes and presence and the device certificates, and keeps its devices") {
  const database db(GENERATE(as<std::string>{}, "sqlite", "postgresql"));
  {
    registry old(db.open(), 4);
    REQUIRE(old.version() == 4);
    auto key = old.create_key("", "admin", now, now + 3600).first;
    REQUIRE(std::holds_alternative<registry::device>(old.enroll(key, "tc-8", "tc-8", 42)));
  }
  registry r(db.open());
  CHECK(r.version() == registry::schema_version);
  CHECK(r.devices().size() == 1);
  CHECK(r.presences(0).empty());
  CHECK(r.nodes(0).empty());
  CHECK(r.certificates().empty());
}

TEST_CASE("a device is where its node last put it, while that node is alive, and a node that moved on leaves it alone") {
  const database db(GENERATE(as<std::string>{}, "sqlite", "postgresql"));
  registry a(db.open()), b(db.open());  // two nodes on one database
  a.node_alive("a", "wss://a.example:8443", now);
  b.node_alive("b", "wss://b.example:8443", now);
  a.set_presence("tc-1", {"a", "", "a", "12"}, now);
  const auto seen_by_b = b.presence_of("tc-1", now - 15);
  REQUIRE(seen_by_b);
  CHECK(seen_by_b->node == "a");
  CHECK(seen_by_b->url == "wss://a.example:8443");  // the node's own address, from its row
  CHECK(seen_by_b->os == "12");
  CHECK_FALSE(b.presence_of("tc-2", now - 15));

  // The device reconnects to b before a notices its old link ended: a's late removal changes nothing.
  b.set_presence("tc-1", {"b", "", "icg-1", "12"}, now + 1);
  a.drop_presence("tc-1", "a");
  REQUIRE(a.presence_of("tc-1", now - 15));
  CHECK(a.presence_of("tc-1", now - 15)->node == "b");
  CHECK(a.presence_of("tc-1", now - 15)->via == "icg-1");
  b.drop_presence("tc-1", "b");
  CHECK_FALSE(a.presence_of("tc-1", now - 15));

  // A node not heard from since (killed) is where nothing is; a restarted node forgets its own.
  a.set_presence("tc-3", {"a", "", "a", "12"}, now);
  b.set_presence("tc-4", {"b", "", "b", "12"}, now);
  b.node_alive("b", "wss://b.example:8443", now + 20);
  CHECK_FALSE(b.presence_of("tc-3", now + 20 - 15));
  CHECK(b.presences(now + 20 - 15).size() == 1);
  CHECK(b.presences(now + 20 - 15).contains("tc-4"));
  CHECK(b.nodes(now + 20 - 15).size() == 1);
  CHECK(b.presences(0).size() == 2);  // (both rows are there: only liveness tells them apart)
  b.clear_presence("b");
  CHECK_FALSE(a.presence_of("tc-4", 0));
  CHECK(a.presence_of("tc-3", 0));
}

TEST_CASE("device certificate records are kept whole and shared by the nodes of one database") {
  const database db(GENERATE(as<std::string>{}, "sqlite", "postgresql"));
  registry a(db.open()), b(db.open());
  CHECK_FALSE(b.certificate("tc-1"));
  const issued_certificate c{"aa11", "bb22", "cc33", "2027-12-04T00:00:00Z", std::chrono::system_clock::time_point(std::chrono::seconds(now)),
                             {"k1", "k2"}};
  a.put_certificate("tc-1", c);
  auto seen = b.certificate("tc-1");
  REQUIRE(seen);
  CHECK(seen->fingerprint == "aa11");
  CHECK(seen->previous == "bb22");
  CHECK(seen->key == "cc33");
  CHECK(seen->not_after == "2027-12-04T00:00:00Z");
  CHECK(seen->issued == c.issued);
  CHECK(seen->revoked_keys == std::vector<std::string>{"k1", "k2"});
  auto revoked = c;
  revoked.fingerprint.clear();
  revoked.previous.clear();
  revoked.revoked_keys.push_back("cc33");
  b.put_certificate("tc-1", revoked);
  CHECK(a.certificate("tc-1")->fingerprint.empty());
  CHECK(a.certificate("tc-1")->revoked_keys.size() == 3);
  CHECK(a.certificates().size() == 1);
}

TEST_CASE("a certificate record is replaced only if it is still the one the change was decided from, so a revocation is never written over") {
  const database db(GENERATE(as<std::string>{}, "sqlite", "postgresql"));
  registry a(db.open()), b(db.open());
  const auto t = std::chrono::system_clock::time_point(std::chrono::seconds(now));
  const issued_certificate first{"fp1", "", "key1", "2027-01-01T00:00:00Z", t, {}};
  REQUIRE(a.replace_certificate("tc-1", std::nullopt, first));
  CHECK_FALSE(b.replace_certificate("tc-1", std::nullopt, first));  // (not new any more)
  // Node b revokes; node a, which decided a renewal from the record before, does not write over it.
  auto revoked = first;
  revoked.fingerprint.clear();
  revoked.key.clear();
  revoked.revoked_keys = {"key1"};
  REQUIRE(b.replace_certificate("tc-1", first, revoked));
  const issued_certificate renewed{"fp2", "fp1", "key1", "2028-01-01T00:00:00Z", t + std::chrono::minutes(2), {}};
  CHECK_FALSE(a.replace_certificate("tc-1", first, renewed));
  CHECK(a.certificate("tc-1")->fingerprint.empty());
  CHECK(a.certificate("tc-1")->revoked_keys == std::vector<std::string>{"key1"});
  // Decided from the record as it is now, a change is written.
  auto fresh = renewed;
  fresh.previous.clear();
  fresh.key = "key2";
  fresh.revoked_keys = {"key1"};
  CHECK(a.replace_certificate("tc-1", a.certificate("tc-1"), fresh));
  CHECK(b.certificate("tc-1")->fingerprint == "fp2");
}

TEST_CASE("the certificate records of an earlier version's file move into the registry once, and the registry's own records win") {
  const database db(GENERATE(as<std::string>{}, "sqlite", "postgresql"));
  registry r(db.open());
  r.put_certificate("tc-2", {"newer", "", "k", "", std::chrono::system_clock::time_point(std::chrono::seconds(now)), {}});
  const auto file = fs::path(shadowlink::testing::temp_dir()) / "device-certificates.json";
  std::ofstream(file) << R"({"devices": {"tc-1": {"fingerprint": "f1", "previous": "", "key": "k1", "not_after": "2027-01-01T00:00:00Z",)"
                         R"( "issued": 1800000000, "revoked_keys": ["old"]}, "tc-2": {"fingerprint": "older", "issued": 1}}})";
  {
    device_certificates certs(r, file);
    CHECK(certs.imported() == 1);
    CHECK(certs.accepts("tc-1", "f1"));
    CHECK(certs.key_revoked("tc-1", "old"));
    CHECK(certs.accepts("tc-2", "newer"));
    CHECK_FALSE(certs.accepts("tc-2", "older"));
  }
  CHECK_FALSE(fs::exists(file));
  CHECK(fs::exists(fs::path(file).concat(".imported")));
  CHECK(r.certificate("tc-1")->fingerprint == "f1");
  CHECK(r.certificate("tc-2")->fingerprint == "newer");
  device_certificates again(r, file);  // (no file now: nothing more to import)
  CHECK(again.imported() == 0);
  CHECK(again.accepts("tc-1", "f1"));
}

TEST_CASE("a certificate record changes only when written: renewal keeps the previous one until the new one is presented, revocation remembers the key") {
  const database db("sqlite");
  registry r(db.open());
  device_certificates certs(r, fs::path(shadowlink::testing::temp_dir()) / "none.json");
  auto first = certs.next_issued("tc-1", "fp1", "key1", "2027-01-01T00:00:00Z");
  CHECK_FALSE(certs.accepts("tc-1", "fp1"));  // (decided, not yet written)
  r.put_certificate("tc-1", first);
  certs.apply("tc-1", first);
  CHECK(certs.accepts("tc-1", "fp1"));
  CHECK_FALSE(certs.next_presented("tc-1", "fp1"));  // nothing to drop
  auto renewed = certs.next_issued("tc-1", "fp2", "key2", "2028-01-01T00:00:00Z");
  certs.apply("tc-1", renewed);
  CHECK(certs.accepts("tc-1", "fp1"));
  CHECK(certs.accepts("tc-1", "fp2"));
  auto presented = certs.next_presented("tc-1", "fp2");
  REQUIRE(presented);
  certs.apply("tc-1", *presented);
  CHECK_FALSE(certs.accepts("tc-1", "fp1"));
  auto revoked = certs.next_revoked("tc-1");
  REQUIRE(revoked);
  certs.apply("tc-1", *revoked);
  CHECK_FALSE(certs.accepts("tc-1", "fp2"));
  CHECK(certs.key_revoked("tc-1", "key2"));
  CHECK_FALSE(certs.key_revoked("tc-1", "key1"));
  CHECK_FALSE(certs.next_revoked("tc-1"));
}

TEST_CASE("each node writes only its own sessions' rows, and the list holds those of live nodes") {
  const database db(GENERATE(as<std::string>{}, "sqlite", "postgresql"));
  registry a(db.open()), b(db.open());
  a.node_alive("a", "wss://a", now);
  b.node_alive("b", "wss://b", now);
  a.change_sessions("a", {{"s-1", registry::session_row{"s-1", "a", "tc-1", "alice", "console", true, "setting up", now}}});
  b.change_sessions("b", {{"s-2", registry::session_row{"s-2", "b", "tc-2", "bob", "webapp", false, "active", now + 1}}});
  a.change_sessions("a", {{"s-1", registry::session_row{"s-1", "a", "tc-1", "alice", "console", true, "active", now}}});
  auto all = b.sessions(now - 15);
  REQUIRE(all.size() == 2);
  CHECK(all[0].id == "s-1");
  CHECK(all[0].node == "a");
  CHECK(all[0].state == "active");
  CHECK(all[0].view_only);
  CHECK(all[1].user == "bob");
  b.change_sessions("b", {{"s-1", std::nullopt}});  // (not b's: stays)
  CHECK(a.sessions(now - 15).size() == 2);
  a.change_sessions("a", {{"s-1", std::nullopt}});
  CHECK(a.sessions(now - 15).size() == 1);
  b.node_alive("b", "wss://b", now + 30);  // a is silent: its rows are not listed; b's restart clears b's
  a.change_sessions("a", {{"s-3", registry::session_row{"s-3", "a", "tc-1", "alice", "console", false, "active", now}}});
  CHECK(b.sessions(now + 30 - 15).size() == 1);
  b.clear_presence("b");
  CHECK(b.sessions(0).size() == 1);
  CHECK(b.sessions(0)[0].id == "s-3");
}

TEST_CASE("notifications go to the PostgreSQL registry's listeners only, and an SQLite registry has none to send") {
  const database db("sqlite");
  registry r(db.open());
  CHECK_THROWS_AS(r.notify("shadowlink-node-a", "{}"), std::logic_error);
}

TEST_CASE("a registry newer than the UMS is refused rather than used") {
  const database db(GENERATE(as<std::string>{}, "sqlite", "postgresql"));
  { registry r(db.open()); }
  REQUIRE(db.open()->run("UPDATE schema_version SET version = 99") == 1);
  CHECK_THROWS_WITH(registry(db.open()), Catch::Contains("newer than this UMS"));
}

TEST_CASE("an enrollment key enrolls one device once, before it expires, and survives a reopen") {
  const database db(GENERATE(as<std::string>{}, "sqlite", "postgresql"));
  std::string key, expiring, id;
  {
    registry r(db.open());
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
  registry r(db.open());
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
  const database db(GENERATE(as<std::string>{}, "sqlite", "postgresql"));
  registry r(db.open());
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

TEST_CASE("two UMS processes on one registry: each key enrolls exactly one device however they race for it") {
  const database db(GENERATE(as<std::string>{}, "sqlite", "postgresql"));
  registry a(db.open()), b(db.open());  // two connections, as two nodes have
  constexpr int keys = 40;
  std::vector<std::string> made;
  for (int i = 0; i < keys; ++i) made.push_back((i % 2 ? a : b).create_key("", "admin", now, now + 3600).first);
  std::atomic<int> enrolled{0}, refused{0}, failed{0};
  auto race = [&](registry& r, const std::string& prefix) {
    for (int i = 0; i < keys; ++i) {
      try {  // (an exception must fail the case, not escape the thread)
        auto result = r.enroll(made[static_cast<std::size_t>(i)], prefix + std::to_string(i), "race", now);
        if (std::holds_alternative<registry::device>(result)) ++enrolled;
        else if (refusal(result) == "unknown or used enrollment key") ++refused;
      } catch (const std::exception&) {
        ++failed;
      }
    }
  };
  std::thread one([&] { race(a, "node-a-"); });
  std::thread two([&] { race(b, "node-b-"); });
  one.join();
  two.join();
  CHECK(failed.load() == 0);
  CHECK(enrolled.load() == keys);
  CHECK(refused.load() == keys);
  CHECK(a.devices().size() == keys);
  CHECK(b.devices().size() == keys);  // the other node sees every enrollment
  for (const auto& k : b.keys()) CHECK_FALSE(k.used_by.empty());
}

TEST_CASE("a PostgreSQL registry talks TLS to its server, verifying the server's certificate") {
  const database db("postgresql");
  auto engine = db.open();
  const auto rows = engine->query("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].text(0) == "t");
  CHECK(rows[0].text(1).rfind("TLSv1.", 0) == 0);
  // A certificate the server's is not (another self-signed one) is refused by the client.
  const auto other = fs::path(shadowlink::testing::temp_dir()) / "other.crt";
  const auto made = std::system(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1"
                                  " -keyout /dev/null -out " + other.string() + " 2> /dev/null").c_str());
  REQUIRE(made == 0);
  REQUIRE(db.conninfo.find("sslrootcert=") != std::string::npos);
  CHECK_THROWS_WITH(open_postgresql(db.conninfo + " sslrootcert=" + other.string()), Catch::Contains("certificate verify failed"));
}

TEST_CASE("a PostgreSQL registry whose connection the server dropped connects again at its next call") {
  const database db("postgresql");
  registry r(db.open());
  const auto key = r.create_key("", "admin", now, now + 3600).first;
  // Every other connection to that database ends, as when the server restarts or a proxy cuts it.
  auto admin = open_postgresql(test_server() + " dbname=postgres");
  const auto name = db.conninfo.substr(db.conninfo.rfind('=') + 1);
  const auto victims = admin->query("SELECT pid FROM pg_stat_activity WHERE datname = ?1 AND backend_type = 'client backend'", {name});
  REQUIRE(victims.size() == 1);
  const auto pid = victims[0].integer(0);
  REQUIRE(admin->query("SELECT pg_terminate_backend(?1)", {pid}).at(0).text(0) == "t");
  for (int i = 0; i < 100 && !admin->query("SELECT 1 FROM pg_stat_activity WHERE pid = ?1", {pid}).empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(admin->query("SELECT 1 FROM pg_stat_activity WHERE pid = ?1", {pid}).empty());  // gone: the next call meets a dead connection
  // The call that meets the dead connection fails (with the reason); then the registry is back.
  bool back = false;
  for (int i = 0; i < 3 && !back; ++i) {
    try {
      back = r.keys().size() == 1;
    } catch (const std::runtime_error& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).size() > 0);
    }
  }
  CHECK(back);
  CHECK(std::holds_alternative<registry::device>(r.enroll(key, "tc-1", "tc-1", now)));
}

TEST_CASE("a PostgreSQL connection string with a password in it is refused for the config file, and a wrong password gets no registry") {
  CHECK(check_postgresql_conninfo("host=db.example dbname=shadowlink user=ums") == "");
  CHECK(check_postgresql_conninfo("postgresql://ums@db.example/shadowlink") == "");
  CHECK_THAT(check_postgresql_conninfo("host=db.example password=hunter2"), Catch::Contains("passfile"));
  CHECK_THAT(check_postgresql_conninfo("postgresql://ums:hunter2@db.example/shadowlink"), Catch::Contains("passfile"));
  CHECK_FALSE(check_postgresql_conninfo("host=db.example nonsense").empty());
  // The right server and user with a wrong password: refused by the server, with its reason.
  auto conninfo = test_server();
  conninfo = conninfo.substr(0, conninfo.find(" passfile="));
  REQUIRE(conninfo != test_server());
  CHECK_THROWS_WITH(registry::open(conninfo + " dbname=postgres password=certainly-wrong", {}), Catch::Contains("password authentication failed"));
}

TEST_CASE("every node's audit records are in the registry once, however often shipped, and read back filtered, oldest first, with their node") {
  const database db(GENERATE(as<std::string>{}, "sqlite", "postgresql"));
  registry a(db.open()), b(db.open());
  const std::vector<std::string> from_a{
      R"({"event":"session_requested","session":"s-1","device":"tc-1","user":"alice","time":"2026-12-05T10:00:00.000Z"})",
      R"({"event":"login","user":"alice","peer":"10.0.0.1","time":"2026-12-05T10:00:01.000Z"})",
      R"({"event":"session_ended","session":"s-1","device":"tc-1","user":"alice","time":"2026-12-05T10:00:05.000Z"})"};
  CHECK(a.audit_latest("a").empty());
  CHECK(a.add_audit("a", {from_a[0], from_a[1]}) == "2026-12-05T10:00:01.000Z");
  // A node that starts again ships from its latest record on: what is already there stays once.
  CHECK(a.audit_latest("a") == "2026-12-05T10:00:01.000Z");
  a.add_audit("a", {from_a[1], from_a[2], "not json"});
  b.add_audit("b", {R"({"event":"session_requested","session":"s-2","device":"tc-2","user":"bob","time":"2026-12-05T10:00:03.000Z"})"});

  const auto all = b.audit("", "", "", "", 100);
  REQUIRE(all.size() == 4);
  CHECK(all[0].find(R"("session":"s-1")") != std::string::npos);
  CHECK(all[0].find(R"("node":"a")") != std::string::npos);
  CHECK(all[2].find(R"("node":"b")") != std::string::npos);  // by time, whoever wrote it
  CHECK(all[3].find("session_ended") != std::string::npos);
  CHECK(b.audit("tc-1", "", "", "", 100).size() == 2);
  CHECK(b.audit("", "bob", "", "", 100).size() == 1);
  CHECK(b.audit("", "", "2026-12-05T10:00:02", "", 100).size() == 2);
  CHECK(b.audit("", "", "", "2026-12-05T10:00:02", 100).size() == 2);
  const auto latest = b.audit("", "", "", "", 1);  // the latest, not the first
  REQUIRE(latest.size() == 1);
  CHECK(latest[0].find("session_ended") != std::string::npos);
  CHECK(b.audit("tc-9", "", "", "", 100).empty());  // (a device with no records)
}

TEST_CASE("folders, rights on them and groups of administrators are shared by the nodes of one registry, each change counting up their revision") {
  const database db(GENERATE(as<std::string>{}, "sqlite", "postgresql"));
  registry a(db.open()), b(db.open());
  const auto start = b.rules_revision();
  CHECK(b.rules().folders.empty());
  CHECK(a.add_folder("berlin", "admin", now) == std::nullopt);
  CHECK(a.add_folder("berlin/floor_2", "admin", now) == std::nullopt);
  CHECK(a.add_folder("berlin/floor_2", "admin", now) == "folder berlin/floor_2 exists already");
  CHECK(a.add_folder("munich/east", "admin", now) == "no folder munich to hold it");
  CHECK(a.add_folder("/x", "admin", now).has_value());
  CHECK(a.put_rule({"user:olga", "berlin", folder_right::shadow, true, "admin", now}) == std::nullopt);
  CHECK(a.put_rule({"group:helpdesk", "berlin/floor_2", folder_right::view, false, "admin", now}) == std::nullopt);
  CHECK(a.put_rule({"user:olga", "nowhere", folder_right::view, true, "admin", now}) == "no folder nowhere");
  CHECK(a.put_rule({"olga", "berlin", folder_right::view, true, "admin", now}).has_value());
  CHECK(a.add_member("helpdesk", "mia"));
  CHECK_FALSE(a.add_member("helpdesk", "mia"));
  // The other node reads all of it, and sees that it changed.
  const auto seen = b.rules();
  CHECK(seen.revision > start);
  CHECK(seen.revision == b.rules_revision());
  CHECK(seen.folders == std::set<std::string, std::less<>>{"berlin", "berlin/floor_2"});
  REQUIRE(seen.rules.size() == 2);
  CHECK(seen.shadow_access("olga", "berlin/floor_2") == access::full_control);
  CHECK(seen.shadow_access("mia", "berlin/floor_2") == access::none);
  CHECK(seen.groups.at("helpdesk").contains("mia"));
  // A rule for the same subject, folder and right replaces the earlier one.
  CHECK(b.put_rule({"user:olga", "berlin", folder_right::shadow, false, "admin", now}) == std::nullopt);
  CHECK(a.rules().rules.size() == 2);
  CHECK(a.rules().denies("olga", folder_right::shadow, "berlin"));
  CHECK(b.remove_rule("user:olga", "berlin", folder_right::shadow));
  CHECK_FALSE(b.remove_rule("user:olga", "berlin", folder_right::shadow));
  CHECK(b.remove_member("helpdesk", "mia"));
  CHECK_FALSE(a.rules().groups.contains("helpdesk"));

  // Devices live in folders: moved only into one that exists; a folder holding anything stays.
  const auto key = a.create_key("berlin/floor_2", "admin", now, now + 60).first;
  REQUIRE(refusal(a.enroll(key, "tc-1", "one", now)).empty());
  CHECK(a.device_folders().at("tc-1") == "berlin/floor_2");
  CHECK(a.remove_folder("berlin") == "folder berlin holds folders: remove them first");
  CHECK(a.remove_folder("berlin/floor_2") == "folder berlin/floor_2 holds devices: move or remove them first");
  const auto before_move = a.rules_revision();
  auto moved = b.move_device("tc-1", "berlin", "berlin/floor_2");
  REQUIRE(std::holds_alternative<registry::moved>(moved));
  CHECK(std::get<registry::moved>(moved).from == "berlin/floor_2");
  CHECK(a.rules_revision() > before_move);  // (who may reach the device changed)
  CHECK(a.enrolled("tc-1")->folder == "berlin");
  CHECK(std::get<std::string>(b.move_device("tc-1", "nowhere", "berlin")) == "no folder nowhere");
  CHECK(std::get<std::string>(b.move_device("tc-1", "", "berlin/floor_2")) == "device tc-1 was moved meanwhile: look again");
  CHECK(std::get<std::string>(b.move_device("tc-9", "", "")) == "no enrolled device tc-9");
  // An unused key still enrolls into the folder: it stays too.
  a.create_key("berlin/floor_2", "admin", now, now + 60);
  CHECK(a.remove_folder("berlin/floor_2") == "unused enrollment keys enroll into folder berlin/floor_2: delete them first");
  for (const auto& k : a.keys())
    if (k.used_by.empty()) a.delete_key(k.id);
  // (A '_' in a name is no wildcard: berlin/floorX2's folder is not below berlin/floor_2.)
  REQUIRE(a.add_folder("berlin/floorX2", "admin", now) == std::nullopt);
  REQUIRE(a.add_folder("berlin/floorX2/c", "admin", now) == std::nullopt);
  CHECK(a.remove_folder("berlin/floor_2") == std::nullopt);
  CHECK(a.rules().folders == std::set<std::string, std::less<>>{"berlin", "berlin/floorX2", "berlin/floorX2/c"});
  CHECK(a.rules().rules.empty());  // its rights went with it
}

TEST_CASE("a registry of schema version 8 gains an empty folder tree, and its devices stay where their keys put them") {
  const database db(GENERATE(as<std::string>{}, "sqlite", "postgresql"));
  {
    registry old(db.open(), 8);
    REQUIRE(old.version() == 8);
    auto key = old.create_key("reception", "admin", now, now + 3600).first;
    REQUIRE(std::holds_alternative<registry::device>(old.enroll(key, "tc-8", "tc-8", 42)));
  }
  registry r(db.open());
  CHECK(r.version() == registry::schema_version);
  const auto rules = r.rules();
  CHECK(rules.revision == 0);
  CHECK(rules.folders.empty());
  CHECK(rules.rules.empty());
  CHECK(r.device_folders().at("tc-8") == "reception");
}

TEST_CASE("a registry of schema version 10 gains folder policies: its folders keep their rights and set no policy until one is set, which another node reads") {
  const database db(GENERATE(as<std::string>{}, "sqlite", "postgresql"));
  {
    registry old(db.open(), 10);
    REQUIRE(old.version() == 10);
    REQUIRE(old.add_folder("lab", "admin", now) == std::nullopt);
    REQUIRE(old.add_folder("lab/a", "admin", now) == std::nullopt);
    REQUIRE(old.put_rule({"user:olga", "lab", folder_right::shadow, true, "admin", now}) == std::nullopt);
  }
  registry a(db.open()), b(db.open());
  CHECK(a.version() == registry::schema_version);
  CHECK(a.rules().policies.empty());
  CHECK(a.rules().shadow_access("olga", "lab/a") == access::full_control);
  const auto before = b.rules_revision();
  CHECK(a.set_folder_policy("lab", up::consent_policy::notify, true) == std::nullopt);
  CHECK(a.set_folder_policy("lab/a", up::consent_policy::none, std::nullopt) == std::nullopt);
  CHECK(a.set_folder_policy("nowhere", up::consent_policy::ask, std::nullopt) == "no folder nowhere");
  auto seen = b.rules();
  CHECK(seen.revision > before);
  // lab/a's own "none" does not loosen lab's "notify"; lab's recording holds below it.
  CHECK(seen.policy_of("lab/a") == folder_policy{up::consent_policy::notify, true});
  CHECK(seen.policy_of("lab") == folder_policy{up::consent_policy::notify, true});
  CHECK(seen.policy_of("").empty());
  // Only what is given changes; a consent of nothing is none of its own.
  CHECK(b.set_folder_policy("lab", std::optional<up::consent_policy>{}, std::nullopt) == std::nullopt);
  seen = a.rules();
  CHECK(seen.policies.at("lab") == folder_policy{std::nullopt, true});
  CHECK(seen.policy_of("lab/a") == folder_policy{up::consent_policy::none, true});
  CHECK(b.set_folder_policy("lab", std::nullopt, false) == std::nullopt);
  CHECK_FALSE(a.rules().policies.contains("lab"));
}

TEST_CASE("API tokens are kept by their hash, read by every node, deleted by their id, and go with their administrator") {
  const database db(GENERATE(as<std::string>{}, "sqlite", "postgresql"));
  {
    registry old(db.open(), 11);
    REQUIRE(old.version() == 11);
  }
  registry a(db.open()), b(db.open());
  CHECK(a.version() == registry::schema_version);
  REQUIRE(a.add_administrator({"bot", "operator", "", "admin", now}) == std::nullopt);
  const std::string sha(64, 'a'), other = std::string(12, 'a') + std::string(52, 'b'), third(64, 'c');
  const auto before = b.rules_revision();
  CHECK(a.add_api_token({sha, "bot", "admin", now, now + 60}) == std::nullopt);
  CHECK(b.rules_revision() > before);
  // (Its id is its hash's first 12 digits: another with the same id is refused, so delete ID is never ambiguous.)
  CHECK(a.add_api_token({other, "bot", "admin", now, now + 60}) == "an API token with that id exists already");
  CHECK(a.add_api_token({third, "admin", "admin", now, 0}) == std::nullopt);
  auto seen = b.api_tokens();
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].id() == std::string(12, 'a'));
  CHECK_FALSE(b.remove_api_token("aaaaaaaaaaa"));  // (not an id: 11 digits)
  CHECK_FALSE(b.remove_api_token(std::string(12, 'd')));
  CHECK(b.remove_api_token(std::string(12, 'a')));
  CHECK(a.api_tokens().size() == 1);
  CHECK(a.add_api_token({sha, "bot", "admin", now, now + 60}) == std::nullopt);
  CHECK(a.remove_administrator("bot"));
  seen = b.api_tokens();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].user == "admin");
}

TEST_CASE("a login kept by one node is taken by another until it expires, idles or is removed, and a removed administrator's logins go with them") {
  const database db(GENERATE(as<std::string>{}, "sqlite", "postgresql"));
  registry a(db.open()), b(db.open());
  a.add_login("sha-1", {"nina", now + 3600, now, "pw-1"}, now);
  a.add_login("sha-2", {"nina", now + 3600, now, "pw-1"}, now);
  a.add_login("sha-3", {"olga", now + 10, now, "pw-1"}, now);
  auto l = b.check_login("sha-1", 0, now + 100, 1800);
  REQUIRE(l);
  CHECK(l->user == "nina");
  CHECK(l->expires == now + 3600);
  CHECK(l->password == "pw-1");  // (which password it was made with: a node holding another refuses it)
  CHECK_FALSE(b.check_login("sha-x", 0, now, 1800));  // (a token nobody made)
  // Idle at the registry, but used at a node meanwhile: still valid, and now used.
  CHECK(b.check_login("sha-1", now + 1700, now + 1900, 1800));
  CHECK(a.check_login("sha-1", 0, now + 3000, 1800));
  CHECK_FALSE(a.check_login("sha-2", 0, now + 1900, 1800));  // idle: gone
  CHECK_FALSE(a.check_login("sha-2", now + 1899, now + 1900, 1800));  // (and removed)
  CHECK_FALSE(b.check_login("sha-3", 0, now + 10, 1800));   // expired
  b.remove_login("sha-1");
  CHECK_FALSE(a.check_login("sha-1", now + 3000, now + 3000, 1800));

  CHECK(a.add_administrator({"nina", "operator", "hash-1", "admin", now}) == std::nullopt);
  CHECK(a.add_administrator({"nina", "admin", "hash-2", "admin", now}) == "administrator nina exists already");
  const auto before = b.rules_revision();
  a.add_login("sha-4", {"nina", now + 3600, now, "pw-1"}, now);
  CHECK(b.set_password("nina", "hash-3"));
  CHECK(a.rules_revision() > before);  // (every node reads its administrators again)
  CHECK_FALSE(a.check_login("sha-4", 0, now, 1800));  // a new password ends the logins
  const auto admins = a.administrators();
  REQUIRE(admins.size() == 1);
  CHECK(admins[0].password_hash == "hash-3");
  CHECK(admins[0].role == "operator");
  a.add_login("sha-5", {"nina", now + 3600, now, "pw-1"}, now);
  REQUIRE(a.add_folder("lab", "admin", now) == std::nullopt);
  REQUIRE(a.put_rule({"user:nina", "lab", folder_right::manage, true, "admin", now}) == std::nullopt);
  REQUIRE(a.add_member("helpdesk", "nina"));
  CHECK(b.remove_administrator("nina"));
  CHECK_FALSE(b.remove_administrator("nina"));
  // Her rights and memberships went with her: a nina made later starts with none.
  CHECK(a.rules().rules.empty());
  CHECK_FALSE(a.rules().groups.contains("helpdesk"));
  CHECK_FALSE(a.set_password("nina", "hash-4"));
  CHECK_FALSE(a.check_login("sha-5", 0, now, 1800));
  a.add_login("sha-6", {"carl", now + 3600, now, "pw-1"}, now);
  a.remove_logins_of({"carl"});
  CHECK_FALSE(a.check_login("sha-6", 0, now, 1800));
}
