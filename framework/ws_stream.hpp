#pragma once
// WebSocket (Beast) over TCP or TLS, as a stream (binary messages for tunnels) with a message API
// for text protocols. Keep-alive pings and idle timeouts are always set explicitly, on both ends.
#include "framework/tls.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <map>
#include <string>

namespace shadowlink {

namespace http = boost::beast::http;
using http_request = http::request<http::string_body>;
using http_response = http::response<http::string_body>;

struct ws_options {
  clock::duration handshake_timeout = 10s;
  clock::duration idle_timeout = 30s;  // a ping goes out after half of it without traffic
  std::size_t max_message = 1 << 20;
  bool bulk = true;  // tunnels: no auto-fragmentation and a 64 KiB write buffer
};

class ws_stream : public stream {
 public:
  // Reads one whole message (text or binary); ec set on ending or oversize.
  virtual awaitable<std::string> read_message(error_code& ec) = 0;
  virtual awaitable<void> write_text(std::string_view text, error_code& ec) = 0;
  // The reason the peer gave in its close frame, if it sent one.
  virtual std::string close_reason() const = 0;
  // A client over TLS: the SHA-256 of the server certificate's public key (peer_key_fingerprint),
  // so that what the server asks for can be bound to the key it proved it holds. Empty otherwise.
  // Computed when asked (one caller, once per gateway link), not at every connect.
  virtual std::string server_key_fingerprint() = 0;
  // This end's IP address on the connection ("" if the socket has none): which interface a device
  // reaches its server through.
  virtual std::string local_address() = 0;
};

using ws_ptr = std::unique_ptr<ws_stream>;

// Server side: completes the upgrade of an already-read request. Throws system_error.
// `peer`: the client as the server knows it (behind a load balancer, the PROXY header's address).
awaitable<ws_ptr> accept_ws(std::unique_ptr<tls_socket> s, const http_request& req, const ws_options& o, std::string peer);
awaitable<ws_ptr> accept_ws(tcp::socket s, const http_request& req, const ws_options& o);

struct ws_target {
  bool tls = true;
  std::string host, port, path;  // path includes the query, if any
};
// Parses ws:// or wss:// URLs (Boost.URL); throws std::invalid_argument with the reason.
ws_target parse_ws_url(std::string_view url);
// The same for a URL that carries a token or VNC (a tunnel, a UP link): ws:// is refused.
ws_target parse_wss_url(std::string_view url);

// Client side: connect, TLS (if wss), upgrade with extra request headers. A refused upgrade throws
// system_error whose message holds the HTTP status and the server's reason.
awaitable<ws_ptr> connect_ws(tls_client* tls, const ws_target& t, const std::map<std::string, std::string>& headers,
                             const ws_options& o);

}  // namespace shadowlink
