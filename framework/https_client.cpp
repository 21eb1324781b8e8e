#include "framework/https_client.hpp"

#include "framework/deadline.hpp"

#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

namespace shadowlink {

awaitable<http_response> https_request(tls_client& tls, const rest_target& t, http_request req, clock::duration deadline) {
  using namespace net::experimental::awaitable_operators;
  auto started = clock::now();
  auto s = co_await connect_tls(tls, t.host, t.port, deadline);
  req.set(http::field::host, t.host + ":" + t.port);
  req.set(http::field::user_agent, "shadowlink");
  req.keep_alive(false);
  req.prepare_payload();
  auto exchange = [&]() -> awaitable<http_response> {
    co_await http::async_write(*s, req, use_awaitable);
    boost::beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(4 * 1024 * 1024);
    co_await http::async_read(*s, buf, parser, use_awaitable);
    co_return parser.release();
  };
  auto res = co_await with_deadline(exchange(), deadline - (clock::now() - started), "HTTPS request to " + t.host);
  error_code ec;
  s->next_layer().close(ec);
  co_return res;
}

}  // namespace shadowlink
