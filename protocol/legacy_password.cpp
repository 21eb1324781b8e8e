#include "protocol/legacy_password.hpp"

#include "framework/deadline.hpp"

#include <boost/asio/error.hpp>

#include <array>

namespace shadowlink::legacy {
namespace {

// Reads until "\n" (which must be the last byte read: nothing may follow before the answer), at
// most max_line bytes.
awaitable<std::string> read_line(stream& s) {
  std::string line;
  std::array<char, max_line> buf{};
  for (;;) {
    error_code ec;
    const auto room = max_line - line.size();
    if (room == 0) throw system_error(net::error::message_size, "the line is too long");
    auto n = co_await s.read_some(net::buffer(buf.data(), room), ec);
    if (ec) throw system_error(ec, "the line ended early");
    line.append(buf.data(), n);
    if (auto nl = line.find('\n'); nl != std::string::npos) {
      if (nl + 1 != line.size()) throw system_error(net::error::invalid_argument, "bytes after the line");
      line.pop_back();
      co_return line;
    }
  }
}

// Exactly n bytes: VNC follows the device's answer at once, so not one byte more may be read.
awaitable<std::string> read_exactly(stream& s, std::size_t n) {
  std::string out(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    error_code ec;
    got += co_await s.read_some(net::buffer(out.data() + got, n - got), ec);
    if (ec) throw system_error(ec, "the device closed the connection");
  }
  co_return out;
}

awaitable<void> write_all(stream& s, std::string text) {
  error_code ec;
  co_await s.write(net::buffer(text), ec);
  if (ec) throw system_error(ec);
}

}  // namespace

awaitable<void> present(stream& device, const credentials& c, clock::duration deadline) {
  co_await with_deadline(write_all(device, c.session_id + " " + c.password + "\n"), deadline, "sending the session password");
  std::string answer;
  try {
    answer = co_await with_deadline(read_exactly(device, 3), deadline, "waiting for the device to accept the password");
  } catch (const system_error& e) {
    if (e.code() == net::error::timed_out) throw;
    throw system_error(net::error::access_denied, "the device refused the session password");
  }
  if (answer != "OK\n") throw system_error(net::error::access_denied, "the device refused the session password");
}

awaitable<std::optional<credentials>> receive(stream& viewer, clock::duration deadline) {
  std::string line;
  try {
    line = co_await with_deadline(read_line(viewer), deadline, "waiting for the session password");
  } catch (const system_error&) {
    co_return std::nullopt;
  }
  auto space = line.find(' ');
  if (space == std::string::npos || space == 0 || space + 1 == line.size()) co_return std::nullopt;
  credentials offered{line.substr(0, space), line.substr(space + 1)};
  co_return offered;
}

awaitable<void> accept(stream& viewer) { co_await write_all(viewer, "OK\n"); }

awaitable<stream_ptr> connect(tls_client& client, const std::string& address, const credentials& c, clock::duration deadline) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) throw std::invalid_argument("the device's legacy address is not HOST:PORT: " + address);
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  auto s = make_tls_stream(co_await connect_tls(client, host, address.substr(colon + 1), deadline));
  co_await present(*s, c, deadline);
  co_return s;
}

}  // namespace shadowlink::legacy
