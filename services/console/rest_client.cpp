#include "services/console/rest_client.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

namespace shadowlink::console {
namespace json = boost::json;

client::client(const options& o) : o_(o), tls_(make_trust(o.ca_file, o.pin)) {
  auto u = boost::urls::parse_uri(o.server);
  if (!u || u->scheme() != "https") throw cli_error("--server must be an https:// URL: " + o.server);
  target_.host = u->host_address();
  target_.port = u->has_port() ? std::string(u->port()) : "443";
}

void client::follow_node(std::string_view url) {
  auto u = boost::urls::parse_uri(url);
  if (!u || u->scheme() != "https" || u->host_address().empty()) throw cli_error("the server named a node that is not an https:// URL");
  target_.host = u->host_address();
  target_.port = u->has_port() ? std::string(u->port()) : "443";
}

// Every call is answered at once (a session's set-up is followed by polling its state), so a
// call that takes longer than this finds a server in trouble.
awaitable<http_response> client::call(http::verb verb, std::string target, std::string body) {
  co_await ensure_login();
  http_request req{verb, target, 11};
  req.set(http::field::authorization, "Bearer " + token_);
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = std::move(body);
  }
  co_return co_await https_request(tls_, target_, std::move(req), 60s);
}

awaitable<void> client::ensure_login() {
  if (!token_.empty()) co_return;
  if (!o_.token.empty()) {
    token_ = o_.token;
    co_return;
  }
  if (o_.user.empty()) throw cli_error("give --token, or --user with --password (or SHADOWLINK_PASSWORD)");
  http_request req{http::verb::post, "/api/v1/login", 11};
  req.set(http::field::content_type, "application/json");
  req.body() = json::serialize(json::object{{"user", o_.user}, {"password", o_.password}});
  auto res = co_await https_request(tls_, target_, std::move(req), 30s);
  auto doc = parse(res);
  std::string_view t;
  if (res.result() != http::status::ok || doc["token"].get(t)) throw cli_error("login failed: " + error_of(res));
  token_ = std::string(t);
  cookie_ = std::string(res[http::field::set_cookie]);
  cookie_ = cookie_.substr(0, cookie_.find(';'));
}

simdjson::dom::element client::parse(const http_response& res) {
  simdjson::dom::element e;
  if (parser_.parse(res.body()).get(e)) throw cli_error("server sent invalid JSON (HTTP " + std::to_string(res.result_int()) + ")");
  return e;
}

std::string client::error_of(const http_response& res) {
  simdjson::dom::parser p;
  std::string_view msg;
  simdjson::dom::element e;
  if (!p.parse(res.body()).get(e) && !e["error"].get(msg)) return std::string(msg) + " (HTTP " + std::to_string(res.result_int()) + ")";
  return "HTTP " + std::to_string(res.result_int());
}

}  // namespace shadowlink::console
