#include "protocol/up_message.hpp"

#include <catch2/catch.hpp>

using namespace shadowlink;

TEST_CASE("a shadow request survives a round trip through JSON") {
  up::message m;
  m.type = up::kind::shadow_request;
  m.session_id = "s-1";
  m.tunnel_url = "wss://ums:8443/tunnel/s-1";
  m.token = "abc";
  m.view_only = true;
  m.user = "admin \"quoted\"";
  auto back = up::parse(up::serialize(m));
  CHECK(back.type == up::kind::shadow_request);
  CHECK(back.session_id == "s-1");
  CHECK(back.tunnel_url == m.tunnel_url);
  CHECK(back.token == "abc");
  CHECK(back.view_only);
  CHECK_FALSE(back.recorded);
  CHECK(back.user == m.user);
  m.recorded = true;
  CHECK(up::parse(up::serialize(m)).recorded);
}

TEST_CASE("malformed UP messages are rejected with a reason, never a crash") {
  CHECK_THROWS_WITH(up::parse("not json"), Catch::StartsWith("not JSON"));
  CHECK_THROWS_WITH(up::parse("[1,2]"), "a message must be a JSON object");
  CHECK_THROWS_WITH(up::parse(R"({"v":2,"type":"hello"})"), "unsupported protocol version 2 (expected 1)");
  CHECK_THROWS_WITH(up::parse(R"({"v":1,"type":"teleport"})"), "unknown message type 'teleport'");
  CHECK_THROWS_WITH(up::parse(R"({"v":1,"type":"hello"})"), "missing field 'device_id'");
  CHECK_THROWS_WITH(up::parse(R"({"v":1,"type":"hello","device_id":7,"credential":"c"})"),
                    "field 'device_id' must be a string");
  CHECK_THROWS_WITH(up::parse(std::string(20000, ' ')), "message too large");
}

// Found by tests/fuzz/up_message_fuzz.cpp: an empty token was accepted, then dropped when the
// message was written again (a relayed request arrived without its token).
TEST_CASE("a required field that is present but empty is refused, so that every accepted message survives being relayed") {
  const std::string genuine = R"({"v":1,"type":"shadow_request","session_id":"s-1","token":"t-1"})";
  const std::string empty_token = R"({"v":1,"type":"shadow_request","session_id":"s-1","token":""})";
  REQUIRE(empty_token != genuine);
  CHECK(up::parse(up::serialize(up::parse(genuine))).token == "t-1");
  CHECK_THROWS_WITH(up::parse(empty_token), "field 'token' must not be empty");
  CHECK_THROWS_WITH(up::parse(R"({"v":1,"type":"hello","device_id":""})"), "field 'device_id' must not be empty");
}

TEST_CASE("gateway hellos and verdicts carry the id of the link they are about, and cannot omit it") {
  up::message m;
  m.type = up::kind::device_accepted;
  m.device_id = "remote-1";
  m.link = 17;
  auto back = up::parse(up::serialize(m));
  CHECK(back.type == up::kind::device_accepted);
  CHECK(back.link == 17);
  CHECK_THROWS_WITH(up::parse(R"({"v":1,"type":"device_accepted","device_id":"remote-1"})"),
                    "field 'link' must be a link id (a positive number)");
  CHECK_THROWS_WITH(up::parse(R"({"v":1,"type":"device_hello","device_id":"d","credential":"c","link":0})"),
                    "field 'link' must be a link id (a positive number)");
  CHECK_THROWS_WITH(up::parse(R"({"v":1,"type":"device_offline","device_id":"d","link":"17"})"),
                    "field 'link' must be a number");
}

TEST_CASE("a device's note that it is asking its user names the session and survives a round trip") {
  up::message m;
  m.type = up::kind::shadow_asking;
  m.session_id = "s-0123456789ab";
  auto back = up::parse(up::serialize(m));
  CHECK(back.type == up::kind::shadow_asking);
  CHECK(back.session_id == m.session_id);
  CHECK_THROWS_AS(up::parse(R"({"v":1,"type":"shadow_asking"})"), up::protocol_error);
}

