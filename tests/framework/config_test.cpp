#include "framework/config.hpp"
#include "framework/token.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

using namespace shadowlink;

namespace {
std::string error_of(std::string_view json) {
  try {
    auto c = config_file::parse(json);
    for (auto& s : c.services) {
      s.options.port("port", 8443);
      s.options.finish();
    }
  } catch (const config_error& e) {
    return e.what();
  }
  return "no error";
}
}  // namespace

TEST_CASE("a valid config lists its service instances with their names and settings") {
  auto c = config_file::parse(R"({"log_level":"debug","services":[
      {"type":"ums","name":"ums-a","settings":{"port":9443}},
      {"type":"device","name":"dev-1"},{"type":"device","name":"dev-2"}]})");
  REQUIRE(c.services.size() == 3);
  CHECK(c.log_level == "debug");
  CHECK(c.services[0].name == "ums-a");
  CHECK(c.services[0].options.port("port", 1) == 9443);
  CHECK(c.services[2].options.port("port", 7) == 7);
  CHECK_NOTHROW(c.services[0].options.finish());
}

TEST_CASE("an unknown key is an error that names the key and its path") {
  CHECK(error_of(R"({"services":[{"type":"ums","settings":{"prot":1}}]})") ==
        "config.services[0].settings.prot: unknown key");
  CHECK(error_of(R"({"services":[],"colour":"red"})") == "config.colour: unknown key");
}

TEST_CASE("a setting of the wrong type or range is an error naming the key") {
  CHECK(error_of(R"({"services":[{"type":"ums","settings":{"port":"x"}}]})") ==
        "config.services[0].settings.port: expected an integer in 0..65535");
  CHECK(error_of(R"({"services":[{"type":"ums","settings":{"port":70000}}]})") ==
        "config.services[0].settings.port: expected an integer in 0..65535");
  CHECK(error_of(R"({"log_level":"loud","services":[]})") == "config.log_level: expected one of debug, info, warn, error");
}

TEST_CASE("duplicate service names, a missing type and a missing service list are rejected") {
  CHECK(error_of(R"({"services":[{"type":"ums"},{"type":"ums"}]})") ==
        "config.services[1].name: duplicate service name 'ums'");
  CHECK(error_of(R"({"services":[{"name":"x"}]})") == "config.services[0].type: is required");
  CHECK(error_of(R"({})") == "config.services: is required (a list of service instances)");
}

TEST_CASE("a key given twice in one object is an error naming it, at the top, in a service's settings and in a nested entry") {
  CHECK(error_of(R"({"log_level":"info","services":[],"log_level":"debug"})") ==
        "config.log_level: given twice in one object (which one counts?)");
  CHECK(error_of(R"({"services":[{"type":"ums","settings":{"port":1,"port":2}}]})") ==
        "config.services[0].settings.port: given twice in one object (which one counts?)");
  CHECK(error_of(R"({"services":[{"type":"ums","type":"icg"}]})") ==
        "config.services[0].type: given twice in one object (which one counts?)");
  auto c = config_file::parse(R"({"services":[{"type":"ums","settings":{"users":[{"user":"a"},{"user":"b","user":"c"}]}}]})");
  try {
    c.services[0].options.objects("users");
    FAIL("a duplicate key in a nested entry passed");
  } catch (const config_error& e) {
    CHECK(std::string(e.what()) == "config.services[0].settings.users[1].user: given twice in one object (which one counts?)");
  }
}

TEST_CASE("a typo in a nested entry is found by the service's finish, without a call for each entry") {
  auto c = config_file::parse(R"({"services":[{"type":"ums","settings":{"users":[{"user":"a"},{"user":"b","rol":"x"}],
      "limits":{"total":1,"totl":2}}}]})");
  auto& s = c.services[0].options;
  for (auto& u : s.objects("users")) u.str("user", "");
  s.object("limits")->integer("total", 0, 0, 10);
  try {
    s.finish();
    FAIL("a nested unknown key passed");
  } catch (const config_error& e) {
    // The first nested key by name: "limits" sorts before "users".
    CHECK(std::string(e.what()) == "config.services[0].settings.limits.totl: unknown key");
  }
  s.object("limits")->integer("totl", 0, 0, 10);  // the same object again: what it read adds up
  try {
    s.finish();
    FAIL("a nested unknown key passed");
  } catch (const config_error& e) {
    CHECK(std::string(e.what()) == "config.services[0].settings.users[1].rol: unknown key");
  }
  s.objects("users")[1].str("rol", "");
  CHECK_NOTHROW(s.finish());
}

