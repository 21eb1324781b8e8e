#pragma once
// The benchmarks' viewer: opens a shadow session the real way (REST, then the tunnel WebSocket),
// and reads the UMS's REST lists.
#include "framework/https_client.hpp"
#include "framework/ws_stream.hpp"

namespace shadowlink::bench {

struct ums_access {
  std::string host, port, token;
};

// POST /api/v1/sessions for `device`, then connects the returned tunnel (for an OS 11 device: the
// TLS tunnel into its legacy port, certificate pinned, with the session password). Throws on refusal.
awaitable<stream_ptr> open_shadow_session(tls_client& tls, const ums_access& ums, const std::string& device);

// The Web App's way: log in with user and password for the session cookie, then open the page's
// WebSocket with that cookie and the page's Origin.
awaitable<stream_ptr> open_webapp_session(tls_client& tls, const ums_access& ums, const std::string& device,
                                          const std::string& user, const std::string& password);

// GET `path` with the API token; the body (throws unless 200).
awaitable<std::string> rest_get(tls_client& tls, const ums_access& ums, const std::string& path);

}  // namespace shadowlink::bench
