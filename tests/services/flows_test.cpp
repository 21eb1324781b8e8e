// The UMS's flows and their failure paths, in process: every set-up step that can fail, and the
// three ways a running session ends, each checked in the session list (GET /api/v1/sessions/ID),
// the audit trail and what the viewer's tunnel hears.
#include "framework/deadline.hpp"
#include "framework/log.hpp"
#include "framework/meeting_point.hpp"
#include "framework/tls.hpp"
#include "framework/token.hpp"
#include "services/flow_checks.hpp"

#include <catch2/catch.hpp>

using namespace shadowlink;
using namespace shadowlink::testing;
namespace json = boost::json;

TEST_CASE("a console session through the UMS and the device agent shows the device's screen, and how it ended is in the session list and the audit trail") {
  service_stack st;
  xvnc vnc;
  st.run([&]() -> awaitable<void> {
    co_await vnc.start(st.dir(), "#ff0000");
    const auto port = st.start("[" + st.ums(service_stack::device_entry("tc-1")) + "]");
    st.start("[" + st.agent("tc-1", up_url(port), socket_of(vnc)) + "]");
    st.console(port);
    co_await st.wait_online("tc-1", 10s);
    const auto id = co_await st.request("tc-1");
    auto waiting = co_await st.wait_state(id, "waiting for the viewer", 10s);
    REQUIRE(text(waiting, "state") == "waiting for the viewer");
    tls_client tls(make_trust(st.ca_file(), ""));
    auto tunnel = co_await open_viewer(tls, waiting);
    auto active = co_await st.wait_state(id, "active", 5s);
    CHECK(text(active, "state") == "active");
    auto fb = co_await rfb::capture(*tunnel, 10s);
    CHECK(fb.width == 64);
    CHECK(fb.height == 48);
    CHECK(pixel(fb, 10, 10) == red);
    CHECK(pixel(fb, 63, 47) == red);
    CHECK(pixel(fb, 10, 10) != blue);  // the probe tells colours apart (the blue screen below is its positive case)
    co_await close_stream(*tunnel, "viewer done");
    auto ended = co_await st.wait_state(id, "ended", 5s);
    CHECK(text(ended, "end_reason") == "viewer closed");
    CHECK(ended.at("bytes_to_viewer").to_number<std::int64_t>() > 64 * 48 * 3);
    auto audit = co_await st.audit_of(id);
    CHECK(events_of(audit) == "session_requested device_answer session_started session_ended");
    REQUIRE(audit.size() == 4);
    CHECK(text(audit[1], "answer") == "accepted");
    CHECK(text(audit[3], "outcome") == "viewer closed");
    co_await vnc.stop();
  }, 60s);
}

TEST_CASE("a device that refuses, or whose VNC server is down, ends the session with its reason before any tunnel") {
  service_stack st;
  xvnc vnc;
  st.run([&]() -> awaitable<void> {
    co_await vnc.start(st.dir(), "#0000ff");
    const auto port = st.start("[" + st.ums(service_stack::device_entry("asks", "ask") + "," + service_stack::device_entry("novnc") + "," +
                                            service_stack::device_entry("fine")) + "]");
    // Nobody to ask: no X display for the consent dialog.
    st.start("[" + st.agent("asks", up_url(port), socket_of(vnc) + R"(, "display": "")") + "," +
             st.agent("novnc", up_url(port), R"("vnc_socket": ")" + st.dir() + R"(/no-such-vnc.sock")") + "," +
             st.agent("fine", up_url(port), socket_of(vnc)) + "]");
    st.console(port);
    co_await st.wait_online("asks", 10s);
    co_await st.wait_online("novnc", 10s);
    co_await st.wait_online("fine", 10s);

    const auto refused = co_await st.request("asks");
    auto a = co_await st.wait_state(refused, "ended", 10s);
    CHECK_THAT(text(a, "end_reason"), Catch::StartsWith("device refused: "));
    CHECK(!a.contains("tunnel_url"));
    auto audit = co_await st.audit_of(refused);
    CHECK(events_of(audit) == "session_requested device_answer session_ended");
    REQUIRE(audit.size() == 3);
    CHECK(text(audit[1], "answer") == "refused");
    CHECK(text(audit[2], "outcome") == text(a, "end_reason"));

    const auto down = co_await st.request("novnc");
    auto b = co_await st.wait_state(down, "ended", 10s);
    CHECK(text(b, "end_reason") == "device refused: VNC server on the device is not reachable");
    auto down_audit = co_await st.audit_of(down);
    CHECK(events_of(down_audit) == "session_requested device_answer session_ended");

    // Positive control: the same UMS and screen with a device that can serve, and blue is blue.
    const auto ok = co_await st.request("fine");
    auto c = co_await st.wait_state(ok, "waiting for the viewer", 10s);
    tls_client tls(make_trust(st.ca_file(), ""));
    auto tunnel = co_await open_viewer(tls, c);
    auto fb = co_await rfb::capture(*tunnel, 10s);
    CHECK(pixel(fb, 10, 10) == blue);
    co_await close_stream(*tunnel, "viewer done");
    co_await vnc.stop();
  }, 60s);
}

