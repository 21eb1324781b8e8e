// The shadowing flows over an ICG on the UMS ("IGEL OS 12 — Over ICG" in the seed). The splice
// happens at the gateway; the UMS's session coroutine still follows every step through the
// gateway's reports. Numbered comments are the seed's steps.
#include "framework/errors.hpp"
#include "framework/log.hpp"
#include "framework/token.hpp"
#include "services/ums/ums_service.hpp"

#include <boost/json.hpp>

namespace shadowlink::ums {
namespace json = boost::json;

// Console with an internal or external viewer, device behind an ICG.
awaitable<void> ums_service::console_icg_flow(session_ptr s, gateway& gw) {
  std::string outcome;
  try {
    // 1. The console asked for a session (the REST handler waits for step 3).
    log::info(scope(*s), "console session requested by ", s->user, " for device ", s->device_id, " via gateway ", gw.name);
    tickets t{s->id, random_token(), random_token()};

    // 2. Ask the ICG to open a VNC session; it asks the device (3) and relays the device's answer.
    co_await ask_gateway(*s, gw, t);

    // 3. Send the VNC session information to the console: the gateway's external tunnel URL.
    s->step("waiting for the viewer", clock::now() + cfg_.setup_timeout + cfg_.viewer_timeout);
    s->tunnel_url = gw.external_url + "/tunnel/" + s->id;
    s->viewer_token = t.viewer_token;
    s->answer.deliver({201, json::serialize(json::object{{"session_id", s->id},
                                                          {"device", s->device_id},
                                                          {"tunnel_url", gw.external_url + "/tunnel/" + s->id},
                                                          {"token", t.viewer_token},
                                                          {"gateway", gw.name},
                                                          {"view_only", s->view_only}})});

    // 4. The device and the console open their tunnels to the ICG (reported in either order).
    co_await session_report(*s, up::kind::tunnel_arrived, clock::now() + cfg_.setup_timeout + cfg_.viewer_timeout);
    co_await session_report(*s, up::kind::tunnel_arrived, clock::now() + cfg_.setup_timeout + cfg_.viewer_timeout);

    // 5. VNC data flows through the gateway until either side ends.
    s->step("active");
    s->tunnel_url.clear();
    s->viewer_token.clear();
    session_started(*s);
    co_await record("session_started", *s);
    auto ended = co_await session_report(*s, up::kind::session_ended, clock::time_point::max());
    outcome = ended.reason;
    s->bytes_to_viewer = ended.bytes_to_viewer;
    s->bytes_from_viewer = ended.bytes_from_viewer;
  } catch (const std::exception& e) {
    outcome = console_failed(*s, e);
  }
  co_await end_session(*s, outcome);
}

// Console, device behind an ICG, the device's sessions recorded: console -> UMS -> ICG <- device.
// Recordings are made at the UMS only, so the UMS joins the path as it does for the Web App: the
// console's tunnel comes to the UMS, and the UMS opens its own tunnel to the gateway.
awaitable<void> ums_service::console_icg_recorded_flow(session_ptr s, gateway& gw) {
  std::string outcome;
  try {
    // 1. The console asked for a session (the REST handler waits for step 3).
    log::info(scope(*s), "console session requested by ", s->user, " for device ", s->device_id, " via gateway ", gw.name,
              ", relayed by the UMS to be recorded");
    auto ours = rv_.open(s->id, clock::now() + cfg_.consent_timeout + cfg_.setup_timeout + cfg_.viewer_timeout);
    tickets t{s->id, random_token(), random_token()};

    // 2. Ask the ICG to open a VNC session (it asks the device) and open our tunnel to the ICG.
    co_await ask_gateway(*s, gw, t);
    const auto opts = up::tunnel_options();
    const std::map<std::string, std::string> headers{{"Authorization", "Bearer " + t.viewer_token}};
    auto icg_end = co_await connect_ws(gw.tls.get(), parse_ws_url(gw.url + "/tunnel/" + s->id), headers, opts);

    // 3. Send the VNC session information to the console: our own tunnel URL.
    offer_tunnel(*s, ours.viewer_token, cfg_.setup_timeout + cfg_.viewer_timeout, gw.name);

    // 4. The device's tunnel and ours reach the ICG; the console's reaches us.
    co_await session_report(*s, up::kind::tunnel_arrived, clock::now() + cfg_.setup_timeout);
    co_await session_report(*s, up::kind::tunnel_arrived, clock::now() + cfg_.setup_timeout);
    auto viewer_end = co_await rv_.wait(s->id, side::viewer, clock::now() + cfg_.viewer_timeout);

    // 5. VNC data flows: console <-> UMS (recording) <-> ICG <-> device.
    outcome = co_await splice_session(*s, viewer_end, *icg_end);
  } catch (const std::exception& e) {
    outcome = console_failed(*s, e);
  }
  co_await end_session(*s, outcome);
}

// Web App, device behind an ICG: browser -> UMS -> ICG <- device; the UMS opens its own tunnel.
awaitable<void> ums_service::webapp_icg_flow(ws_upgrade& up, session_ptr s, gateway& gw) {
  std::string outcome;
  stream_ptr browser;
  try {
    // 1. The Web App opened the shadowing WebSocket naming the device.
    const auto opts = up::tunnel_options();
    browser = co_await up.accept(opts);
    log::info(scope(*s), "web app session by ", s->user, " for device ", s->device_id, " via gateway ", gw.name);
    tickets t{s->id, random_token(), random_token()};

    // 2. Ask the ICG to open a VNC session (3: it asks the device) and open our own tunnel to it,
    //    at the gateway's internal address.
    co_await ask_gateway(*s, gw, t);
    const std::map<std::string, std::string> headers{{"Authorization", "Bearer " + t.viewer_token}};
    const auto target = parse_ws_url(gw.url + "/tunnel/" + s->id);
    auto icg_end = co_await connect_ws(gw.tls.get(), target, headers, opts);

    // 4. The device's tunnel (and ours) reach the ICG.
    co_await session_report(*s, up::kind::tunnel_arrived, clock::now() + cfg_.setup_timeout);
    co_await session_report(*s, up::kind::tunnel_arrived, clock::now() + cfg_.setup_timeout);

    // 5. VNC data flows: browser <-> UMS <-> ICG <-> device.
    outcome = co_await splice_session(*s, browser, *icg_end);
  } catch (const std::exception& e) {
    outcome = s->end_reason.empty() ? ending_words(e) : s->end_reason;
  }
  if (browser && s->started == clock::time_point{}) co_await close_stream(*browser, outcome);
  co_await end_session(*s, outcome);
}

// Step 2 over a gateway: the request carries both ends' tokens; the gateway relays the device's answer.
awaitable<void> ums_service::ask_gateway(shadow_session& s, gateway& gw, const tickets& t) {
  s.gateway = gw.name;
  co_await record("session_requested", s);
  // (Checked after the wait for the disk: the link may have gone meanwhile.)
  if (!gw.link) throw flow_error(http::status::conflict, "gateway " + gw.name + " is not connected");
  s.on_stop = [&gw, id = s.id] {
    up::message end;
    end.type = up::kind::end_session;
    end.session_id = id;
    if (gw.link) gw.link->send(end);
  };
  auto req = shadow_request(s);
  req.device_id = s.device_id;
  req.token = t.device_token;
  req.viewer_token = t.viewer_token;
  s.step("asking the device", clock::now() + cfg_.consent_timeout);
  if (!gw.link->send(req)) throw flow_error(http::status::conflict, "gateway link is congested");
  co_await await_device_answer(s);
}

}  // namespace shadowlink::ums