TEST_CASE("a setting read into its field takes the field's initializer as its default") {
  auto c = config_file::parse(R"({"services":[{"type":"ums","settings":{"a_s":7,"b_ms":250,"n":3}}]})");
  auto& s = c.services[0].options;
  std::chrono::steady_clock::duration a = std::chrono::seconds(60), b = std::chrono::seconds(1), absent = std::chrono::seconds(42);
  int n = 1, m = 9;
  s.seconds("a_s", a, 1, 100);
  s.milliseconds("b_ms", b, 1, 1000);
  s.seconds("absent_s", absent, 1, 100);
  s.number("n", n, 0, 10);
  s.number("m", m, 0, 10);
  CHECK(a == std::chrono::seconds(7));
  CHECK(b == std::chrono::milliseconds(250));
  CHECK(absent == std::chrono::seconds(42));
  CHECK(n == 3);
  CHECK(m == 9);
  CHECK(error_of(R"({"services":[{"type":"ums","settings":{"port":1}}],"shutdown_grace_ms":-1})") ==
        "config.shutdown_grace_ms: expected an integer in 0..600000");
}

TEST_CASE("text that is not JSON is rejected with a parse error") {
  CHECK_THAT(error_of("{services: ["), Catch::StartsWith("config: not valid JSON"));
}

TEST_CASE("a secret comes from a file only its owner can read, and inline only where allowed (the demo), and never both, never from a file others can read") {
  const auto dir = std::filesystem::temp_directory_path() / ("shadowlink-secret-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "credential";
  std::ofstream(file) << "s3cret-from-a-file\n";
  std::filesystem::permissions(file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto secret_of = [](const std::string& json, bool allow_inline = false) {
    simdjson::dom::parser p;
    settings s(p.parse(json).get_object().value(), "settings");
    return s.secret("credential", allow_inline);
  };
  CHECK(secret_of(R"({"credential_file": ")" + file.string() + R"("})") == "s3cret-from-a-file");
  CHECK(secret_of(R"({"credential": "inline"})", true) == "inline");
  auto error_of_secret = [&](const std::string& json) {
    try {
      secret_of(json);
    } catch (const config_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error_of_secret(R"({"credential": "x", "credential_file": ")" + file.string() + R"("})") ==
        "settings.credential: give either credential or credential_file, not both");
  std::filesystem::permissions(file, std::filesystem::perms::group_read, std::filesystem::perm_options::add);
  CHECK(error_of_secret(R"({"credential_file": ")" + file.string() + R"("})").ends_with("is readable by others: chmod 600 it (only the service's user may read a secret)"));
  CHECK(error_of_secret(R"({"credential_file": ")" + (dir / "missing").string() + R"("})").starts_with("settings.credential_file: cannot read"));
  CHECK(error_of_secret(R"({})") == "settings.credential_file: is required");
  CHECK(error_of_secret(R"({"credential": "inline"})") ==
        "settings.credential: plain-text secrets are refused in the main config: put it in a file only the service's user can read and name it in credential_file");
  std::filesystem::remove_all(dir);
}

TEST_CASE("what a server checks a peer's secret against is its SHA-256, and plain text only where allowed, and hashed at once") {
  const std::string secret = "device-credential-0123";
  const std::string genuine = "c0e6d6c1b53c1ac87d56e8f08aa0f1b25e9c4c9e5d9f46d8a6d1c1e3b7f8a9d0";  // any well-formed hash
  auto verifier_of = [](const std::string& json, bool allow_plain) {
    simdjson::dom::parser p;
    settings s(p.parse(json).get_object().value(), "settings");
    try {
      return s.verifier("credential", allow_plain);
    } catch (const config_error& e) {
      return std::string(e.what());
    }
  };
  CHECK(verifier_of(R"({"credential_sha256": ")" + genuine + R"("})", false) == genuine);
  // The plain text allowed in the demo is kept only as its hash (sha256sum of the same text).
  CHECK(verifier_of(R"({"credential": ")" + secret + R"("})", true) == sha256_hex(secret));
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(verifier_of(R"({"credential": ")" + secret + R"("})", false) ==
        "settings.credential: plain-text secrets are refused: put \"credential_sha256\" (printf %s SECRET | sha256sum) here instead");
  CHECK(verifier_of(R"({"credential": "short"})", true) == "settings.credential: must be at least 16 characters");
  CHECK(verifier_of(R"({"credential_sha256": ")" + genuine.substr(1) + R"("})", false) ==
        "settings.credential_sha256: expected 64 lowercase hex digits (printf %s SECRET | sha256sum)");
  CHECK(verifier_of(R"({})", false) == "settings.credential_sha256: is required");
}