TEST_CASE("a real agent whose user is being asked closes the dialog when the session is ended, and is free for the next request within moments, not when the dialog would have timed out") {
  service_stack st;
  xvnc vnc;
  st.run([&]() -> awaitable<void> {
    co_await vnc.start(st.dir(), "#ff0000");
    const auto port = st.start("[" + st.ums(service_stack::device_entry("asks", "ask")) + "]");
    // A "dialog" nobody answers for 60 s: only the end can close it in time.
    st.start("[" + st.agent("asks", up_url(port), socket_of(vnc) + R"(, "display": ")" + vnc.display() +
                                                    R"(", "consent_command": ["sleep", "60"])") + "]");
    st.console(port);
    co_await st.wait_online("asks", 10s);
    const auto first = co_await st.request("asks");
    auto asking = co_await st.wait_state(first, "waiting for the device's user", 10s);
    REQUIRE(text(asking, "state") == "waiting for the device's user");
    auto ended = co_await st.end(first);
    CHECK(ended.result() == http::status::no_content);
    co_await st.wait_state(first, "ended", 5s);
    // With the dialog still open the device refuses as "already being shadowed" for 60 s; once it
    // is closed (the agent reaps it within its 50 ms poll) the next request is asked again.
    json::object again;
    const auto until = clock::now() + 5s;
    do {
      const auto next = co_await st.request("asks");
      again = co_await st.wait_state(next, "waiting for the device's user", 5s);
      if (text(again, "state") != "ended") break;
      CHECK_THAT(text(again, "end_reason"), Catch::EndsWith("device is already being shadowed"));
      net::steady_timer pause(co_await net::this_coro::executor, 100ms);
      co_await pause.async_wait(use_awaitable);
    } while (clock::now() < until);
    CHECK(text(again, "state") == "waiting for the device's user");
    co_await vnc.stop();
  }, 60s);
}

TEST_CASE("a session for a device that is not connected is refused at once and the refusal is audited") {
  service_stack st;
  st.run([&]() -> awaitable<void> {
    const auto port = st.start("[" + st.ums(service_stack::device_entry("away")) + "]");
    auto& c = st.console(port);
    auto res = co_await c.call(http::verb::post, "/api/v1/sessions", R"({"device": "away", "wait": false})");
    CHECK(res.result() == http::status::conflict);
    CHECK(c.error_of(res).find("device is offline") != std::string::npos);
    auto audit = co_await st.get("/api/v1/audit");
    std::string refusals;
    for (auto& r : audit.at("records").as_array())
      if (text(r.as_object(), "event") == "session_refused")
        refusals += text(r.as_object(), "device") + ": " + text(r.as_object(), "reason") + ";";
    CHECK(refusals == "away: device is offline;");
  }, 30s);
}