TEST_CASE("a device's yes passed between UMS nodes keeps the OS 11 port and certificate its node added") {
  up::message m;
  m.type = up::kind::shadow_accepted;
  m.session_id = "s-0123456789ab";
  m.address = "10.0.0.7:5900";
  m.pin = "ab:cd";
  auto back = up::parse(up::serialize(m));
  CHECK(back.type == up::kind::shadow_accepted);
  CHECK(back.address == m.address);
  CHECK(back.pin == m.pin);
  // A device's own yes has neither.
  m.address.clear();
  m.pin.clear();
  CHECK(up::parse(up::serialize(m)).address.empty());
}

TEST_CASE("a device's certificate request and its answer survive a round trip, and a gateway's hello carries a credential or a fingerprint, never neither") {
  up::message req;
  req.type = up::kind::certificate_request;
  req.csr = "-----BEGIN CERTIFICATE REQUEST-----\nMII...\n-----END CERTIFICATE REQUEST-----\n";
  req.device_id = "remote-1";
  req.link = 9;
  auto back = up::parse(up::serialize(req));
  CHECK(back.type == up::kind::certificate_request);
  CHECK(back.csr == req.csr);
  CHECK(back.device_id == "remote-1");
  CHECK(back.link == 9);
  CHECK_THROWS_WITH(up::parse(R"({"v":1,"type":"certificate_request"})"), "missing field 'csr'");
  up::message cert;
  cert.type = up::kind::certificate;
  cert.certificate = "-----BEGIN CERTIFICATE-----\nMII...\n-----END CERTIFICATE-----\n";
  CHECK(up::parse(up::serialize(cert)).certificate == cert.certificate);
  CHECK_THROWS_WITH(up::parse(R"({"v":1,"type":"certificate"})"), "missing field 'certificate'");

  const auto fp = std::string(64, 'a');
  auto by_cert = up::parse(R"({"v":1,"type":"device_hello","device_id":"d","fingerprint":")" + fp + R"(","link":3})");
  CHECK(by_cert.fingerprint == fp);
  CHECK(by_cert.credential.empty());
  CHECK_THROWS_WITH(up::parse(R"({"v":1,"type":"device_hello","device_id":"d","link":3})"), Catch::Contains("either 'credential' or 'fingerprint'"));
  CHECK_THROWS_WITH(up::parse(R"({"v":1,"type":"device_hello","device_id":"d","credential":"c","fingerprint":"f","link":3})"),
                    Catch::Contains("either 'credential' or 'fingerprint'"));
  // A hello without a credential parses: the server refuses it unless the TLS handshake carried the device's certificate.
  CHECK(up::parse(R"({"v":1,"type":"hello","device_id":"d"})").credential.empty());
}

TEST_CASE("a device's settings survive a round trip whether sent by REST, over its link or relayed by a gateway, and a UMS's welcome says where they go") {
  up::message m;
  m.type = up::kind::device_settings;
  m.device_id = "tc-9";
  m.name = "Front desk";
  m.os = "11";
  m.agent = "shadowlink-device/0.1";
  m.mac = "52:54:00:12:34:56";
  m.ip = "10.0.0.7";
  m.address = "10.0.0.7:5901";
  m.pin = std::string(64, 'b');
  m.link = 12;  // as a gateway relays it
  CHECK(up::parse(up::serialize(m)) == m);
  m.link = 0;  // as the device sends it
  CHECK(up::serialize(m).find("\"link\"") == std::string::npos);
  CHECK(up::parse(up::serialize(m)) == m);
  CHECK_THROWS_WITH(up::parse(R"({"v":1,"type":"device_settings","name":"x"})"), "missing field 'device_id'");
  CHECK_THROWS_WITH(up::parse(R"({"v":1,"type":"device_settings","device_id":"d","os":"11"})"), Catch::Contains("legacy shadowing port"));
  CHECK_THROWS_WITH(up::parse(R"({"v":1,"type":"device_settings","device_id":"d","ip":")" + std::string(65, '1') + R"("})"),
                    Catch::Contains("at most 64"));

  auto welcome = up::parse(up::serialize(up::welcome_message(30, "/api/v1/device/settings")));
  CHECK(welcome.heartbeat_s == 30);
  CHECK(welcome.settings_path == "/api/v1/device/settings");
  CHECK(up::parse(up::serialize(up::welcome_message(30))).settings_path.empty());  // a gateway's: over the link
  CHECK_THROWS_WITH(up::parse(R"({"v":1,"type":"welcome","heartbeat_s":30,"settings_path":"https://elsewhere/"})"), Catch::Contains("must be a path"));
}
