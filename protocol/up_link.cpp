#include "protocol/up_link.hpp"

#include "framework/deadline.hpp"

#include <boost/asio/error.hpp>
#include <boost/beast/websocket/error.hpp>

namespace shadowlink::up {
using namespace net::experimental::awaitable_operators;

ws_options link_options() {
  ws_options o;
  o.handshake_timeout = 10s;
  o.idle_timeout = 10s;
  o.max_message = max_message_bytes;
  o.bulk = false;
  return o;
}

awaitable<std::optional<message>> receive_hello(link& l, clock::duration deadline) {
  std::optional<message> hello;
  try {
    hello = co_await with_deadline(l.receive(), deadline, "hello");
  } catch (const std::exception&) {
  }
  if (!hello || hello->type != kind::hello) {
    l.refuse("expected hello");
    co_return std::nullopt;
  }
  co_return hello;
}

ws_options tunnel_options() {
  ws_options o;
  o.handshake_timeout = 10s;
  o.idle_timeout = 30s;
  o.max_message = 1 << 20;
  o.bulk = true;
  return o;
}

link::link(ws_ptr ws) : ws_(std::move(ws)), wake_(net::system_executor(), clock::time_point::max()) {}

bool link::send(const message& m) {
  if (closing_) return false;
  if (queue_.size() >= max_queued) {
    close("peer too slow: send queue full");
    return false;
  }
  queue_.push_back(serialize(m));
  wake_.cancel();
  return true;
}

awaitable<bool> link::send_paced(const message& m, clock::duration patience) {
  const auto deadline = clock::now() + patience;
  while (!closing_ && queue_.size() >= max_queued / 2) {
    if (clock::now() >= deadline) {
      close("peer too slow: paced sends waited too long");
      co_return false;
    }
    // Polling (the writer drains 128 messages between two looks) lets any number of paced
    // senders wait without sharing a timer whose re-arming would cancel the others' waits.
    net::steady_timer t(co_await net::this_coro::executor, 2ms);
    co_await t.async_wait(use_tuple);
    auto cs = co_await net::this_coro::cancellation_state;
    if (cs.cancelled() != net::cancellation_type::none) co_return false;
  }
  co_return send(m);
}

void link::close(std::string_view reason) {
  if (closing_) return;
  closing_ = true;
  close_reason_ = std::string(reason);
  wake_.cancel();
}

void link::refuse(std::string_view reason) {
  send(error_message(std::string(reason)));
  close(reason);
}

awaitable<message> link::receive() {
  for (;;) {
    error_code ec;
    auto text = co_await ws_->read_message(ec);
    if (ec) {
      close(ec.message());  // lets the writer finish too
      // Said in the logs' words: which limit the peer broke.
      if (ec == boost::beast::websocket::error::buffer_overflow || ec == boost::beast::websocket::error::message_too_big)
        throw system_error(ec, "a message over the " + std::to_string(max_message_bytes) + "-byte limit");
      throw system_error(ec);
    }
    try {
      co_return parse(text);
    } catch (const protocol_error& e) {
      if (++bad_messages_ > 10) {
        close("too many malformed messages");
        throw system_error(make_error_code(boost::system::errc::protocol_error), "too many malformed messages");
      }
      send(error_message(e.what()));
    }
  }
}

awaitable<void> link::serve(awaitable<void> reader) {
  auto r = co_await (write_loop() || settle(std::move(reader)));
  if (r.index() == 0) co_return;  // the writer ended: the link is gone
  close(close_reason_);
  net::steady_timer t(co_await net::this_coro::executor, 5s);
  co_await (write_loop() || t.async_wait(use_tuple));
}

awaitable<void> link::write_loop() {
  wake_ = net::steady_timer(co_await net::this_coro::executor, clock::time_point::max());
  for (;;) {
    while (!queue_.empty()) {
      error_code ec;
      co_await ws_->write_text(queue_.front(), ec);
      if (ec) co_return;
      queue_.pop_front();
    }
    if (closing_) break;
    wake_.expires_at(clock::time_point::max());
    co_await wake_.async_wait(use_tuple);
    auto cs = co_await net::this_coro::cancellation_state;
    if (cs.cancelled() != net::cancellation_type::none) co_return;
  }
  co_await close_stream(*ws_, close_reason_);
}

}  // namespace shadowlink::up
