// The OS 11 flows and the Web App's socket, in process. OS 11: the console connects in to the
// device's legacy TLS port, pinning the certificate the device reported and presenting the session
// password; for the Web App the UMS connects in itself. Failure paths: a certificate that is not
// the device's, a wrong password, an end through REST while the viewer is awaited, a viewer that
// never comes; for the Web App socket: no login cookie, a foreign Origin, a refusing device.
#include "framework/deadline.hpp"
#include "framework/meeting_point.hpp"
#include "framework/tls.hpp"
#include "protocol/legacy_password.hpp"
#include "protocol/up_link.hpp"
#include "services/flow_checks.hpp"
#include "services/ums/passwords.hpp"

#include <catch2/catch.hpp>

using namespace shadowlink;
using namespace shadowlink::testing;
namespace json = boost::json;

namespace {

const std::string admin_password = "in-process-admin-password";

std::string legacy_agent(const xvnc& v) {
  return socket_of(v) + R"(, "os": "11", "legacy_listen": "127.0.0.1", "legacy_port": 0)";
}

// An administrator with a password, so that a browser's login (cookie) is possible.
std::string admin_user() {
  return R"("users": [{"user": "admin", "password_hash": ")" + ums::to_string(ums::hash_password(admin_password, 1000)) + R"("}])";
}

legacy::credentials credentials_of(const json::object& session) { return {text(session, "id"), text(session, "password")}; }

// Step 4 of the OS 11 console flow, as the console does it: TLS to the device's address pinning the
// reported certificate, then the password.
awaitable<stream_ptr> connect_in(tls_client& pinned, const json::object& session, const legacy::credentials& c) {
  co_return co_await legacy::connect(pinned, text(session, "device_address"), c, 10s);
}

// The Web App's socket as a browser opens it: the login cookie and an Origin.
struct browser {
  std::string cookie;
  std::uint16_t port = 0;

  awaitable<void> log_in(std::uint16_t ums_port, const std::string& ca_file) {
    port = ums_port;
    console::options o;
    o.server = "https://127.0.0.1:" + std::to_string(port);
    o.user = "admin";
    o.password = admin_password;
    o.ca_file = ca_file;
    console::client c(o);
    co_await c.ensure_login();
    cookie = c.cookie();
  }
  awaitable<stream_ptr> open(tls_client& tls, const std::string& device, const std::string& origin, bool with_cookie = true) {
    auto t = parse_wss_url("wss://127.0.0.1:" + std::to_string(port) + "/webapp/shadow?device=" + device);
    std::map<std::string, std::string> headers{{"Origin", origin}};
    if (with_cookie) headers["Cookie"] = cookie;
    const auto opts = up::tunnel_options();
    co_return co_await connect_ws(&tls, t, headers, opts);
  }
  std::string own_origin() const { return "https://127.0.0.1:" + std::to_string(port); }
};

// What a refused upgrade said (empty if it was not refused).
awaitable<std::string> refusal_of(browser& b, tls_client& tls, const std::string& device, const std::string& origin, bool with_cookie) {
  try {
    auto s = co_await b.open(tls, device, origin, with_cookie);
    co_await close_stream(*s, "not expected to open");
  } catch (const system_error& e) {
    co_return std::string(e.what());
  }
  co_return std::string();
}

// A UMS (with `ums_extra` settings) and an OS 11 agent "tc-11" showing `vnc`, and a console
// session for it that the device has said yes to: its id and its state, which holds what the
// console needs to connect in (address, pin, password).
awaitable<std::pair<std::string, json::object>> os11_session(service_stack& st, xvnc& vnc, const std::string& ums_extra) {
  const auto port = st.start("[" + st.ums(service_stack::device_entry("tc-11"), ums_extra) + "]");
  st.start("[" + st.agent("tc-11", up_url(port), legacy_agent(vnc)) + "]");
  st.console(port);
  co_await st.wait_online("tc-11", 10s);
  auto id = co_await st.request("tc-11");
  auto waiting = co_await st.wait_state(id, "waiting for the viewer", 10s);
  REQUIRE(text(waiting, "state") == "waiting for the viewer");
  REQUIRE(text(waiting, "password").size() == 64);
  co_return std::make_pair(id, waiting);
}

// The audit trail's session_ended records of Web App sessions.
awaitable<std::vector<json::object>> ended_webapp_sessions(service_stack& st) {
  auto all = co_await st.get("/api/v1/audit");
  std::vector<json::object> out;
  for (auto& r : all.at("records").as_array())
    if (text(r.as_object(), "event") == "session_ended" && text(r.as_object(), "via") == "webapp") out.push_back(r.as_object());
  co_return out;
}

}  // namespace

