#include "framework/config.hpp"

#include <catch2/catch.hpp>

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

TEST_CASE("text that is not JSON is rejected with a parse error") {
  CHECK_THAT(error_of("{services: ["), Catch::StartsWith("config: not valid JSON"));
}
