#include "framework/https_server.hpp"

#include "framework/errors.hpp"
#include "framework/log.hpp"
#include "framework/metrics.hpp"
#include "framework/on_exit.hpp"
#include "framework/proxy_protocol.hpp"
#include "framework/tcp_stream.hpp"

#include <boost/asio/ssl.hpp>
#include <wolfssl/error-ssl.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace shadowlink {
namespace beast = boost::beast;
using namespace net::experimental::awaitable_operators;

// Browsers that once reached this server over TLS never try it without: a year, renewed by every
// answer (JSON answers, refusals and pages alike).
constexpr std::string_view hsts = "max-age=31536000";

std::string error_json(std::string_view message) {
  return boost::json::serialize(boost::json::value{{"error", message}});
}

http_response json_response(const http_request& req, http::status status, std::string body) {
  http_response res{status, req.version()};
  res.set(http::field::server, "shadowlink");
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.set(http::field::strict_transport_security, hsts);
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

std::string_view bearer_token(const http_request& req) {
  constexpr std::string_view bearer = "Bearer ";
  const std::string_view authz = req[http::field::authorization];
  return authz.substr(0, bearer.size()) == bearer ? authz.substr(bearer.size()) : std::string_view{};
}

std::string_view cookie_value(const http_request& req, std::string_view name) {
  // Cookie: a=b; NAME=VALUE; c=d
  std::string_view cookies = req[http::field::cookie];
  while (!cookies.empty()) {
    auto end = cookies.find(';');
    auto item = cookies.substr(0, end);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    if (item.size() > name.size() && item.substr(0, name.size()) == name && item[name.size()] == '=')
      return item.substr(name.size() + 1);
    if (end == std::string_view::npos) break;
    cookies.remove_prefix(end + 1);
  }
  return {};
}

// Browsers send Origin with every cross-origin request and every POST and DELETE; a same-origin
// GET may come without it, and then Sec-Fetch-Site (sent by current browsers) must not say otherwise.
bool same_site_request(const http_request& req, const std::vector<std::string>& origins) {
  auto origin = req[http::field::origin];
  if (!origin.empty()) return std::find(origins.begin(), origins.end(), origin) != origins.end();
  if (req.method() != http::verb::get && req.method() != http::verb::head) return false;
  auto site = req["Sec-Fetch-Site"];
  return site.empty() || site == "same-origin" || site == "none";
}

void apply_request_limits(http::request_parser<http::string_body>& parser, const server_limits& limits) {
  parser.header_limit(static_cast<std::uint32_t>(limits.header_bytes));
  parser.body_limit(limits.body_bytes);
}

http_response error_response(const http_request& req, http::status status, std::string_view message) {
  return json_response(req, status, error_json(message));
}

namespace {
class upgrade_impl final : public ws_upgrade {
 public:
  upgrade_impl(std::unique_ptr<tls_socket>& s, http_request& req, std::string peer, const peer_certificate& cert)
      : s_(s), req_(req), peer_(std::move(peer)), cert_(cert) {}
  const http_request& request() const override { return req_; }
  const std::string& peer() const override { return peer_; }
  const peer_certificate& client_certificate() const override { return cert_; }
  awaitable<ws_ptr> accept(const ws_options& o) override { co_return co_await accept_ws(std::move(s_), req_, o, peer_); }
  awaitable<void> reject(http::status status, std::string_view reason) override {
    auto res = error_response(req_, status, reason);
    res.keep_alive(false);
    co_await http::async_write(*s_, res, use_tuple);
    error_code ec;
    s_->next_layer().close(ec);
  }

 private:
  std::unique_ptr<tls_socket>& s_;
  http_request& req_;
  std::string peer_;
  const peer_certificate& cert_;
};
}  // namespace

https_server::https_server(task_group& tasks, std::shared_ptr<net::ssl::context> tls, std::string scope, server_limits limits)
    : tasks_(tasks), tls_(std::move(tls)), scope_(std::move(scope)), limits_(limits) {}

void https_server::add_http(std::string prefix, http_handler h) {
  http_routes_.emplace_back(std::move(prefix), [h = std::move(h)](const http_request& req, const std::string& peer, const peer_certificate&) {
    return h(req, peer);
  });
}
void https_server::add_http_with_certificate(std::string prefix, http_cert_handler h) {
  http_routes_.emplace_back(std::move(prefix), std::move(h));
}
void https_server::add_ws(std::string prefix, ws_handler h) { ws_routes_.emplace_back(std::move(prefix), std::move(h)); }


void https_server::listen(const std::string& address, unsigned short port) {
  auto ex = tasks_.executor();
  auto acc = std::make_shared<tcp::acceptor>(ex);
  tcp::endpoint ep(net::ip::make_address(address), port);
  try {
    acc->open(ep.protocol());
    acc->set_option(tcp::acceptor::reuse_address(true));
    acc->bind(ep);
    acc->listen(net::socket_base::max_listen_connections);
  } catch (const system_error& e) {
    throw system_error(e.code(), "cannot listen on " + address + ":" + std::to_string(port));
  }
  port_ = acc->local_endpoint().port();
  acceptor_ = acc;
  tasks_.spawn(accept_loop(acc), scope_);
}

void https_server::stop() {
  if (acceptor_) {
    error_code ec;
    acceptor_->close(ec);
  }
}

awaitable<void> https_server::accept_loop(std::shared_ptr<tcp::acceptor> acc) {
  while (acc->is_open()) {
    auto [ec, sock] = co_await acc->async_accept(use_tuple);
    if (ec == net::error::operation_aborted || !acc->is_open()) break;
    if (ec) {
      // Out of file descriptors and the like: wait a little instead of spinning.
      log::warn(scope_, "accept failed: ", ec.message());
      net::steady_timer t(acc->get_executor(), 100ms);
      co_await t.async_wait(use_tuple);
      continue;
    }
    auto peer = endpoint_string(sock);
    error_code rec;
    const auto from = sock.remote_endpoint(rec).address();
    const bool balancer = !rec && std::find(balancers_.begin(), balancers_.end(), from) != balancers_.end();
    // A balancer's connections carry many clients: their per-address limits apply once the header
    // has named the client (serve()).
    const char* full = connections_ >= limits_.max_connections             ? "connections"
                       : handshakes_ >= 2 * limits_.max_handshakes           ? "TLS handshakes in progress"
                       : balancer                                            ? nullptr
                                                                             : full_for(client_key(peer));
    if (full || tasks_.stopping()) {
      refuse(sock, peer, full);
      continue;
    }
    tasks_.spawn(serve(std::move(sock), balancer), scope_ + " " + peer);
  }
}

namespace {
// A fixed set of reasons (a metric's labels must not grow with whatever peers send), read from
// wolfSSL's own error code, the one tls_failure_reason() puts into words.
std::string_view handshake_failure_kind(void* native_ssl, const error_code& ec) {
  if (ec == net::error::timed_out || ec == net::error::operation_aborted) return "timeout";
  switch (native_ssl ? wolfSSL_get_error(static_cast<WOLFSSL*>(native_ssl), 0) : 0) {
    case VERSION_ERROR:
    case UNSUPPORTED_PROTO_VERSION: return "version";
    case MATCH_SUITE_ERROR: return "cipher";
    case VERIFY_CERT_ERROR:
    case NO_PEER_CERT:
    case ASN_NO_SIGNER_E:
    case ASN_AFTER_DATE_E:
    case ASN_BEFORE_DATE_E: return "certificate";
    default: return "other";
  }
}
}  // namespace

// At the cap of handshakes in progress, an address with none in progress still gets one (up to
// twice the cap): otherwise clients from max_handshakes / max_handshakes_per_address addresses
// (4 by default) could hold every slot and shut everyone else out; now that takes about
// max_handshakes addresses (IPv4 addresses or IPv6 /64s).
const char* https_server::full_for(const std::string& address) const {
  const auto known = addresses_.find(address);
  const std::size_t in_progress = known == addresses_.end() ? 0 : known->second.handshakes;
  if (handshakes_ >= 2 * limits_.max_handshakes || (handshakes_ >= limits_.max_handshakes && in_progress > 0))
    return "TLS handshakes in progress";
  if (known == addresses_.end()) return nullptr;
  if (known->second.connections >= limits_.max_connections_per_address) return "connections from that address";
  if (known->second.handshakes >= limits_.max_handshakes_per_address) return "TLS handshakes in progress from that address";
  return nullptr;
}

void https_server::refuse(tcp::socket& sock, const std::string& peer, const char* limit) {
  error_code ignored;
  sock.close(ignored);
  if (!limit) return;  // stopping: nothing to report
  // One line per second at most: a flood must not become a flood of log lines.
  if (++refused_ == 1 || clock::now() - last_refusal_log_ >= 1s) {
    log::warn(scope_, "connection from ", peer, " closed: the limit of ", limit, " is reached (", refused_, " refused so far)");
    last_refusal_log_ = clock::now();
  }
  metrics::connection_refused(limit);
}

awaitable<void> https_server::serve(tcp::socket sock, bool from_balancer) {
  std::string peer = endpoint_string(sock);
  // Counted in the total from accept on, a balancer's connection while its header is read too.
  ++connections_;
  on_exit counted_in_total([this] { --connections_; });
  if (from_balancer) {
    try {
      if (auto client = co_await proxy_protocol::read_header(sock, limits_.tls_handshake))
        peer = client->address().to_string() + ":" + std::to_string(client->port());
    } catch (const std::exception& e) {
      log::warn(scope_, "connection from balancer ", peer, " closed: ", ending_words(e));
      co_return;
    }
    if (const char* full = full_for(client_key(peer))) {
      refuse(sock, peer, full);
      co_return;
    }
  }
  const auto address = client_key(peer);
  ++addresses_[address].connections;
  on_exit counted([this, &address] {
    auto it = addresses_.find(address);
    if (--it->second.connections == 0) addresses_.erase(it);
  });
  sock.set_option(tcp::no_delay(true));
  const auto tls = tls_;  // (kept for this connection: set_tls may replace the listener's)
  auto s = std::make_unique<tls_socket>(std::move(sock), *tls);
  const auto opened = clock::now();
  ++handshakes_;
  ++addresses_[address].handshakes;
  on_exit handshake_done([this, &address] {
    --handshakes_;
    --addresses_.find(address)->second.handshakes;
  });
  try {
    co_await accept_tls(*s, limits_.tls_handshake, handshake_pool_);
    handshake_done.run();
  } catch (const system_error& e) {
    // A connection that closes before saying anything (a port probe, a load balancer's check) is
    // not worth a warning; a failed handshake (wrong version, no shared cipher, bad certificate) is.
    if (is_normal_end(e.code())) log::info(scope_, "connection from ", peer, " closed before the TLS handshake: ", ending_words(e));
    else {
      log::warn(scope_, "TLS handshake with ", peer, " failed: ", ending_words(e));
      metrics::tls_handshake_failed(handshake_failure_kind(s->native_handle(), e.code()));
    }
    co_return;
  }
  const auto client_cert = client_certificate(*s);
  // The request loop's parser, buffer and timers live in a frame of their own, given back before
  // a WebSocket handler takes the connection over for hours.
  if (auto upgrade = co_await serve_requests(*s, peer, client_cert, opened)) {
    upgrade_impl up(s, upgrade->request, peer, client_cert);
    co_await (*upgrade->handler)(up);
    co_return;  // the connection belonged to the WebSocket handler
  }
  {
    net::steady_timer t(s->get_executor(), 1s);
    co_await (s->async_shutdown(use_tuple) || t.async_wait(use_tuple));
  }
}

// HTTP requests on one connection until it ends or a request asks for a WebSocket (returned with
// its route).
awaitable<std::optional<https_server::upgrade_request>> https_server::serve_requests(tls_socket& s, const std::string& peer,
                                                                                      const peer_certificate& cert, clock::time_point opened) {
  beast::flat_buffer buf(limits_.header_bytes + limits_.body_bytes);
  for (;;) {
    http::request_parser<http::string_body> parser;
    apply_request_limits(parser, limits_);
    net::steady_timer timer(s.get_executor(), limits_.request);
    auto r = co_await (http::async_read(s, buf, parser, use_tuple) || timer.async_wait(use_awaitable));
    if (r.index() == 1) break;  // idle or slow client: just close
    auto [ec, n] = std::get<0>(r);
    if (ec) {
      if (is_tls_failure(ec)) {
        log::warn(scope_, "TLS failure from ", peer, ": ", tls_failure_reason(s.native_handle(), ec));
        break;
      }
      if (!is_normal_end(ec) && ec != http::error::end_of_stream) {
        // Oversized requests get the statuses that say so (RFC 6585 §5, RFC 9110 §15.5.14).
        const auto status = ec == http::error::header_limit ? http::status::request_header_fields_too_large
                            : ec == http::error::body_limit ? http::status::payload_too_large
                                                            : http::status::bad_request;
        auto res = error_response(parser.get(), status, "malformed request: " + ec.message());
        res.keep_alive(false);
        co_await http::async_write(s, res, use_tuple);
        // A lingering close: the client may still be sending what we refused; closing with its
        // bytes unread would reset the connection before it reads our answer. Read and drop
        // them for a moment (bounded in time and bytes).
        net::steady_timer linger(s.get_executor(), 1s);
        auto drain = [&]() -> awaitable<void> {
          char sink[16 * 1024];
          for (std::size_t total = 0; total < (1u << 20);) {
            auto [rec, n] = co_await s.async_read_some(net::buffer(sink), use_tuple);
            if (rec) break;
            total += n;
          }
        };
        co_await (drain() || linger.async_wait(use_tuple));
      }
      break;
    }
    http_request req = parser.release();
    if (beast::websocket::is_upgrade(req)) {
      if (auto* h = longest_prefix_route(ws_routes_, req.target())) {
        co_return upgrade_request{std::move(req), h};
      } else {
        auto res = error_response(req, http::status::not_found, "no WebSocket endpoint at this path");
        res.keep_alive(false);
        co_await http::async_write(s, res, use_tuple);
      }
      co_return std::nullopt;  // (closed)
    }
    http_response res;
    if (auto* h = longest_prefix_route(http_routes_, req.target())) {
      try {
        res = co_await (*h)(req, peer, cert);
      } catch (const std::exception& e) {
        log::error(scope_, req.method_string(), " ", req.target(), " failed: ", e.what());
        res = error_response(req, http::status::internal_server_error, "internal error");
      }
    } else {
      res = error_response(req, http::status::not_found, "not found");
    }
    res.set(http::field::strict_transport_security, hsts);  // (pages and other handlers' answers too)
    timer.expires_after(limits_.request);
    auto w = co_await (http::async_write(s, res, use_tuple) || timer.async_wait(use_awaitable));
    if (w.index() == 1) break;
    if (auto [wec, wn] = std::get<0>(w); wec) break;
    if (!res.keep_alive()) break;
    if (clock::now() - opened >= limits_.keep_alive_lifetime) break;  // (the client reconnects)
  }
  co_return std::nullopt;
}

}  // namespace shadowlink
