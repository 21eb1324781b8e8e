#include "framework/log.hpp"

#include <catch2/catch.hpp>

#include <regex>

using namespace shadowlink;

TEST_CASE("a log line starts with the UTC date and time in ISO 8601, then the level and the scope") {
  auto line = log::format(log::level::warn, "icg", "device connection refused");
  CHECK(std::regex_match(line, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARN  \[icg\] device connection refused)")));
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