TEST_CASE("an OS 11 console session connects in to the device's legacy port with the session password and the device's certificate, and shows its screen") {
  service_stack st;
  xvnc vnc;
  st.run([&]() -> awaitable<void> {
    co_await vnc.start(st.dir(), "#ff0000");
    const auto [id, waiting] = co_await os11_session(st, vnc, "");
    tls_client pinned(make_trust("", text(waiting, "device_pin")));
    auto tunnel = co_await connect_in(pinned, waiting, credentials_of(waiting));
    auto active = co_await st.wait_state(id, "active", 5s);
    CHECK(text(active, "state") == "active");
    auto fb = co_await rfb::capture(*tunnel, 10s);
    CHECK(pixel(fb, 10, 10) == red);
    CHECK(pixel(fb, 10, 10) != blue);
    co_await close_stream(*tunnel, "viewer done");
    auto ended = co_await st.wait_state(id, "ended", 10s);
    CHECK(text(ended, "end_reason") == "viewer closed");
    auto audit = co_await st.audit_of(id);
    CHECK(events_of(audit) == "session_requested device_answer session_started session_ended");
    co_await vnc.stop();
  }, 60s);
}

TEST_CASE("an OS 11 device's legacy port gives nothing to a viewer with another certificate pinned or a wrong password, and the genuine password is dead once the session ends through REST") {
  service_stack st;
  xvnc vnc;
  st.run([&]() -> awaitable<void> {
    co_await vnc.start(st.dir(), "#ff0000");
    const auto [id, waiting] = co_await os11_session(st, vnc, "");
    const auto genuine = credentials_of(waiting);

    // Another pin: the TLS handshake fails on the viewer's side, before the password is sent.
    std::string other_pin = text(waiting, "device_pin");
    other_pin[0] = other_pin[0] == '0' ? '1' : '0';
    REQUIRE(other_pin != text(waiting, "device_pin"));
    tls_client wrong_trust(make_trust("", other_pin));
    std::string refused_pin;
    try {
      co_await connect_in(wrong_trust, waiting, genuine);
    } catch (const std::exception& e) {
      refused_pin = e.what();
    }
    CHECK_THAT(refused_pin, Catch::Contains("certificate pin mismatch"));

    // The right certificate, a wrong password.
    auto wrong = genuine;
    wrong.password[0] = wrong.password[0] == 'a' ? 'b' : 'a';
    REQUIRE(wrong.password != genuine.password);
    tls_client pinned(make_trust("", text(waiting, "device_pin")));
    std::string refused_password;
    try {
      co_await connect_in(pinned, waiting, wrong);
    } catch (const std::exception& e) {
      refused_password = e.what();
    }
    CHECK_THAT(refused_password, Catch::Contains("the device refused the session password"));
    auto still = co_await st.wait_state(id, "waiting for the viewer", 1s);
    CHECK(text(still, "state") == "waiting for the viewer");  // a guess does not end the session for its owner

    // Ended through REST while the viewer is awaited: the genuine password no longer opens the port.
    auto ended_answer = co_await st.end(id);
    CHECK(ended_answer.result() == http::status::no_content);
    auto ended = co_await st.wait_state(id, "ended", 10s);
    CHECK(text(ended, "end_reason") == "ended by automation");
    std::string refused_after_end;
    try {
      co_await connect_in(pinned, waiting, genuine);  // (a failed attempt's penalty: the device answers late, within 10 s)
    } catch (const std::exception& e) {
      refused_after_end = e.what();
    }
    CHECK_THAT(refused_after_end, Catch::Contains("the device refused the session password"));
    co_await vnc.stop();
  }, 90s);
}

