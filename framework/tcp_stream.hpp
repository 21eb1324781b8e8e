#pragma once
#include "framework/stream.hpp"

namespace shadowlink {

std::string endpoint_string(const tcp::socket& s);

// Plain TCP; Nagle is off because tunnels carry small interactive messages.
stream_ptr make_tcp_stream(tcp::socket s);

// Resolves and connects with a deadline; throws system_error (timed_out on deadline).
awaitable<tcp::socket> connect_tcp(std::string_view host, std::string_view port, clock::duration deadline);

}  // namespace shadowlink
