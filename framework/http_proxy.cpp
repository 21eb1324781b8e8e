#include "framework/http_proxy.hpp"

#include "framework/deadline.hpp"
#include "framework/tcp_stream.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>

namespace shadowlink {
namespace http = boost::beast::http;

namespace {
std::pair<std::string, std::string> split(const std::string& proxy) {
  auto url = proxy.find("://") == std::string::npos ? "http://" + proxy : proxy;
  auto u = boost::urls::parse_uri(url);
  if (!u || u->scheme() != "http" || u->host_address().empty())
    throw std::invalid_argument("proxy must be http://HOST:PORT: " + proxy);
  return {std::string(u->host_address()), u->has_port() ? std::string(u->port()) : std::string("3128")};
}
}  // namespace

std::string check_proxy(const std::string& proxy) {
  try {
    split(proxy);
    return {};
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
}

awaitable<tcp::socket> connect_via_proxy(const std::string& proxy, std::string_view host, std::string_view port,
                                         clock::duration deadline) {
  auto [ph, pp] = split(proxy);
  auto started = clock::now();
  auto sock = co_await connect_tcp(ph, pp, deadline);
  const std::string target = std::string(host) + ":" + std::string(port);
  auto handshake = [&]() -> awaitable<void> {
    http::request<http::empty_body> req{http::verb::connect, target, 11};
    req.set(http::field::host, target);
    req.set(http::field::user_agent, "shadowlink");
    co_await http::async_write(sock, req, use_awaitable);
    boost::beast::flat_buffer buf;
    http::response_parser<http::empty_body> parser;
    parser.skip(true);  // a CONNECT answer has no body, whatever its headers say
    co_await http::async_read_header(sock, buf, parser, use_awaitable);
    auto& res = parser.get();
    if (res.result() != http::status::ok)
      throw system_error(make_error_code(boost::system::errc::connection_refused),
                         "proxy " + proxy + " refused CONNECT " + target + ": " + std::to_string(res.result_int()) + " " +
                             std::string(res.reason()));
  };
  co_await with_deadline(handshake(), deadline - (clock::now() - started), "CONNECT through proxy " + proxy);
  co_return std::move(sock);
}

}  // namespace shadowlink
