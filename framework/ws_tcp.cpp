// WebSocket over plain TCP (tests, benchmarks, and local hops that never leave the machine).
#include "framework/ws_stream_impl.hpp"

#include <boost/url/parse.hpp>

namespace shadowlink {

awaitable<ws_ptr> connect_ws_tls(tls_client& tls, const ws_target& t, const std::map<std::string, std::string>& headers,
                                 const ws_options& o);

awaitable<ws_ptr> accept_ws(tcp::socket s, const http_request& req, const ws_options& o) {
  auto peer = endpoint_string(s);
  auto p = std::make_unique<detail::ws_impl<tcp::socket>>(std::move(peer), o, std::move(s));
  co_return co_await detail::accept_on(std::move(p), req);
}

ws_target parse_ws_url(std::string_view url) {
  auto r = boost::urls::parse_uri(url);
  if (!r) throw std::invalid_argument("not a URL: " + std::string(url));
  ws_target t;
  auto scheme = r->scheme();
  if (scheme == "wss" || scheme == "https")
    t.tls = true;
  else if (scheme == "ws" || scheme == "http")
    t.tls = false;
  else
    throw std::invalid_argument("expected a ws:// or wss:// URL: " + std::string(url));
  t.host = r->host_address();
  if (t.host.empty()) throw std::invalid_argument("URL has no host: " + std::string(url));
  t.port = r->has_port() ? std::string(r->port()) : (t.tls ? "443" : "80");
  t.path = r->encoded_path().empty() ? "/" : std::string(r->encoded_path());
  if (r->has_query()) t.path += "?" + std::string(r->encoded_query());
  return t;
}

ws_target parse_wss_url(std::string_view url) {
  auto t = parse_ws_url(url);
  if (!t.tls) throw std::invalid_argument("refusing " + std::string(url) + ": tokens and screens travel only over wss://");
  return t;
}

awaitable<ws_ptr> connect_ws(tls_client* tls, const ws_target& t, const std::map<std::string, std::string>& headers,
                             const ws_options& o) {
  if (t.tls) {
    if (!tls) throw std::invalid_argument("wss:// needs a TLS trust configuration");
    co_return co_await connect_ws_tls(*tls, t, headers, o);
  }
  auto s = co_await connect_tcp(t.host, t.port, o.handshake_timeout);
  auto peer = endpoint_string(s);
  auto p = std::make_unique<detail::ws_impl<tcp::socket>>(std::move(peer), o, std::move(s));
  co_await detail::upgrade_client(*p, t, headers);
  co_return p;
}

}  // namespace shadowlink
