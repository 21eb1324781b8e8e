#include "services/flow_checks.hpp"

#include "framework/deadline.hpp"
#include "framework/ws_stream.hpp"
#include "protocol/up_link.hpp"

#include <array>
#include <map>

namespace shadowlink::testing {

namespace json = boost::json;

std::string up_url(std::uint16_t port) { return "wss://127.0.0.1:" + std::to_string(port) + "/up"; }
std::string socket_of(const xvnc& v) { return R"("vnc_socket": ")" + v.socket() + "\""; }

std::string text(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string("<no ") + std::string(key) + ">";
}

std::string events_of(const std::vector<json::object>& records) {
  std::string out;
  for (auto& r : records) out += (out.empty() ? "" : " ") + std::string(r.at("event").as_string());
  return out;
}

awaitable<stream_ptr> open_viewer(tls_client& tls, const json::object& session) {
  const std::map<std::string, std::string> headers{{"Authorization", "Bearer " + text(session, "token")}};
  const auto opts = up::tunnel_options();
  co_return co_await connect_ws(&tls, parse_wss_url(text(session, "tunnel_url")), headers, opts);
}

awaitable<rfb::framebuffer> capture_session(service_stack& st, tls_client& tls, std::string device) {
  const auto id = co_await st.request(device);
  auto waiting = co_await st.wait_state(id, "waiting for the viewer", 10s);
  auto tunnel = co_await open_viewer(tls, waiting);
  auto fb = co_await rfb::capture(*tunnel, 10s);
  co_await close_stream(*tunnel, "viewer done");
  co_await st.wait_state(id, "ended", 5s);
  co_return fb;
}

std::string pixel(const rfb::framebuffer& fb, int x, int y) {
  const auto at = static_cast<std::size_t>((y * fb.width + x) * 3);
  return std::to_string(fb.rgb.at(at)) + "," + std::to_string(fb.rgb.at(at + 1)) + "," + std::to_string(fb.rgb.at(at + 2));
}

awaitable<std::string> close_reason_of(stream& s, clock::duration limit) {
  std::array<char, 4096> buf;
  const auto until = clock::now() + limit;
  for (;;) {
    error_code ec;
    co_await with_deadline(s.read_some(net::buffer(buf), ec), until - clock::now(), "waiting for the tunnel to end");
    if (ec) break;
  }
  auto* ws = dynamic_cast<ws_stream*>(&s);
  co_return ws ? ws->close_reason() : std::string();
}

}  // namespace shadowlink::testing
