#pragma once
// One UP WebSocket with a bounded send queue. Several coroutines (heartbeats, session flows,
// request handlers) send on the same link; Beast allows one write at a time, so a single writer
// coroutine drains the queue. A peer that does not read fills the queue and the link is closed
// rather than buffering without bound.
#include "framework/ws_stream.hpp"
#include "protocol/up_message.hpp"

#include <list>
#include <optional>

namespace shadowlink::up {

class link {
 public:
  static constexpr std::size_t max_queued = 256;

  explicit link(ws_ptr ws);

  // Queues a message; false (and the link is closing) if the peer is too slow to keep up.
  bool send(const message& m);
  // Queues a message once the queue is at most half full: for bulk senders (a gateway announcing
  // thousands of devices) that must neither overflow the queue nor starve other senders. False if
  // the link closes, or stays that full for `patience` (the peer is then too slow: the link closes).
  awaitable<bool> send_paced(const message& m, clock::duration patience);
  awaitable<bool> send_paced(const message& m) { return send_paced(m, 30s); }  // (no class-type default on a coroutine: g++ 12)
  // Next valid message. Malformed ones are answered with an `error` message and skipped; after
  // too many the link ends. Throws system_error when the link ends (normal endings included).
  awaitable<message> receive();
  // Drains the queue until the link closes; run it beside the reader: `co_await (l.write_loop() || reader())`.
  awaitable<void> write_loop();
  // Runs `reader` beside the writer. When the reader ends (however it ends; it reports what
  // matters itself), what it queued last (a refusal and its reason) is still sent, within 5 s,
  // before the link closes. Plain `write_loop() || reader()` would cut that message off.
  awaitable<void> serve(awaitable<void> reader);
  // Asks the link to end politely (queued messages are still sent first).
  void close(std::string_view reason);
  // Tells the peer why (an `error` message), then closes the link with that reason.
  void refuse(std::string_view reason);

  ws_stream& stream() { return *ws_; }
  const std::string& peer() const { return ws_->peer(); }
  bool closed() const { return closing_; }

 private:
  ws_ptr ws_;
  std::list<std::string> queue_;  // (not a deque: libstdc++'s allocates 576 bytes while empty, on every idle link)
  net::steady_timer wake_;
  bool closing_ = false;
  std::string close_reason_;
  int bad_messages_ = 0;
};

// The first message of a device's link: its hello, within `deadline`. Anything else (or nothing
// in time) closes the link and yields nothing.
awaitable<std::optional<message>> receive_hello(link& l, clock::duration deadline);

// WebSocket settings for UP links: pings after 5 s of silence, dead after 10 s.
ws_options link_options();
// The header a UMS node names itself by when it links to a gateway (every node of a cluster keeps
// its own link there).
inline constexpr std::string_view node_header = "X-Shadowlink-Node";
// WebSocket settings for shadow tunnels: bulk framing, pings after 15 s of silence (well under the
// 60 s idle cut of common proxies), dead after 30 s.
ws_options tunnel_options();

}  // namespace shadowlink::up