TEST_CASE("an OS 11 session whose viewer never connects in ends at the set-up deadline, and the device is free again") {
  service_stack st;
  xvnc vnc;
  st.run([&]() -> awaitable<void> {
    co_await vnc.start(st.dir(), "#ff0000");
    const auto [id, waiting] = co_await os11_session(st, vnc, R"("setup_timeout_s": 2)");
    auto ended = co_await st.wait_state(id, "ended", 30s);
    CHECK(text(ended, "state") == "ended");
    CHECK(text(ended, "end_reason") == "no viewer brought the session password in time");
    // The device takes the next request: it is not held by the abandoned session.
    const auto next = co_await st.request("tc-11");
    auto next_waiting = co_await st.wait_state(next, "waiting for the viewer", 10s);
    CHECK(text(next_waiting, "state") == "waiting for the viewer");
    co_await st.end(next);
    co_await vnc.stop();
  }, 90s);
}

TEST_CASE("the Web App's socket shows an OS 12 and an OS 11 device's screen with the login cookie and the UMS's own Origin, and refuses it without the cookie or from another site") {
  service_stack st;
  xvnc vnc;
  st.run([&]() -> awaitable<void> {
    co_await vnc.start(st.dir(), "#0000ff");
    const auto port = st.start("[" + st.ums(service_stack::device_entry("tc-1") + "," + service_stack::device_entry("tc-11") + "," +
                                                service_stack::device_entry("no-vnc"),
                                            admin_user()) + "]");
    st.start("[" + st.agent("tc-1", up_url(port), socket_of(vnc)) + "]");
    st.start("[" + st.agent("tc-11", up_url(port), legacy_agent(vnc)) + "]");
    st.start("[" + st.agent("no-vnc", up_url(port), R"("vnc_socket": ")" + st.dir() + R"(/nobody-listens.sock")") + "]");
    st.console(port);
    co_await st.wait_online("tc-1", 10s);
    co_await st.wait_online("tc-11", 10s);
    co_await st.wait_online("no-vnc", 10s);
    browser b;
    co_await b.log_in(port, st.ca_file());
    REQUIRE(!b.cookie.empty());
    tls_client tls(make_trust(st.ca_file(), ""));

    const std::string evil = "https://evil.example";
    REQUIRE(evil != b.own_origin());
    auto no_cookie = co_await refusal_of(b, tls, "tc-1", b.own_origin(), false);
    CHECK_THAT(no_cookie, Catch::Contains("401"));
    auto foreign = co_await refusal_of(b, tls, "tc-1", evil, true);
    CHECK_THAT(foreign, Catch::Contains("403"));

    std::vector<std::string> devices;  // (no braced list: g++ 12 cannot hold one in a coroutine's frame)
    devices.push_back("tc-1");
    devices.push_back("tc-11");
    for (const auto& device : devices) {
      INFO(device);
      auto socket = co_await b.open(tls, device, b.own_origin());
      auto fb = co_await rfb::capture(*socket, 15s);
      CHECK(pixel(fb, 10, 10) == blue);
      CHECK(pixel(fb, 10, 10) != red);
      co_await close_stream(*socket, "page closed");
    }
    // Both ended as the page closed them, recorded as Web App sessions.
    std::vector<json::object> ended;
    for (int i = 0; i < 50; ++i) {
      ended = co_await ended_webapp_sessions(st);
      if (ended.size() >= 2) break;
      co_await sleep_for(100ms);
    }
    REQUIRE(ended.size() == 2);
    for (auto& r : ended) {
      INFO(json::serialize(r));
      CHECK(text(r, "outcome") == "viewer closed");
    }

    // A device whose VNC server is down: the socket closes with the reason.
    auto refused = co_await b.open(tls, "no-vnc", b.own_origin());
    auto reason = co_await close_reason_of(*refused, 15s);
    CHECK_THAT(reason, Catch::Contains("VNC"));
    co_await vnc.stop();
  }, 90s);
}