TEST_CASE("a device that never answers, or leaves while it is asked, ends the session within the answer deadline") {
  service_stack st;
  st.run([&]() -> awaitable<void> {
    const auto port = st.start("[" + st.ums(service_stack::device_entry("silent") + "," + service_stack::device_entry("leaves"),
                                            R"("consent_timeout_s": 1)") + "]");
    st.console(port);
    tls_client tls(make_trust(st.ca_file(), ""));
    scripted_device silent, leaves;
    co_await silent.connect(st.tasks(), tls, port, "silent");
    co_await leaves.connect(st.tasks(), tls, port, "leaves");

    const auto quiet = co_await st.request("silent");
    auto asked = co_await silent.next(up::kind::shadow_request, 5s);
    CHECK(asked.session_id == quiet);
    const auto started = clock::now();
    auto a = co_await st.wait_state(quiet, "ended", 5s);
    CHECK(text(a, "end_reason") == "device did not answer");
    CHECK(clock::now() - started < 3s);
    auto quiet_audit = co_await st.audit_of(quiet);
    CHECK(events_of(quiet_audit) == "session_requested session_ended");

    const auto gone = co_await st.request("leaves");
    co_await leaves.next(up::kind::shadow_request, 5s);
    leaves.leave();
    auto b = co_await st.wait_state(gone, "ended", 5s);
    CHECK(text(b, "end_reason") == "device went offline");
    silent.leave();
  }, 30s);
}

TEST_CASE("a console that never opens its tunnel loses the session at the viewer deadline, and the device's tunnel is closed") {
  service_stack st;
  xvnc vnc;
  st.run([&]() -> awaitable<void> {
    co_await vnc.start(st.dir(), "#ff0000");
    const auto port = st.start("[" + st.ums(service_stack::device_entry("tc-1"), R"("viewer_timeout_s": 1)") + "]");
    st.start("[" + st.agent("tc-1", up_url(port), socket_of(vnc)) + "]");
    st.console(port);
    co_await st.wait_online("tc-1", 10s);
    const auto id = co_await st.request("tc-1");
    auto waiting = co_await st.wait_state(id, "waiting for the viewer", 10s);
    REQUIRE(text(waiting, "state") == "waiting for the viewer");
    auto ended = co_await st.wait_state(id, "ended", 5s);
    CHECK(text(ended, "end_reason") == "the viewer did not connect in time");
    auto audit = co_await st.audit_of(id);
    CHECK(events_of(audit) == "session_requested device_answer session_ended");
    // The ticket died with the session: a late viewer is refused.
    tls_client tls(make_trust(st.ca_file(), ""));
    auto late = co_await settle(open_viewer(tls, waiting));
    CHECK(late.error);
    // The device is free again: the next session gets as far as the viewer.
    const auto next = co_await st.request("tc-1");
    auto again = co_await st.wait_state(next, "waiting for the viewer", 10s);
    CHECK(text(again, "state") == "waiting for the viewer");
    co_await vnc.stop();
  }, 60s);
}

