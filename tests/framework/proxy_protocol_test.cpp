#include "framework/proxy_protocol.hpp"

#include <catch2/catch.hpp>

#include <vector>

using namespace shadowlink;
namespace pp = shadowlink::proxy_protocol;

namespace {
// A header as haproxy's send-proxy-v2 writes it (spec §2.2): signature, version/command, family, length, addresses.
std::vector<std::uint8_t> v2_header(std::uint8_t command, std::uint8_t family, std::vector<std::uint8_t> addresses) {
  std::vector<std::uint8_t> h{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
                              static_cast<std::uint8_t>(0x20 | command), family,
                              static_cast<std::uint8_t>(addresses.size() >> 8), static_cast<std::uint8_t>(addresses.size() & 0xFF)};
  for (auto b : addresses) h.push_back(b);  // (not insert: g++ 12 warns falsely about its memcpy bounds)
  return h;
}
std::vector<std::uint8_t> ipv4_addresses() {
  // source 192.0.2.7:51000, destination 198.51.100.1:443
  return {192, 0, 2, 7, 198, 51, 100, 1, 0xC7, 0x38, 0x01, 0xBB};
}
std::string error_of(const std::vector<std::uint8_t>& h) {
  try {
    pp::client_of(h);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("a PROXY v2 header names the client's IPv4 or IPv6 address and port") {
  auto v4 = pp::client_of(v2_header(1, 0x11, ipv4_addresses()));
  REQUIRE(v4);
  CHECK(v4->address().to_string() == "192.0.2.7");
  CHECK(v4->port() == 51000);

  std::vector<std::uint8_t> six(36, 0);
  six[0] = 0x20; six[1] = 0x01; six[2] = 0x0d; six[3] = 0xb8; six[15] = 0x05;  // 2001:db8::5
  six[32] = 0x1F; six[33] = 0x90;                                            // port 8080
  auto v6 = pp::client_of(v2_header(1, 0x21, six));
  REQUIRE(v6);
  CHECK(v6->address().to_string() == "2001:db8::5");
  CHECK(v6->port() == 8080);

  CHECK_FALSE(pp::client_of(v2_header(0, 0x00, {})));  // LOCAL: the balancer's own health check
  // TLVs after the addresses are allowed and skipped.
  auto with_tlv = ipv4_addresses();
  for (std::uint8_t b : {0x04, 0x00, 0x01, 0x00}) with_tlv.push_back(b);
  CHECK(pp::client_of(v2_header(1, 0x11, with_tlv))->address().to_string() == "192.0.2.7");
}

TEST_CASE("anything but a well-formed PROXY v2 header is refused with what is wrong") {
  const auto good = v2_header(1, 0x11, ipv4_addresses());
  auto bad_signature = good;
  bad_signature[0] = 'G';  // "GET ..." or a TLS hello from a client that is not the balancer
  REQUIRE(bad_signature != good);
  CHECK_THAT(error_of(bad_signature), Catch::Contains("not a PROXY protocol v2 header"));
  auto version1 = good;
  version1[12] = 0x11;
  CHECK_THAT(error_of(version1), Catch::Contains("version other than 2"));
  auto bad_command = good;
  bad_command[12] = 0x22;
  CHECK_THAT(error_of(bad_command), Catch::Contains("neither LOCAL nor PROXY"));
  auto too_long = good;
  too_long[14] = 0x10;  // 4 KiB of addresses announced
  CHECK_THAT(error_of(too_long), Catch::Contains("too long"));
  auto cut = good;
  cut.pop_back();
  CHECK_THAT(error_of(cut), Catch::Contains("does not match"));
  CHECK_THAT(error_of(v2_header(1, 0x11, {192, 0, 2, 7})), Catch::Contains("cut short"));
  CHECK(error_of(good).empty());  // the positive control
}
