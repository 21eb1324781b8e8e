#include "framework/tls_socket.hpp"

#include "framework/tls_memory.hpp"

#include <boost/asio/ssl/error.hpp>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfio.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <stdexcept>
#include <sys/socket.h>

namespace shadowlink {
namespace {

// Translates errno for wolfSSL, keeping the reason for the caller: "end of file" or "connection
// reset" read better than a TLS error code and count as normal endings.
int io_failure(int e, error_code& keep) {
  if (e == EAGAIN || e == EWOULDBLOCK) return WOLFSSL_CBIO_ERR_WANT_READ;  // same value as WANT_WRITE
  keep = error_code(e, boost::system::system_category());
  if (e == ECONNRESET) return WOLFSSL_CBIO_ERR_CONN_RST;
  if (e == EPIPE) return WOLFSSL_CBIO_ERR_CONN_CLOSE;
  return WOLFSSL_CBIO_ERR_GENERAL;
}

}  // namespace

// wolfSSL asks for a record's 5-byte header, then for its body: two recv calls per record, and
// each costs a few microseconds here. Reading ahead into a buffer makes it one. The buffer exists
// only while data flows: when the socket runs dry it is freed, so idle links do not keep it.
int tls_socket::on_recv(WOLFSSL*, char* buf, int size, void* core_ptr) {
  auto& c = *static_cast<core*>(core_ptr);
  constexpr std::size_t read_ahead = 17 * 1024;  // a whole TLS record and a bit
  if (c.ahead_pos == c.ahead_end) {
    if (!c.ahead) c.ahead = std::make_unique<char[]>(read_ahead);
    for (;;) {
      const ssize_t n = ::recv(c.sock.native_handle(), c.ahead.get(), read_ahead, 0);
      if (n > 0) {
        c.ahead_pos = 0;
        c.ahead_end = static_cast<std::size_t>(n);
        break;
      }
      if (n == 0) {
        c.socket_error = net::error::eof;
        return WOLFSSL_CBIO_ERR_CONN_CLOSE;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) c.ahead.reset();
      return io_failure(errno, c.socket_error);
    }
  }
  const auto take = std::min(static_cast<std::size_t>(size), c.ahead_end - c.ahead_pos);
  std::memcpy(buf, c.ahead.get() + c.ahead_pos, take);
  c.ahead_pos += take;
  return static_cast<int>(take);
}

// MSG_NOSIGNAL: a vanished peer must give an error, not SIGPIPE.
int tls_socket::on_send(WOLFSSL*, char* buf, int size, void* core_ptr) {
  auto& c = *static_cast<core*>(core_ptr);
  for (;;) {
    const ssize_t n = ::send(c.sock.native_handle(), buf, static_cast<std::size_t>(size), MSG_NOSIGNAL);
    if (n >= 0) return static_cast<int>(n);
    if (errno != EINTR) return io_failure(errno, c.socket_error);
  }
}

tls_socket::tls_socket(tcp::socket s, net::ssl::context& ctx) {
  tls_memory::install();
  tls_memory::capture large;
  WOLFSSL* ssl = wolfSSL_new(ctx.native_handle());
  if (!ssl) throw std::bad_alloc();
  c_ = std::make_unique<core>(std::move(s), ssl);
  c_->large = large.take();
  c_->sock.non_blocking(true);
  wolfSSL_SSLSetIORecv(ssl, &tls_socket::on_recv);
  wolfSSL_SSLSetIOSend(ssl, &tls_socket::on_send);
  wolfSSL_SetIOReadCtx(ssl, c_.get());
  wolfSSL_SetIOWriteCtx(ssl, c_.get());
}

tls_socket::~tls_socket() {
  if (c_) wolfSSL_free(c_->ssl);
}

tls_socket::attempt tls_socket::finish(int ret, bool bytes) {
  if (ret > 0) return {want::nothing, {}, bytes ? static_cast<std::size_t>(ret) : 0};
  const int err = wolfSSL_get_error(c_->ssl, ret);
  if (err == WOLFSSL_ERROR_WANT_READ) return {want::read, {}, 0};
  if (err == WOLFSSL_ERROR_WANT_WRITE) return {want::write, {}, 0};
  if (err == WOLFSSL_ERROR_ZERO_RETURN) return {want::nothing, net::error::eof, 0};  // the peer's close_notify
  if (c_->socket_error) return {want::nothing, std::exchange(c_->socket_error, {}), 0};
  return {want::nothing, error_code(err, net::error::get_ssl_category()), 0};
}

tls_socket::attempt tls_socket::try_handshake(handshake_type role) {
  c_->socket_error = {};
  auto a = finish(role == handshake_type::client ? wolfSSL_connect(c_->ssl) : wolfSSL_accept(c_->ssl), false);
  // wolfSSL writes its session object once more after the handshake, so the pages are given back
  // after the first record read (measured: 85 -> 53 KiB per device link on a server). A client's
  // session holds the server's chain in the first pages of room for nine certificates: the
  // rest is zeros there too.
  c_->established = a.wait == want::nothing && !a.ec;
  c_->release_after_first_read = c_->established;
  // The handshake's secrets and scratch (3.9 KiB) are kept by Debian's build for post-handshake
  // authentication, which this project never uses: given back here, on every link.
  if (c_->established) wolfSSL_FreeArrays(c_->ssl);
  return a;
}

tls_socket::attempt tls_socket::try_read(net::mutable_buffer b) {
  if (b.size() == 0) return {};
  c_->socket_error = {};
  const int ret = wolfSSL_read(c_->ssl, b.data(), static_cast<int>(std::min<std::size_t>(b.size(), INT_MAX)));
  // A TCP FIN without close_notify once the session is up is told apart from a clean close: an
  // attacker on the path can cut a connection but cannot forge close_notify. (Only for reads: a
  // peer that closes after our close_notify during shutdown is normal.)
  const bool fin = ret <= 0 && c_->socket_error == net::error::eof && c_->established;
  auto a = finish(ret, true);
  if (fin && a.ec == net::error::eof) a.ec = net::ssl::error::stream_truncated;
  if (a.bytes > 0 && c_->release_after_first_read) {
    c_->release_after_first_read = false;
    tls_memory::release_zero_pages(c_->large);
  }
  return a;
}

tls_socket::attempt tls_socket::write_bytes(const void* data, std::size_t size) {
  if (size == 0) return {};
  c_->socket_error = {};
  auto a = finish(wolfSSL_write(c_->ssl, data, static_cast<int>(std::min<std::size_t>(size, INT_MAX))), true);
  return a;
}

tls_socket::attempt tls_socket::try_shutdown() {
  c_->socket_error = {};
  int r = wolfSSL_shutdown(c_->ssl);
  if (r == WOLFSSL_SHUTDOWN_NOT_DONE) r = wolfSSL_shutdown(c_->ssl);  // ours is sent; now wait for the peer's
  if (r == WOLFSSL_SUCCESS) return {};
  return finish(r, false);
}

// One plaintext record: the most wolfSSL puts in a single TLS record.
std::size_t tls_socket::record_scratch_size() { return 16 * 1024; }

// One per thread, not per connection; filled and consumed within one wolfSSL_write call.
char* tls_socket::record_scratch() {
  thread_local auto buf = std::make_unique<char[]>(record_scratch_size());
  return buf.get();
}

void teardown(boost::beast::role_type, tls_socket& s, error_code& ec) {
  ec = s.try_shutdown().ec;
  error_code ignored;
  s.next_layer().close(ignored);
}

}  // namespace shadowlink