TEST_CASE("an administrator ends a session through REST while the device is asked, while the viewer is awaited and while it runs") {
  service_stack st;
  xvnc vnc;
  st.run([&]() -> awaitable<void> {
    co_await vnc.start(st.dir(), "#ff0000");
    const auto port = st.start("[" + st.ums(service_stack::device_entry("silent") + "," + service_stack::device_entry("tc-1")) + "]");
    st.start("[" + st.agent("tc-1", up_url(port), socket_of(vnc)) + "]");
    st.console(port);
    tls_client tls(make_trust(st.ca_file(), ""));
    scripted_device silent;
    co_await silent.connect(st.tasks(), tls, port, "silent");
    co_await st.wait_online("tc-1", 10s);

    const auto asking = co_await st.request("silent");
    co_await silent.next(up::kind::shadow_request, 5s);
    auto ended_asking = co_await st.end(asking);
    CHECK(ended_asking.result() == http::status::no_content);
    auto a = co_await st.wait_state(asking, "ended", 5s);
    CHECK(text(a, "end_reason") == "ended by automation");
    auto told = co_await silent.next(up::kind::end_session, 5s);  // the device stops asking its user
    CHECK(told.session_id == asking);

    const auto waiting = co_await st.request("tc-1");
    co_await st.wait_state(waiting, "waiting for the viewer", 10s);
    auto ended_waiting = co_await st.end(waiting);
    CHECK(ended_waiting.result() == http::status::no_content);
    auto b = co_await st.wait_state(waiting, "ended", 5s);
    CHECK(text(b, "end_reason") == "ended by automation");

    const auto running = co_await st.request("tc-1");
    auto c = co_await st.wait_state(running, "waiting for the viewer", 10s);
    auto tunnel = co_await open_viewer(tls, c);
    co_await rfb::capture(*tunnel, 10s);
    auto ended_running = co_await st.end(running);
    CHECK(ended_running.result() == http::status::no_content);
    auto heard = co_await close_reason_of(*tunnel, 5s);
    CHECK(heard == "ended by automation");
    auto d = co_await st.wait_state(running, "ended", 5s);
    CHECK(text(d, "end_reason") == "ended by automation");
    auto audit = co_await st.audit_of(running);
    CHECK(events_of(audit) == "session_requested device_answer session_started session_end_requested session_ended");
    silent.leave();
    co_await vnc.stop();
  }, 60s);
}

TEST_CASE("a console session through the gateway shows the device's screen, a device behind it that is asked hears of an end through REST, and a gateway that goes away ends the session with that reason") {
  service_stack st;
  xvnc vnc;
  st.run([&]() -> awaitable<void> {
    co_await vnc.start(st.dir(), "#ff0000");
    const auto gw_port = st.start_gateway();
    const std::string gw_url = "wss://127.0.0.1:" + std::to_string(gw_port);
    const auto port = st.start("[" + st.ums(service_stack::device_entry("remote") + "," + service_stack::device_entry("silent"),
                                            service_stack::gateway_settings(gw_port)) + "]");
    st.start("[" + st.agent("remote", gw_url + "/up", socket_of(vnc)) + "]");
    st.console(port);
    co_await st.wait_online("remote", 15s);
    tls_client tls(make_trust(st.ca_file(), ""));
    scripted_device silent;  // behind the gateway: the gateway relays the request and the end
    co_await silent.connect(st.tasks(), tls, gw_port, "silent");
    co_await st.wait_online("silent", 10s);
    const auto asking = co_await st.request("silent");
    co_await silent.next(up::kind::shadow_request, 5s);
    auto ended_asking = co_await st.end(asking);
    CHECK(ended_asking.result() == http::status::no_content);
    auto told = co_await silent.next(up::kind::end_session, 5s);
    CHECK(told.session_id == asking);
    silent.leave();

    const auto id = co_await st.request("remote");
    auto waiting = co_await st.wait_state(id, "waiting for the viewer", 10s);
    REQUIRE(text(waiting, "gateway") == "icg");
    auto tunnel = co_await open_viewer(tls, waiting);
    CHECK(parse_wss_url(text(waiting, "tunnel_url")).port == std::to_string(gw_port));
    auto fb = co_await rfb::capture(*tunnel, 10s);
    CHECK(pixel(fb, 10, 10) == red);
    co_await st.wait_state(id, "active", 5s);
    st.stop_service("icg");
    auto ended = co_await st.wait_state(id, "ended", 10s);
    CHECK(text(ended, "end_reason") == "gateway connection lost");
    auto audit = co_await st.audit_of(id);
    CHECK_THAT(events_of(audit), Catch::StartsWith("session_requested") && Catch::EndsWith("session_ended"));
    co_await vnc.stop();
  }, 60s);
}

