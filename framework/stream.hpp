#pragma once
// One family of async byte streams: TCP, TLS, and WebSocket over either. The splice, the
// rendezvous and the flows see only this interface, so the expensive stream templates are
// instantiated once, in tcp_stream.cpp, tls_stream.cpp and ws_stream.cpp.
#include "framework/net.hpp"

#include <memory>
#include <string>
#include <string_view>

namespace shadowlink {

class stream {
 public:
  virtual ~stream() = default;

  // Reads some bytes (for WebSocket: the next part of a message). On any ending ec is set; I/O errors never throw.
  virtual awaitable<std::size_t> read_some(net::mutable_buffer buf, error_code& ec) = 0;
  // Writes all of buf (for WebSocket: one binary message).
  virtual awaitable<void> write(net::const_buffer buf, error_code& ec) = 0;

  // Makes a read pending in another coroutine complete soon while leaving the stream able to be
  // closed politely afterwards. WebSocket: starts the close handshake; TCP/TLS: cancels the read.
  virtual void interrupt(std::string_view reason) = 0;
  // Polite ending: WebSocket close frame (with reason), TLS close_notify, TCP FIN. Callers bound it with a deadline.
  virtual awaitable<void> close(std::string_view reason) = 0;
  // Forcible ending; safe to call at any time, any number of times.
  virtual void abort() noexcept = 0;

  virtual std::string_view kind() const = 0;
  virtual const std::string& peer() const = 0;
};

using stream_ptr = std::unique_ptr<stream>;

// Closes politely within `deadline`, then forcibly. Never throws.
awaitable<void> close_stream(stream& s, std::string_view reason, clock::duration deadline = 2s);

}  // namespace shadowlink
