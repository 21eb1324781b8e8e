// Limits and failure penalties count clients by client_key(): an IPv6 client by its /64, so that
// an attacker who owns a prefix cannot rotate addresses within it.
#include "framework/tcp_stream.hpp"

#include <catch2/catch.hpp>

using namespace shadowlink;

TEST_CASE("an IPv4 client is counted by its address, an IPv6 client by the /64 it lies in") {
  CHECK(client_key("10.0.0.7:443") == "10.0.0.7");
  CHECK(client_key("10.0.0.8:443") != client_key("10.0.0.7:443"));
  const auto one = client_key("[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:443");
  CHECK(one == "2001:db8:1:2::/64");
  // Another address in the same /64 (what a rotating attacker would take) counts as the same client ...
  CHECK(client_key("[2001:db8:1:2::1]:50000") == one);
  // ... one in the next /64 does not.
  CHECK(client_key("[2001:db8:1:3::1]:50000") != one);
}

TEST_CASE("an IPv4-mapped IPv6 client counts as its IPv4 address, and a peer that is no address as itself") {
  CHECK(client_key("[::ffff:10.0.0.7]:443") == "10.0.0.7");
  CHECK(client_key("fuzzer") == "fuzzer");
  CHECK(client_key("") == "");
}