TEST_CASE("wrong device credentials make later hellos from that address wait before they are checked, and the genuine device still comes in") {
  service_stack st;
  st.run([&]() -> awaitable<void> {
    const auto port = st.start("[" + st.ums(service_stack::device_entry("tc-1")) + "]");
    st.console(port);
    tls_client tls(make_trust(st.ca_file(), ""));
    const auto genuine = service_stack::credential_of("tc-1");
    const auto wrong = genuine + "-guessed";
    REQUIRE(wrong != genuine);
    std::vector<clock::duration> took;
    for (int i = 0; i < 3; ++i) {
      scripted_device guesser;
      const auto began = clock::now();
      auto refused = co_await guesser.hello_with(st.tasks(), tls, port, "tc-1", wrong);
      took.push_back(clock::now() - began);
      CHECK(refused == "unknown device or wrong credential");
    }
    // The first guess is answered at once; the second waits 250 ms, the third 500 ms (at least).
    CHECK(took[1] >= 250ms);
    CHECK(took[2] >= 500ms);
    scripted_device real;  // delayed too (from the same address), but let in
    co_await real.connect(st.tasks(), tls, port, "tc-1");
    co_await st.wait_online("tc-1", 5s);
  }, 60s);
}

TEST_CASE("wrong hellos naming a known device make later hellos naming it wait, from any address, while other devices are not slowed") {
  service_stack st;
  st.run([&]() -> awaitable<void> {
    const auto port = st.start("[" + st.ums(service_stack::device_entry("tc-1") + "," + service_stack::device_entry("tc-2")) + "]");
    st.console(port);
    const auto wrong = service_stack::credential_of("tc-1") + "-guessed";
    // One wrong hello for tc-1 from each of two addresses: neither address has earned much, tc-1 has.
    for (const char* from : {"127.0.0.2", "127.0.0.3"}) {
      tls_client tls(make_trust(st.ca_file(), ""));
      tls.set_source_address(from);
      scripted_device guesser;
      auto refused = co_await guesser.hello_with(st.tasks(), tls, port, "tc-1", wrong);
      CHECK(refused == "unknown device or wrong credential");
    }
    tls_client fresh(make_trust(st.ca_file(), ""));
    fresh.set_source_address("127.0.0.4");  // an address with no failure of its own
    scripted_device third;
    auto began = clock::now();
    auto refused = co_await third.hello_with(st.tasks(), fresh, port, "tc-1", wrong);
    const auto named_tc1 = clock::now() - began;
    CHECK(refused == "unknown device or wrong credential");
    CHECK(named_tc1 >= 500ms);  // two failures for tc-1: 250 ms doubled
    tls_client other(make_trust(st.ca_file(), ""));
    other.set_source_address("127.0.0.5");
    scripted_device tc2;
    began = clock::now();
    co_await tc2.connect(st.tasks(), other, port, "tc-2");
    const auto named_tc2 = clock::now() - began;
    CHECK(named_tc2 < named_tc1);  // tc-2 was not slowed by tc-1's guessers
    scripted_device real;  // waits too, but comes in
    co_await real.connect(st.tasks(), other, port, "tc-1");
    co_await st.wait_online("tc-1", 5s);
  }, 60s);
}

namespace {
// Devices "target" and "intruder" connect at `device_port` (the UMS's or a gateway's); a session
// for target is asked; the intruder says yes, that the tunnel is there and that it ended, for that
// session; nothing of it counts, and target's own refusal ends the session.
awaitable<void> check_intruder_is_ignored(service_stack& st, tls_client& tls, std::uint16_t device_port) {
  scripted_device target, intruder;
  co_await target.connect(st.tasks(), tls, device_port, "target");
  co_await intruder.connect(st.tasks(), tls, device_port, "intruder");
  co_await st.wait_online("target", 10s);
  co_await st.wait_online("intruder", 10s);
  const auto id = co_await st.request("target");
  auto request = co_await target.next(up::kind::shadow_request, 5s);
  REQUIRE(request.session_id == id);
  up::message forged;  // the intruder knows (or guesses) the session's id
  forged.session_id = id;
  forged.type = up::kind::shadow_accepted;
  intruder.send(forged);
  forged.type = up::kind::tunnel_arrived;
  intruder.send(forged);
  forged.type = up::kind::shadow_ended;
  forged.reason = "forged end";
  intruder.send(forged);
  co_await sleep_for(1s);  // time for the forged messages to be acted on, were they heeded
  auto still = (co_await st.get("/api/v1/sessions/" + id)).as_object();
  CHECK(text(still, "state") == "asking the device");
  up::message no;
  no.type = up::kind::shadow_refused;
  no.session_id = id;
  no.reason = "declined by the device's user";
  target.send(no);
  auto ended = co_await st.wait_state(id, "ended", 5s);
  CHECK_THAT(text(ended, "end_reason"), Catch::Contains("declined by the device's user"));
  CHECK_THAT(text(ended, "end_reason"), !Catch::Contains("forged"));
}
}  // namespace

