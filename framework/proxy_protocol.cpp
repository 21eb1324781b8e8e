#include "framework/proxy_protocol.hpp"

#include "framework/deadline.hpp"
#include "framework/errors.hpp"

#include <boost/asio/read.hpp>

#include <array>
#include <vector>

namespace shadowlink::proxy_protocol {
namespace {

constexpr std::array<std::uint8_t, 12> signature{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }

awaitable<void> read_exactly(tcp::socket& s, std::uint8_t* to, std::size_t n) {
  co_await net::async_read(s, net::buffer(to, n), use_awaitable);
}

}  // namespace

std::size_t remaining_after_prefix(std::span<const std::uint8_t, prefix_bytes> prefix) {
  if (!std::equal(signature.begin(), signature.end(), prefix.begin())) fail("not a PROXY protocol v2 header");
  if ((prefix[12] & 0xF0) != 0x20) fail("PROXY protocol version other than 2");
  const auto command = prefix[12] & 0x0F;
  if (command > 1) fail("PROXY protocol command neither LOCAL nor PROXY");
  const std::size_t len = be16(&prefix[14]);
  if (prefix_bytes + len > max_header_bytes) fail("PROXY protocol header too long");
  return len;
}

std::optional<tcp::endpoint> client_of(std::span<const std::uint8_t> header) {
  if (header.size() < prefix_bytes) fail("PROXY protocol header cut short");
  const auto rest = remaining_after_prefix(header.first<prefix_bytes>());
  if (header.size() != prefix_bytes + rest) fail("PROXY protocol header length does not match");
  if ((header[12] & 0x0F) == 0) return std::nullopt;  // LOCAL: the balancer's own connection
  const auto* a = header.data() + prefix_bytes;
  switch (header[13]) {
    case 0x11: {  // TCP over IPv4: source, destination addresses, then ports
      if (rest < 12) fail("PROXY protocol IPv4 addresses cut short");
      net::ip::address_v4::bytes_type b;
      std::copy(a, a + 4, b.begin());
      return tcp::endpoint(net::ip::address_v4(b), be16(a + 8));
    }
    case 0x21: {  // TCP over IPv6
      if (rest < 36) fail("PROXY protocol IPv6 addresses cut short");
      net::ip::address_v6::bytes_type b;
      std::copy(a, a + 16, b.begin());
      return tcp::endpoint(net::ip::address_v6(b), be16(a + 32));
    }
    default: return std::nullopt;  // UNSPEC, UDP, Unix: no client address to take
  }
}

awaitable<std::optional<tcp::endpoint>> read_header(tcp::socket& s, clock::duration deadline) {
  std::vector<std::uint8_t> header(prefix_bytes);
  const auto until = clock::now() + deadline;
  co_await with_deadline(read_exactly(s, header.data(), prefix_bytes), until - clock::now(), "waiting for the PROXY protocol header");
  const auto rest = remaining_after_prefix(std::span<const std::uint8_t, prefix_bytes>(header.data(), prefix_bytes));
  header.resize(prefix_bytes + rest);
  if (rest > 0)
    co_await with_deadline(read_exactly(s, header.data() + prefix_bytes, rest), until - clock::now(), "waiting for the PROXY protocol header");
  co_return client_of(header);
}

}  // namespace shadowlink::proxy_protocol
