#pragma once
// A TLS connection driven by wolfSSL directly on the TCP socket, in place of Asio's ssl::stream.
//
// Why: Asio's ssl::stream feeds wolfSSL through a BIO pair and keeps two 17 KiB record buffers of
// its own, and wolfSSL's BIO pair adds two more of 17 KiB: about 68 KiB per connection that a
// server holding thousands of idle device links pays for nothing (measured with heaptrack, see
// README "Scale"). Here wolfSSL reads from and writes to the non-blocking socket itself (its I/O
// callbacks), and the asynchronous operations are the reactor pattern: try the wolfSSL call; if it
// wants to read or write, wait until the socket is ready and try again.
//
// Models Asio's AsyncReadStream/AsyncWriteStream (Beast's HTTP and WebSocket run on it) and keeps
// ssl::stream's names for the parts this project uses.
#include "framework/net.hpp"

#include <boost/asio/compose.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/beast/core/role.hpp>

#include <cstring>
#include <memory>
#include <vector>

struct WOLFSSL;

namespace shadowlink {

class tls_socket {
 public:
  using executor_type = tcp::socket::executor_type;
  using next_layer_type = tcp::socket;
  using lowest_layer_type = tcp::socket::lowest_layer_type;
  using handshake_type = net::ssl::stream_base::handshake_type;

  tls_socket(tcp::socket s, net::ssl::context& ctx);
  tls_socket(tls_socket&&) noexcept = default;
  tls_socket& operator=(tls_socket&&) noexcept = default;
  ~tls_socket();

  executor_type get_executor() { return c_->sock.get_executor(); }
  tcp::socket& next_layer() { return c_->sock; }
  lowest_layer_type& lowest_layer() { return c_->sock.lowest_layer(); }
  WOLFSSL* native_handle() { return c_->ssl; }

  // One attempt of a wolfSSL call: done (with an error or a byte count), or waiting for the socket.
  enum class want { nothing, read, write };
  struct attempt {
    want wait = want::nothing;
    error_code ec;
    std::size_t bytes = 0;
  };
  attempt try_handshake(handshake_type role);
  attempt try_read(net::mutable_buffer b);
  // Writes the first buffer, or, when the sequence starts with a small piece (a WebSocket frame
  // header), up to one TLS record of the sequence copied together: one record instead of two.
  template <class ConstBuffers>
  attempt try_write(const ConstBuffers& buffers);
  attempt try_shutdown();

  template <class Token>
  auto async_handshake(handshake_type role, Token&& token) {
    return run<void(error_code)>([role](tls_socket& s) { return s.try_handshake(role); }, std::forward<Token>(token));
  }
  // Sends close_notify and waits for the peer's (bound it with a deadline).
  template <class Token>
  auto async_shutdown(Token&& token) {
    return run<void(error_code)>([](tls_socket& s) { return s.try_shutdown(); }, std::forward<Token>(token));
  }
  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    net::mutable_buffer first;
    for (auto it = net::buffer_sequence_begin(buffers); it != net::buffer_sequence_end(buffers); ++it) {
      first = *it;
      if (first.size() > 0) break;
    }
    return run<void(error_code, std::size_t)>([first](tls_socket& s) { return s.try_read(first); }, std::forward<Token>(token));
  }
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return run<void(error_code, std::size_t)>([buffers](tls_socket& s) { return s.try_write(buffers); },
                                              std::forward<Token>(token));
  }

 private:
  struct core {
    core(tcp::socket s, WOLFSSL* ssl) : sock(std::move(s)), ssl(ssl) {}
    tcp::socket sock;
    WOLFSSL* ssl;
    error_code socket_error;  // set by the I/O callbacks: the reason under a failed wolfSSL call
    std::vector<void*> large;  // wolfSSL's large allocations for this connection (tls_memory.hpp)
    bool release_after_first_read = false;
    bool established = false;  // handshake done: from now on a bare FIN is a truncation
    std::unique_ptr<char[]> ahead;  // read-ahead while data flows (see on_recv)
    std::size_t ahead_pos = 0, ahead_end = 0;
  };

  static int on_recv(WOLFSSL*, char* buf, int size, void* core_ptr);
  static int on_send(WOLFSSL*, char* buf, int size, void* core_ptr);
  attempt finish(int ret, bool bytes);
  attempt write_bytes(const void* data, std::size_t size);
  static std::size_t record_scratch_size();
  static char* record_scratch();

  // The reactor loop shared by every operation. An attempt that completes at once is delivered
  // through a post, never from inside the initiating call (Asio's rule for handlers).
  template <class Signature, class Attempt, class Token>
  auto run(Attempt attempt_fn, Token&& token) {
    return net::async_compose<Token, Signature>(
        [this, attempt_fn, posted = false, done = attempt{}, started = false](auto& self, error_code ec = {}) mutable {
          if (posted) return complete<Signature>(self, done);
          if (ec) return complete<Signature>(self, attempt{want::nothing, ec, 0});
          auto a = attempt_fn(*this);
          if (a.wait != want::nothing) {
            started = true;
            c_->sock.async_wait(a.wait == want::read ? tcp::socket::wait_read : tcp::socket::wait_write, std::move(self));
            return;
          }
          if (!started) {
            posted = true;
            done = a;
            return net::post(c_->sock.get_executor(), std::move(self));
          }
          complete<Signature>(self, a);
        },
        token, c_->sock);
  }
  template <class Signature, class Self>
  static void complete(Self& self, const attempt& a) {
    if constexpr (std::is_same_v<Signature, void(error_code)>)
      self.complete(a.ec);
    else
      self.complete(a.ec, a.bytes);
  }

  std::unique_ptr<core> c_;
};

template <class ConstBuffers>
tls_socket::attempt tls_socket::try_write(const ConstBuffers& buffers) {
  auto it = net::buffer_sequence_begin(buffers);
  const auto end = net::buffer_sequence_end(buffers);
  net::const_buffer first;
  for (; it != end; ++it) {
    first = *it;
    if (first.size() > 0) break;
  }
  if (it == end) return {};
  if (first.size() >= 256 || std::next(it) == end) return write_bytes(first.data(), first.size());
  // A retry after want::write copies the same bytes again: wolfSSL expects the same data.
  char* scratch = record_scratch();
  std::size_t n = 0;
  for (; it != end && n < record_scratch_size(); ++it) {
    const net::const_buffer b = *it;
    const auto take = std::min(b.size(), record_scratch_size() - n);
    std::memcpy(scratch + n, b.data(), take);
    n += take;
  }
  return write_bytes(scratch, n);
}

// Beast's WebSocket close ends with the transport's teardown: here, close_notify both ways.
void teardown(boost::beast::role_type, tls_socket& s, error_code& ec);
template <class Handler>
void async_teardown(boost::beast::role_type, tls_socket& s, Handler&& handler) {
  s.async_shutdown(std::forward<Handler>(handler));
}

}  // namespace shadowlink
