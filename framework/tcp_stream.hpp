#pragma once
#include "framework/stream.hpp"

#include <boost/asio/local/stream_protocol.hpp>

namespace shadowlink {

std::string endpoint_string(const tcp::socket& s);
// The host part of a peer as endpoint_string() writes it ("HOST:PORT"; "[V6]:PORT" too).
std::string address_of(std::string_view peer);
// What limits and failure penalties count a client under: its IPv4 address, or the /64 its IPv6
// address lies in ("2001:db8:1:2::/64"), since one subscriber is given a whole /64 and could
// otherwise take a fresh address for every attempt. IPv4-mapped IPv6 counts as IPv4; a peer that
// is no address (a test's name) counts as itself.
std::string client_key(std::string_view peer);

// Plain TCP; Nagle is off because tunnels carry small interactive messages.
stream_ptr make_tcp_stream(tcp::socket s);

// One end of a local socket pair (a viewer inside this process); `name` stands for the peer in logs.
stream_ptr make_local_stream(net::local::stream_protocol::socket s, std::string name);

// Resolves and connects with a deadline; throws system_error (timed_out on deadline). With a
// `source` address the connection leaves from it (multi-homed hosts; load generators that spread
// over 127.0.0.x to get past one address's ephemeral ports).
awaitable<tcp::socket> connect_tcp(std::string_view host, std::string_view port, clock::duration deadline,
                                   std::string_view source);
inline awaitable<tcp::socket> connect_tcp(std::string_view host, std::string_view port, clock::duration deadline) {
  return connect_tcp(host, port, deadline, {});
}

// A local server's Unix socket (a VNC server that listens on one: TigerVNC's -rfbunixpath,
// x11vnc's -unixsock); throws system_error (timed_out on deadline).
awaitable<stream_ptr> connect_unix(const std::string& path, clock::duration deadline);

}  // namespace shadowlink
