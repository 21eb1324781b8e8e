// Every HTTPS request the UMS and the gateway serve is read with Beast's parser under the
// server's limits, then routed by path and authenticated by bearer token or cookie, with the
// cross-site check for cookie logins. Bytes arrive in any split; whatever they are, the server
// answers with a response it can write, or reads on.
#include "framework/https_server.hpp"
#include "tests/fuzz/fuzz_input.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/url/parse.hpp>

#include <cstdlib>

namespace {
using namespace shadowlink;

// The UMS's routes (the handler is the route's name here).
const std::vector<std::pair<std::string, std::string>> routes{
    {"/api/", "rest"}, {"/up", "device"}, {"/up/ums", "ums link"}, {"/tunnel/", "tunnel"}, {"/webapp/", "web app"}, {"/", "pages"}};

void answer(const http_request& req, http::status status, std::string_view why) {
  auto res = error_response(req, status, why);
  res.prepare_payload();
  if (res.body().empty()) std::abort();
}

void serve(http_request req) {
  const auto* route = longest_prefix_route(routes, req.target());
  if (!route) return answer(req, http::status::not_found, "not found");  // a target without "/" (Beast accepts "*" and others)
  const auto bearer = bearer_token(req);
  const auto cookie = cookie_value(req, "sl_session");
  if (cookie.find(';') != std::string_view::npos) std::abort();
  const bool by_cookie = bearer.empty() && !cookie.empty();
  if (by_cookie && !same_site_request(req, {"https://ums.example:8443"})) return answer(req, http::status::forbidden, "cross-site");
  if (boost::beast::websocket::is_upgrade(req)) return answer(req, http::status::not_found, "no WebSocket endpoint");
  if (auto url = boost::urls::parse_origin_form(req.target())) {
    std::vector<std::string> segments;
    for (auto seg : url->segments()) segments.push_back(seg);
    for (auto param : url->params()) segments.push_back(param.key);
  }
  answer(req, http::status::ok, *route);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const server_limits limits;
  fuzz::splitter split({data, size});
  boost::beast::flat_buffer buf(limits.header_bytes + limits.body_bytes);
  std::size_t pos = 0;
  // Requests one after another on one connection, as keep-alive clients send them.
  for (int request = 0; request < 16; ++request) {
    http::request_parser<http::string_body> parser;
    apply_request_limits(parser, limits);
    error_code ec;
    while (!parser.is_done()) {
      if (buf.size() == 0 || ec == http::error::need_more) {
        ec = {};
        if (pos == size) {
          if (!parser.got_some()) return 0;  // the client closed between requests
          parser.put_eof(ec);
          break;
        }
        const auto n = split.next(std::min(size - pos, buf.max_size() - buf.size()));
        if (n == 0) {
          ec = http::error::buffer_overflow;
          break;
        }
        auto room = buf.prepare(n);
        std::memcpy(room.data(), data + pos, n);
        buf.commit(n);
        pos += n;
      }
      buf.consume(parser.put(buf.data(), ec));
      if (ec && ec != http::error::need_more) break;
    }
    if (!parser.is_done() || ec) {
      answer(parser.get(), http::status::bad_request, "malformed request: " + ec.message());
      return 0;
    }
    serve(parser.release());
    if (pos == size && buf.size() == 0) return 0;
  }
  return 0;
}
