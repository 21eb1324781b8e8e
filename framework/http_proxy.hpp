#pragma once
// Outbound connections through an HTTP CONNECT proxy (the field's most common obstacle between a
// device or a UMS and its gateway).
#include "framework/net.hpp"

#include <string>

namespace shadowlink {

// `proxy` is "http://HOST:PORT" (or "HOST:PORT"). Returns a socket tunnelled to host:port, ready
// for TLS. Throws system_error with the proxy's answer if it refuses.
awaitable<tcp::socket> connect_via_proxy(const std::string& proxy, std::string_view host, std::string_view port,
                                         clock::duration deadline);

// Checks a proxy setting; returns an empty string if fine, else the reason.
std::string check_proxy(const std::string& proxy);

}  // namespace shadowlink