TEST_CASE("asked for a session's state after the one the client saw, the UMS answers when the session moves on, at the time limit if it does not, and at once if it already has") {
  service_stack st;
  st.run([&]() -> awaitable<void> {
    const auto port = st.start("[" + st.ums(service_stack::device_entry("quiet")) + "]");
    auto& c = st.console(port);
    tls_client tls(make_trust(st.ca_file(), ""));
    scripted_device quiet;  // takes the request and says nothing until told to
    co_await quiet.connect(st.tasks(), tls, port, "quiet");
    co_await st.wait_online("quiet", 5s);
    const auto id = co_await st.request("quiet");
    const auto request = co_await quiet.next(up::kind::shadow_request, 5s);
    REQUIRE(request.session_id == id);
    co_await st.wait_state(id, "asking the device", 5s);
    const std::string asking = "/api/v1/sessions/" + id + "?after=asking%20the%20device";

    // Nothing happens: the answer comes at wait_s, with the same state.
    auto t0 = clock::now();
    auto same = co_await c.call(http::verb::get, asking + "&wait_s=1");
    CHECK(clock::now() - t0 >= 900ms);
    CHECK(text(json::parse(same.body()).as_object(), "state") == "asking the device");

    // The device refuses while a request waits: the answer comes then, not at its 20 s limit.
    meeting_point<http_response> waited(co_await net::this_coro::executor);
    auto wait_for_step = [&]() -> awaitable<void> { waited.deliver(co_await c.call(http::verb::get, asking + "&wait_s=20")); };
    st.tasks().spawn(wait_for_step(), "test/long-poll");
    co_await sleep_for(300ms);
    CHECK_FALSE(waited.ready());  // still waiting: the session has not moved
    up::message no;
    no.type = up::kind::shadow_refused;
    no.session_id = id;
    no.reason = "declined by the device's user";
    t0 = clock::now();
    quiet.send(no);
    const auto moved = co_await waited.wait(clock::now() + 10s);
    CHECK(clock::now() - t0 < 5s);
    const auto after = json::parse(moved.body()).as_object();
    CHECK(text(after, "state") == "ended");
    CHECK_THAT(text(after, "end_reason"), Catch::Contains("declined by the device's user"));

    // Already past the state given: at once.
    t0 = clock::now();
    auto at_once = co_await c.call(http::verb::get, asking + "&wait_s=20");
    CHECK(clock::now() - t0 < 5s);
    CHECK(text(json::parse(at_once.body()).as_object(), "state") == "ended");
    auto too_long = co_await c.call(http::verb::get, asking + "&wait_s=31");
    CHECK(too_long.result() == http::status::bad_request);
  }, 60s);
}

TEST_CASE("a device cannot answer for another device's session: its yes, tunnel report and end are ignored, and its own device's answer counts") {
  service_stack st;
  st.run([&]() -> awaitable<void> {
    const auto port = st.start("[" + st.ums(service_stack::device_entry("target") + "," + service_stack::device_entry("intruder")) + "]");
    st.console(port);
    tls_client tls(make_trust(st.ca_file(), ""));
    co_await check_intruder_is_ignored(st, tls, port);
  }, 60s);
}

