#pragma once
// Private to ws_tcp.cpp and ws_tls.cpp: the one place websocket::stream<Next> is instantiated.
#include "framework/ws_stream.hpp"

#include "framework/tcp_stream.hpp"
#include "framework/tls.hpp"

#include <boost/asio/detached.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/websocket.hpp>

namespace shadowlink::detail {

namespace beast = boost::beast;
namespace websocket = beast::websocket;

template <class Next>
class ws_impl final : public ws_stream {
  struct state {
    template <class... A>
    explicit state(A&&... a) : ws(std::forward<A>(a)...), done(ws.get_executor(), clock::time_point::max()) {}
    websocket::stream<Next> ws;
    bool close_started = false;
    bool close_done = false;
    net::steady_timer done;
  };

 public:
  template <class... A>
  explicit ws_impl(std::string peer, const ws_options& o, A&&... a)
      : st_(std::make_shared<state>(std::forward<A>(a)...)), peer_(std::move(peer)), max_(o.max_message) {
    auto& ws = st_->ws;
    websocket::stream_base::timeout t{};
    t.handshake_timeout = o.handshake_timeout;
    t.idle_timeout = o.idle_timeout;
    t.keep_alive_pings = true;
    ws.set_option(t);
    ws.read_message_max(o.max_message);
    if (o.bulk) {
      ws.auto_fragment(false);
      ws.write_buffer_bytes(64 * 1024);
    }
    ws.binary(true);
  }

  websocket::stream<Next>& ws() { return st_->ws; }
  std::string server_key_fingerprint() override {
    if constexpr (std::is_same_v<Next, tls_socket>) return peer_key_fingerprint(st_->ws.next_layer());
    else return {};
  }

  std::string local_address() override {
    error_code ec;
    auto ep = beast::get_lowest_layer(st_->ws).local_endpoint(ec);
    return ec ? std::string() : ep.address().to_string();
  }

  awaitable<std::size_t> read_some(net::mutable_buffer b, error_code& ec) override {
    auto [e, n] = co_await st_->ws.async_read_some(b, use_tuple);
    ec = e;
    co_return n;
  }
  awaitable<void> write(net::const_buffer b, error_code& ec) override {
    st_->ws.binary(true);
    auto [e, n] = co_await st_->ws.async_write(b, use_tuple);
    (void)n;
    ec = e;
  }
  awaitable<std::string> read_message(error_code& ec) override {
    beast::flat_buffer buf(max_);
    auto [e, n] = co_await st_->ws.async_read(buf, use_tuple);
    ec = e;
    co_return e ? std::string() : beast::buffers_to_string(buf.data());
  }
  awaitable<void> write_text(std::string_view text, error_code& ec) override {
    st_->ws.text(true);
    auto [e, n] = co_await st_->ws.async_write(net::buffer(text), use_tuple);
    (void)n;
    ec = e;
  }
  void interrupt(std::string_view reason) override {
    if (st_->close_started) return;
    st_->close_started = true;
    // Beast lets a close run beside a pending read (the read then ends with `closed`). The
    // coroutine keeps the state alive and is bounded by the handshake timeout and by abort().
    net::co_spawn(st_->ws.get_executor(), run_close(st_, std::string(reason.substr(0, 120))), net::detached);
  }
  awaitable<void> close(std::string_view reason) override {
    if (!st_->close_started) {
      st_->close_started = true;
      co_await run_close(st_, std::string(reason.substr(0, 120)));
    }
    while (!st_->close_done) {
      st_->done.expires_at(clock::time_point::max());
      co_await st_->done.async_wait(use_tuple);
      auto cs = co_await net::this_coro::cancellation_state;
      if (cs.cancelled() != net::cancellation_type::none) break;
    }
    abort();
  }
  void abort() noexcept override {
    error_code ec;
    beast::get_lowest_layer(st_->ws).close(ec);
  }
  std::string close_reason() const override { return std::string(st_->ws.reason().reason.c_str()); }
  std::string_view kind() const override { return "websocket"; }
  const std::string& peer() const override { return peer_; }

 private:
  static awaitable<void> run_close(std::shared_ptr<state> st, std::string reason) {
    co_await st->ws.async_close(websocket::close_reason(websocket::close_code::normal, reason), use_tuple);
    st->close_done = true;
    st->done.cancel();
  }

  std::shared_ptr<state> st_;
  std::string peer_;
  std::size_t max_;
};

inline void decorate_server(websocket::response_type& res) { res.set(http::field::server, "shadowlink"); }

template <class Next>
awaitable<ws_ptr> accept_on(std::unique_ptr<ws_impl<Next>> p, const http_request& req) {
  p->ws().set_option(websocket::stream_base::decorator(&decorate_server));
  co_await p->ws().async_accept(req, use_awaitable);
  co_return p;
}

template <class Next>
awaitable<void> upgrade_client(ws_impl<Next>& p, const ws_target& t, const std::map<std::string, std::string>& headers) {
  p.ws().set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
    req.set(http::field::user_agent, "shadowlink");
    for (auto& [k, v] : headers) req.set(k, v);
  }));
  websocket::response_type res;
  auto [ec] = co_await p.ws().async_handshake(res, t.host, t.path, use_tuple);
  if (ec) {
    std::string why = ec.message();
    // (Beast presets the response to 500 before it reads one: only a declined upgrade has a status.)
    if (ec == websocket::error::upgrade_declined && res.result_int() != 0 && res.result() != http::status::switching_protocols) {
      why = "server answered " + std::to_string(res.result_int()) + " " + std::string(res.reason());
      if (!res.body().empty() && res.body().size() < 200) why += " " + res.body();
    }
    // A plain error_code (no source location) keeps the message readable for people.
    throw system_error(error_code(ec.value(), ec.category()), "WebSocket upgrade to " + t.host + ":" + t.port + t.path + ": " + why);
  }
}

}  // namespace shadowlink::detail
