#include "framework/log.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include <cctype>
#include <string_view>

using namespace shadowlink;

namespace {
// "YYYY-MM-DDTHH:MM:SS.mmmZ": digits where the pattern has 9, the rest as written. (Not
// std::regex: g++ 12 warns inside it at -O1 with the sanitizers.)
bool is_timestamp(std::string_view s) {
  constexpr std::string_view pattern = "9999-99-99T99:99:99.999Z";
  if (s.size() != pattern.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (pattern[i] == '9' ? !std::isdigit(static_cast<unsigned char>(s[i])) : s[i] != pattern[i]) return false;
  return true;
}
}  // namespace

TEST_CASE("a log line starts with the UTC date and time in ISO 8601, then the level and the scope") {
  auto line = log::format(log::level::warn, "icg", "device connection refused");
  REQUIRE(line.size() > 24);
  CHECK(is_timestamp(std::string_view(line).substr(0, 24)));
  CHECK(line.substr(24) == " WARN  [icg] device connection refused");
  CHECK_FALSE(is_timestamp("2026-11-28T00:00:00.000X"));  // (the check can fail)
}

TEST_CASE("text a peer chose cannot start a forged log line or hide part of one") {
  const std::string forged = "dev-1\n2026-11-28T00:00:00.000Z INFO  [ums] AUDIT session ended\r\x1b[2K\x7f\\";
  auto line = log::format(log::level::info, "ums", "device " + forged + " refused");
  CHECK(line.find('\n') == std::string::npos);
  CHECK(line.find('\r') == std::string::npos);
  CHECK(line.find('\x1b') == std::string::npos);
  CHECK(line.find('\x7f') == std::string::npos);
  CHECK(line.ends_with(R"(device dev-1\x0a2026-11-28T00:00:00.000Z INFO  [ums] AUDIT session ended\x0d\x1b[2K\x7f\\ refused)"));
  // The escaping is reversible: a backslash in the original is doubled, so "\x0a" typed by a peer
  // reads differently from an escaped newline.
  CHECK(log::escape(R"(a\x0ab)") == R"(a\\x0ab)");
  CHECK(log::escape("grüße, 設備") == "grüße, 設備");  // UTF-8 stays readable
  CHECK(log::escape(std::string("nul\0byte", 8)) == R"(nul\x00byte)");
  CHECK(log::format(log::level::info, "scope\nforged", "m").find("[scope\\x0aforged]") != std::string::npos);
}

TEST_CASE("in json format a log line is one JSON object, and a session's lines carry its device and user") {
  log::session_fields("s-abc123", "tc-1", "alice");
  const auto line = log::format_json(log::level::warn, "ums/s-abc123", "asking the device\nforged line");
  CHECK(line.find('\n') == std::string::npos);
  const auto v = boost::json::parse(line).as_object();
  CHECK(is_timestamp(v.at("time").as_string()));
  CHECK(v.at("level").as_string() == "warn");
  CHECK(v.at("scope").as_string() == "ums/s-abc123");
  CHECK(v.at("session").as_string() == "s-abc123");
  CHECK(v.at("device").as_string() == "tc-1");
  CHECK(v.at("user").as_string() == "alice");
  CHECK(v.at("message").as_string() == "asking the device\nforged line");
  // Another scope, and the same one once the session is forgotten, carry no session fields.
  CHECK_FALSE(boost::json::parse(log::format_json(log::level::info, "ums/s-other", "m")).as_object().contains("device"));
  log::forget_session("s-abc123");
  CHECK_FALSE(boost::json::parse(log::format_json(log::level::info, "ums/s-abc123", "m")).as_object().contains("device"));
  // Bytes a peer chose that are not UTF-8 (here a name cut inside "ü") cannot make the line invalid JSON.
  const auto cut = boost::json::parse(log::format_json(log::level::info, "ums", "user gr\xc3 and \xff, grüße")).as_object();
  CHECK(cut.at("message").as_string() == "user gr\xef\xbf\xbd and \xef\xbf\xbd, grüße");
  CHECK(log::parse_format("json") == log::format_kind::json);
  CHECK_THROWS_AS(log::parse_format("xml"), std::invalid_argument);
}
