#pragma once
// A small HTTPS client for REST calls (one request per connection; consoles make few calls).
#include "framework/ws_stream.hpp"

namespace shadowlink {

struct rest_target {
  std::string host, port;
};

// Sends `req` (Host and User-Agent are filled in) and returns the response; the whole exchange is
// bounded by `deadline`. Throws system_error on connection, TLS or protocol failures.
awaitable<http_response> https_request(tls_client& tls, const rest_target& t, http_request req, clock::duration deadline);

}  // namespace shadowlink
