#pragma once
// The PROXY protocol, version 2 (haproxy's `send-proxy-v2`): a TCP load balancer in front of a
// listener prepends a binary header naming the client's address, so per-address limits, logs and
// the audit trail see the client and not the balancer. Accepted only from configured balancer
// addresses (anyone else could claim any address). No Debian library parses it; the format is a
// fixed 16-byte prefix and the addresses (https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt, §2.2).
#include "framework/net.hpp"

#include <cstdint>
#include <optional>
#include <span>

namespace shadowlink::proxy_protocol {

inline constexpr std::size_t prefix_bytes = 16;
inline constexpr std::size_t max_header_bytes = prefix_bytes + 512;  // addresses and TLVs we accept

// From the 16-byte prefix: how many bytes follow it. Throws system_error (protocol_error) naming
// what is wrong if it is not a version 2 PROXY header or announces more than we accept.
std::size_t remaining_after_prefix(std::span<const std::uint8_t, prefix_bytes> prefix);

// The client's endpoint from a whole header (prefix and what follows); nothing for a LOCAL header
// (the balancer's own health check) or an address family other than TCP over IPv4/IPv6.
std::optional<tcp::endpoint> client_of(std::span<const std::uint8_t> header);

// Reads the header from a freshly accepted socket within `deadline` (nothing more is read).
awaitable<std::optional<tcp::endpoint>> read_header(tcp::socket& s, clock::duration deadline);

}  // namespace shadowlink::proxy_protocol
