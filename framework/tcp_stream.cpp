#include "framework/tcp_stream.hpp"

#include "framework/deadline.hpp"


#include <boost/asio/connect.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <type_traits>

namespace shadowlink {

std::string endpoint_string(const tcp::socket& s) {
  error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "?";
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

std::string address_of(std::string_view peer) {
  auto host = peer.substr(0, peer.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return std::string(host);
}

std::string client_key(std::string_view peer) {
  auto host = address_of(peer);
  error_code ec;
  auto a = net::ip::make_address(host, ec);
  if (ec) return host;
  if (a.is_v4()) return a.to_string();
  auto v6 = a.to_v6();
  if (v6.is_v4_mapped()) return net::ip::make_address_v4(net::ip::v4_mapped, v6).to_string();
  auto bytes = v6.to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return net::ip::address_v6(bytes).to_string() + "/64";
}

namespace {
// A byte stream over a connected socket: TCP, or a Unix socket to a local server.
template <class Socket>
class socket_stream final : public stream {
 public:
  socket_stream(Socket s, std::string peer) : s_(std::move(s)), peer_(std::move(peer)) {}
  awaitable<std::size_t> read_some(net::mutable_buffer b, error_code& ec) override {
    auto [e, n] = co_await s_.async_read_some(b, use_tuple);
    ec = e;
    co_return n;
  }
  awaitable<void> write(net::const_buffer b, error_code& ec) override {
    auto [e, n] = co_await net::async_write(s_, b, use_tuple);
    (void)n;
    ec = e;
  }
  void interrupt(std::string_view) override {
    error_code ec;
    s_.cancel(ec);
  }
  awaitable<void> close(std::string_view) override {
    error_code ec;
    s_.shutdown(Socket::shutdown_send, ec);
    s_.close(ec);
    co_return;
  }
  void abort() noexcept override {
    error_code ec;
    s_.close(ec);
  }
  std::string_view kind() const override {
    if constexpr (std::is_same_v<Socket, tcp::socket>) return "tcp";
    else return "unix";
  }
  const std::string& peer() const override { return peer_; }

 private:
  Socket s_;
  std::string peer_;
};
}  // namespace

stream_ptr make_tcp_stream(tcp::socket s) {
  error_code ec;
  s.set_option(tcp::no_delay(true), ec);
  auto peer = endpoint_string(s);
  return std::make_unique<socket_stream<tcp::socket>>(std::move(s), std::move(peer));
}

stream_ptr make_local_stream(net::local::stream_protocol::socket s, std::string name) {
  return std::make_unique<socket_stream<net::local::stream_protocol::socket>>(std::move(s), std::move(name));
}

awaitable<stream_ptr> connect_unix(const std::string& path, clock::duration deadline) {
  using local = net::local::stream_protocol;
  local::socket sock(co_await net::this_coro::executor);
  auto connected = sock.async_connect(local::endpoint(path), use_awaitable);
  co_await with_deadline(std::move(connected), deadline, "connect to " + path);
  co_return std::make_unique<socket_stream<local::socket>>(std::move(sock), path);
}

awaitable<tcp::socket> connect_tcp(std::string_view host, std::string_view port, clock::duration deadline,
                                   std::string_view source) {
  using namespace net::experimental::awaitable_operators;
  auto ex = co_await net::this_coro::executor;
  tcp::resolver resolver(ex);
  tcp::socket sock(ex);
  const std::string h(host), p(port), from(source);
  // Errors come back as values, not exceptions: Asio's `||` waits for the first branch to
  // *succeed*, so a throwing connect would sit out the whole deadline when refused.
  auto connect = [&]() -> awaitable<error_code> {
    auto [rec, results] = co_await resolver.async_resolve(h, p, use_tuple);
    if (rec) co_return rec;
    if (from.empty()) {
      auto [cec, ep] = co_await net::async_connect(sock, results, use_tuple);
      (void)ep;
      co_return cec;
    }
    // The range connect reopens the socket per endpoint (losing the bind), so one endpoint here.
    error_code bec;
    const auto target = results.begin()->endpoint();
    const auto local = net::ip::make_address(from, bec);
    if (bec) co_return bec;
    sock.open(target.protocol(), bec);
    // The port is chosen at connect time, per destination, instead of being reserved at bind.
    if (!bec) sock.set_option(net::detail::socket_option::boolean<IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT>(true), bec);
    if (!bec) sock.bind(tcp::endpoint(local, 0), bec);
    if (bec) co_return bec;
    auto [cec] = co_await sock.async_connect(target, use_tuple);
    co_return cec;
  };
  net::steady_timer timer(ex, deadline);
  auto r = co_await (connect() || timer.async_wait(use_awaitable));
  if (r.index() == 1) throw system_error(net::error::timed_out, "connect to " + h + ":" + p);
  if (auto ec = std::get<0>(r)) throw system_error(error_code(ec.value(), ec.category()), "connect to " + h + ":" + p);
  error_code ec;
  sock.set_option(tcp::no_delay(true), ec);
  co_return sock;
}

}  // namespace shadowlink
