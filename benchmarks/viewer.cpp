#include "benchmarks/viewer.hpp"

#include "protocol/legacy_password.hpp"
#include "protocol/up_link.hpp"

#include <boost/json.hpp>
#include <simdjson.h>

namespace shadowlink::bench {

namespace {

// An OS 11 tunnel together with the client that pins the device's certificate, which must outlive
// it (members go in reverse order: the stream first).
class pinned_stream final : public stream {
 public:
  pinned_stream(std::unique_ptr<tls_client> client, stream_ptr s) : client_(std::move(client)), s_(std::move(s)) {}
  awaitable<std::size_t> read_some(net::mutable_buffer b, error_code& ec) override { return s_->read_some(b, ec); }
  awaitable<void> write(net::const_buffer b, error_code& ec) override { return s_->write(b, ec); }
  void interrupt(std::string_view reason) override { s_->interrupt(reason); }
  awaitable<void> close(std::string_view reason) override { return s_->close(reason); }
  void abort() noexcept override { s_->abort(); }
  std::string_view kind() const override { return s_->kind(); }
  const std::string& peer() const override { return s_->peer(); }

 private:
  std::unique_ptr<tls_client> client_;
  stream_ptr s_;
};

}  // namespace

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
  std::string_view password;
  if (!doc["password"].get(password)) {
    // An OS 11 device: connect in to its legacy port, its certificate pinned.
    auto client = std::make_unique<tls_client>(make_trust("", std::string(doc["device_pin"].get_string().value())));
    const legacy::credentials c{std::string(doc["session_id"].get_string().value()), std::string(password)};
    const std::string address(doc["device_address"].get_string().value());
    auto tunnel = co_await legacy::connect(*client, address, c, 15s);
    co_return std::make_unique<pinned_stream>(std::move(client), std::move(tunnel));
  }
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