TEST_CASE("a device link that sends an oversized message is closed, and other devices stay online") {
  service_stack st;
  st.run([&]() -> awaitable<void> {
    const auto port = st.start("[" + st.ums(service_stack::device_entry("big") + "," + service_stack::device_entry("calm")) + "]");
    st.console(port);
    tls_client tls(make_trust(st.ca_file(), ""));
    scripted_device big, calm;
    co_await big.connect(st.tasks(), tls, port, "big");
    co_await calm.connect(st.tasks(), tls, port, "calm");
    co_await st.wait_online("big", 5s);
    up::message huge;
    huge.type = up::kind::shadow_refused;  // (a kind whose reason is sent)
    huge.session_id = "s-000000000000";
    huge.reason = std::string(up::max_message_bytes + 1024, 'x');  // certainly over the limit
    REQUIRE(huge.reason.size() > up::max_message_bytes);
    big.send(huge);
    std::string ended;
    try {
      co_await big.next(up::kind::welcome, 5s);  // (nothing comes: the link ends)
    } catch (const std::exception& e) {
      ended = e.what();
    }
    CHECK(!ended.empty());
    CHECK_THAT(ended, !Catch::Contains("waiting for a message"));  // closed at once, not timed out
    json::array devices;
    for (int i = 0; i < 50; ++i) {
      devices = (co_await st.get("/api/v1/devices")).at("devices").as_array();
      bool big_online = false;
      for (auto& d : devices)
        if (text(d.as_object(), "id") == "big") big_online = d.as_object().at("online").as_bool();
      if (!big_online) break;
      co_await sleep_for(100ms);
    }
    for (auto& d : devices) {
      INFO(json::serialize(d));
      CHECK(d.as_object().at("online").as_bool() == (text(d.as_object(), "id") == "calm"));
    }
  }, 60s);
}

TEST_CASE("a viewer that sends a tunnel message over the 1 MiB limit ends its own session with that reason, and the device takes the next one") {
  service_stack st;
  xvnc vnc;
  st.run([&]() -> awaitable<void> {
    co_await vnc.start(st.dir(), "#ff0000");
    const auto port = st.start("[" + st.ums(service_stack::device_entry("tc-1")) + "]");
    st.start("[" + st.agent("tc-1", up_url(port), socket_of(vnc)) + "]");
    st.console(port);
    co_await st.wait_online("tc-1", 10s);
    const auto id = co_await st.request("tc-1");
    auto waiting = co_await st.wait_state(id, "waiting for the viewer", 10s);
    tls_client tls(make_trust(st.ca_file(), ""));
    auto tunnel = co_await open_viewer(tls, waiting);
    co_await st.wait_state(id, "active", 5s);
    const std::string huge(2u << 20, 'x');  // one WebSocket message of 2 MiB: certainly over the limit
    REQUIRE(huge.size() > (1u << 20));
    error_code ec;
    co_await tunnel->write(net::buffer(huge), ec);  // (may fail once the UMS has closed)
    auto ended = co_await st.wait_state(id, "ended", 10s);
    CHECK_THAT(text(ended, "end_reason"), Catch::StartsWith("viewer failed: ") && Catch::Contains("exceeded the locally configured limit"));
    // Only that session ended: the device is online and shadowable at once.
    const auto fb = co_await capture_session(st, tls, "tc-1");
    CHECK(pixel(fb, 10, 10) == red);
    co_await vnc.stop();
  }, 60s);
}

TEST_CASE("behind the gateway too, a device cannot answer for another device's session") {
  service_stack st;
  st.run([&]() -> awaitable<void> {
    const auto gw_port = st.start_gateway();
    const auto port = st.start("[" + st.ums(service_stack::device_entry("target") + "," + service_stack::device_entry("intruder"),
                                            service_stack::gateway_settings(gw_port)) + "]");
    st.console(port);
    tls_client tls(make_trust(st.ca_file(), ""));
    co_await check_intruder_is_ignored(st, tls, gw_port);
  }, 60s);
}
