#include "benchmarks/viewer.hpp"

#include "protocol/up_link.hpp"

#include <boost/json.hpp>
#include <simdjson.h>

namespace shadowlink::bench {

awaitable<stream_ptr> open_shadow_session(tls_client& tls, const ums_access& ums, const std::string& device) {
  rest_target t{ums.host, ums.port};
  http_request req{http::verb::post, "/api/v1/sessions", 11};
  req.set(http::field::authorization, "Bearer " + ums.token);
  req.set(http::field::content_type, "application/json");
  req.body() = "{\"device\":\"" + device + "\"}";
  auto res = co_await https_request(tls, t, std::move(req), 30s);
  if (res.result() != http::status::created) throw std::runtime_error("session not created: " + res.body());
  simdjson::dom::parser p;
  simdjson::dom::element doc = p.parse(res.body());
  const std::string url(doc["tunnel_url"].get_string().value());
  const std::map<std::string, std::string> headers{{"Authorization", "Bearer " + std::string(doc["token"].get_string().value())}};
  const auto opts = up::tunnel_options();
  const auto target = parse_ws_url(url);
  auto ws = co_await connect_ws(&tls, target, headers, opts);
  co_return ws;
}

awaitable<stream_ptr> open_webapp_session(tls_client& tls, const ums_access& ums, const std::string& device,
                                          const std::string& user, const std::string& password) {
  rest_target t{ums.host, ums.port};
  http_request req{http::verb::post, "/api/v1/login", 11};
  req.set(http::field::content_type, "application/json");
  req.body() = boost::json::serialize(boost::json::object{{"user", user}, {"password", password}});
  auto res = co_await https_request(tls, t, std::move(req), 30s);
  if (res.result() != http::status::ok) throw std::runtime_error("login failed: " + res.body());
  std::string cookie(res[http::field::set_cookie]);
  cookie = cookie.substr(0, cookie.find(';'));
  const ws_target target{true, ums.host, ums.port, "/webapp/shadow?device=" + device};
  const std::map<std::string, std::string> headers{{"Cookie", cookie}, {"Origin", "https://" + ums.host + ":" + ums.port}};
  const auto opts = up::tunnel_options();
  auto ws = co_await connect_ws(&tls, target, headers, opts);
  co_return ws;
}

awaitable<std::string> rest_get(tls_client& tls, const ums_access& ums, const std::string& path) {
  rest_target t{ums.host, ums.port};
  http_request req{http::verb::get, path, 11};
  req.set(http::field::authorization, "Bearer " + ums.token);
  auto res = co_await https_request(tls, t, std::move(req), 30s);
  if (res.result() != http::status::ok) throw std::runtime_error("GET " + path + ": " + std::to_string(res.result_int()));
  co_return res.body();
}

}  // namespace shadowlink::bench
