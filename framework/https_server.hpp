#pragma once
// A TLS listener that accepts, performs the TLS handshake and reads HTTP requests, then routes by
// path: plain HTTP handlers (REST, pages) or WebSocket upgrades handed to a session coroutine.
// Every phase has a deadline; one bad client never affects another.
#include "framework/task_group.hpp"
#include "framework/tls.hpp"
#include "framework/ws_stream.hpp"

#include <boost/beast/http/parser.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace shadowlink {

struct server_limits {
  clock::duration tls_handshake = 10s;
  // A whole request (headers and body) within this, however slowly it trickles in; also how long
  // a keep-alive connection may idle between requests.
  clock::duration request = 30s;
  // An HTTP connection (not a WebSocket) is closed after the answer that ends this: a client that
  // asks something every 29 s cannot hold its connection forever.
  clock::duration keep_alive_lifetime = 10min;
  std::size_t header_bytes = 8 * 1024;
  std::size_t body_bytes = 64 * 1024;
  std::size_t max_connections = 19000;
  // TLS handshakes cost CPU and a half-open one holds a slot until its deadline: at most this many
  // at once on the listener, and from one source address. Connections beyond are closed at once.
  std::size_t max_handshakes = 256;
  std::size_t max_handshakes_per_address = 64;
  // Connections from one address, WebSockets included. Many devices may share one address (a NAT,
  // a proxy, a load balancer): set it to what the network needs.
  std::size_t max_connections_per_address = 4096;
};

// The handed-over upgrade request: the handler checks it, then accepts or rejects.
class ws_upgrade {
 public:
  virtual ~ws_upgrade() = default;
  virtual const http_request& request() const = 0;
  virtual const std::string& peer() const = 0;
  // The certificate the client presented in the TLS handshake (verified against the server's
  // client CA); empty if none.
  virtual const peer_certificate& client_certificate() const = 0;
  virtual awaitable<ws_ptr> accept(const ws_options& o) = 0;
  // Answers with an HTTP error and a JSON body {"error": reason}; the connection then closes.
  virtual awaitable<void> reject(http::status status, std::string_view reason) = 0;
};

using http_handler = std::function<awaitable<http_response>(const http_request&, const std::string& peer)>;
// A handler that also sees the certificate the client presented in the TLS handshake (verified
// against the client CA; empty if none): REST for devices, which authenticate with theirs.
using http_cert_handler = std::function<awaitable<http_response>(const http_request&, const std::string& peer, const peer_certificate&)>;
using ws_handler = std::function<awaitable<void>(ws_upgrade&)>;

class https_server {
 public:
  https_server(task_group& tasks, std::shared_ptr<net::ssl::context> tls, std::string scope, server_limits limits = {});

  // Routes match on a path prefix; the longest matching prefix wins.
  void add_http(std::string prefix, http_handler h);
  void add_http_with_certificate(std::string prefix, http_cert_handler h);
  void add_ws(std::string prefix, ws_handler h);

  // Connections from these addresses (TCP load balancers) start with a PROXY protocol v2 header
  // naming the client: limits, logs and handlers then see the client's address. From anyone else
  // a header is not expected (and would fail the TLS handshake).
  void accept_proxy_protocol_from(std::vector<net::ip::address> balancers) { balancers_ = std::move(balancers); }

  // From the next connection on, handshakes use this context (a new certificate); connections
  // already open keep theirs.
  void set_tls(std::shared_ptr<net::ssl::context> tls) { tls_ = std::move(tls); }

  // Binds now (throws system_error naming the address if it cannot) and accepts in the background.
  void listen(const std::string& address, unsigned short port);
  void stop();
  unsigned short port() const { return port_; }
  std::size_t connections() const { return connections_; }
  std::size_t handshakes() const { return handshakes_; }
  // Connections closed at accept because a limit was reached.
  std::uint64_t refused() const { return refused_; }

 private:
  awaitable<void> accept_loop(std::shared_ptr<tcp::acceptor> acc);
  // from_balancer: the connection starts with a PROXY header naming the client.
  awaitable<void> serve(tcp::socket s, bool from_balancer);
  struct upgrade_request {
    http_request request;
    const ws_handler* handler;
  };
  awaitable<std::optional<upgrade_request>> serve_requests(tls_socket& s, const std::string& peer, const peer_certificate& cert,
                                                            clock::time_point opened);

  task_group& tasks_;
  std::shared_ptr<net::ssl::context> tls_;
  std::string scope_;
  server_limits limits_;
  std::vector<std::pair<std::string, http_cert_handler>> http_routes_;
  std::vector<std::pair<std::string, ws_handler>> ws_routes_;
  std::shared_ptr<tcp::acceptor> acceptor_;
  unsigned short port_ = 0;
  std::size_t connections_ = 0;
  std::size_t handshakes_ = 0;
  std::uint64_t refused_ = 0;
  clock::time_point last_refusal_log_{};
  // Per source address: connections and handshakes in progress (entries removed at zero: bounded
  // by the connections themselves).
  struct per_address {
    std::size_t connections = 0, handshakes = 0;
  };
  std::map<std::string, per_address, std::less<>> addresses_;
  std::vector<net::ip::address> balancers_;
  // Which limit a new connection from `address` would break (nullptr: none).
  const char* full_for(const std::string& address) const;
  void refuse(tcp::socket& sock, const std::string& peer, const char* limit);
  // Handshakes run here (accept_tls), off the event loop. One thread: the event loop is one too,
  // so handshakes never had more than a core. Last member: joined before the counters it feeds.
  net::thread_pool handshake_pool_{1};
};

// JSON responses (bodies written with Boost.JSON by the callers).
http_response json_response(const http_request& req, http::status status, std::string body);
http_response error_response(const http_request& req, http::status status, std::string_view message);
std::string error_json(std::string_view message);
// The token of an "Authorization: Bearer TOKEN" header; empty without one.
std::string_view bearer_token(const http_request& req);
// The value of the cookie `name` in the request's Cookie header; empty without one.
std::string_view cookie_value(const http_request& req, std::string_view name);
// Browsers attach cookies to requests that other sites make them send (cross-site request
// forgery): whether the request comes from a page of one of `origins` (scheme://host:port).
bool same_site_request(const http_request& req, const std::vector<std::string>& origins);

// The limits of server_limits on a request parser (what every request is read with).
void apply_request_limits(http::request_parser<http::string_body>& parser, const server_limits& limits);

// The handler whose prefix is the longest that `path` starts with; nullptr if none.
template <class H>
const H* longest_prefix_route(const std::vector<std::pair<std::string, H>>& table, std::string_view path) {
  const H* best = nullptr;
  std::size_t best_len = 0;
  for (auto& [prefix, h] : table)
    if (path.substr(0, prefix.size()) == prefix && prefix.size() >= best_len) {
      best = &h;
      best_len = prefix.size();
    }
  return best;
}

}  // namespace shadowlink
