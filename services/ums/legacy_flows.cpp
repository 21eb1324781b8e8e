// The OS 11 (and earlier) flows on the UMS, device reached directly ("IGEL OS 11 or Earlier —
// Direct Connection" in the seed). Unlike OS 12 the viewer side connects *in* to the device: a TLS
// connection to the device's legacy port, trusted by pinning the certificate the device reported
// over its authenticated UP link, opened with a one-time session password. Over an ICG an OS 11
// device uses the gateway's tunnels, so those flows are console_icg_flow and webapp_icg_flow.
#include "framework/errors.hpp"
#include "framework/log.hpp"
#include "framework/token.hpp"
#include "protocol/legacy_password.hpp"
#include "services/ums/ums_service.hpp"

#include <boost/json.hpp>

namespace shadowlink::ums {
namespace json = boost::json;

// Internal or external viewer: the console opens the TLS tunnel to the device itself.
awaitable<void> ums_service::console_legacy_flow(session_ptr s) {
  std::string outcome;
  try {
    // 1. The console requests the device's certificate and a session password (REST).
    log::info(scope(*s), "console session (OS 11) requested by ", s->user, " for device ", s->device_id);

    // 2. The device learns the session password over its UP link and says yes (after its user).
    co_await ask_device_legacy(*s);

    // 3. The console receives the device's address, certificate pin and the session password.
    s->step("waiting for the viewer", clock::now() + cfg_.setup_timeout);
    s->answer.deliver({201, json::serialize(json::object{{"session_id", s->id},
                                                          {"device", s->device_id},
                                                          {"device_address", s->device_address},
                                                          {"device_pin", s->device_pin},
                                                          {"password", s->password},
                                                          {"view_only", s->view_only}})});

    // 4. The console checks the device's certificate, sends the password; the device reports it.
    // (The device may make a viewer wait up to 8 s after failed attempts from its address.)
    co_await session_report(*s, up::kind::tunnel_arrived, clock::now() + cfg_.setup_timeout + 15s);
    s->password.clear();
    s->step("active");
    session_started(*s);
    s->last_report = s->started;
    s->ends_on_device = true;
    co_await record("session_started", *s);

    // 5. VNC data flows in the TLS tunnel between the console and the device until either ends.
    outcome = co_await legacy_session_end(*s);
  } catch (const std::exception& e) {
    outcome = console_failed(*s, e);
  }
  co_await end_session(*s, outcome);
}

// Console, OS 11 device whose sessions are recorded: the console's tunnel comes to the UMS, which
// opens the TLS tunnel to the device as it does for the Web App, and records what it relays.
awaitable<void> ums_service::console_legacy_recorded_flow(session_ptr s) {
  std::string outcome;
  std::unique_ptr<tls_client> pinned;  // outlives the device's stream
  try {
    // 1. The console requests a session (REST).
    log::info(scope(*s), "console session (OS 11) requested by ", s->user, " for device ", s->device_id, ", relayed by the UMS to be recorded");
    auto ours = rv_.open(s->id, clock::now() + cfg_.consent_timeout + cfg_.setup_timeout + cfg_.viewer_timeout);

    // 2. The device learns the session password over its UP link and says yes (after its user).
    co_await ask_device_legacy(*s);

    // 3. The UMS establishes the TLS tunnel to the device (its certificate pinned, then the password).
    pinned = std::make_unique<tls_client>(make_trust("", s->device_pin));
    const legacy::credentials password{s->id, s->password};
    auto device = co_await legacy::connect(*pinned, s->device_address, password, cfg_.setup_timeout);
    s->password.clear();

    // 4. The console receives our tunnel's URL and token, and opens it.
    offer_tunnel(*s, ours.viewer_token, cfg_.viewer_timeout);
    auto viewer_end = co_await rv_.wait(s->id, side::viewer, clock::now() + cfg_.viewer_timeout);

    // 5. VNC data flows: console <-> UMS (recording) <-> device.
    outcome = co_await splice_session(*s, viewer_end, *device);
  } catch (const std::exception& e) {
    outcome = console_failed(*s, e);
  }
  co_await end_session(*s, outcome);
}

// Web App: the UMS opens the TLS tunnel to the device; the browser's WebSocket carries the VNC data.
awaitable<void> ums_service::webapp_legacy_flow(ws_upgrade& up, session_ptr s) {
  std::string outcome;
  stream_ptr browser, device;
  std::unique_ptr<tls_client> pinned;  // outlives the device's stream
  try {
    // 1. The Web App requests a session: its shadowing WebSocket names the device.
    const auto opts = up::tunnel_options();
    browser = co_await up.accept(opts);
    log::info(scope(*s), "web app session (OS 11) by ", s->user, " for device ", s->device_id, " from ", up.peer());

    // 2. The device learns the session password over its UP link and says yes (after its user).
    co_await ask_device_legacy(*s);

    // 3. The UMS establishes the TLS tunnel: the device's certificate must be the one it
    //    reported (nothing is sent otherwise), then the password.
    pinned = std::make_unique<tls_client>(make_trust("", s->device_pin));
    const legacy::credentials password{s->id, s->password};
    device = co_await legacy::connect(*pinned, s->device_address, password, cfg_.setup_timeout);
    s->password.clear();

    // 4. VNC data flows: browser <-> UMS <-> device.
    outcome = co_await splice_session(*s, browser, *device);
  } catch (const std::exception& e) {
    outcome = s->end_reason.empty() ? ending_words(e) : s->end_reason;
  }
  if (browser && s->started == clock::time_point{}) co_await close_stream(*browser, outcome);
  co_await end_session(*s, outcome);
}

// Step 2 of the OS 11 flows: a fresh password (256 bits) to the device, which keeps it for
// setup_timeout_s after it says yes, for this session only. A device linked to another node of
// the cluster is asked through that node, which knows its legacy port and certificate (from the
// device's own link) and says them with the device's yes; both nodes derive the password from a
// nonce sent along, so that the password never passes through the database.
awaitable<void> ums_service::ask_device_legacy(shadow_session& s) {
  co_await record("session_requested", s);
  const bool relayed = !s.device_node.empty();
  auto req = shadow_request(s);
  req.ttl_s = std::chrono::duration_cast<std::chrono::seconds>(cfg_.setup_timeout).count();
  up::link* device = nullptr;
  if (relayed) {
    const auto nonce = random_token();
    s.password = seal_->session_password(s.id, nonce);
    req.password = nonce;
  } else {
    device = online_.link_of(s.device_id);
    auto d = devices_.find(s.device_id);
    if (!device || d == devices_.end()) throw flow_error(http::status::conflict, "device is offline");
    if (d->second.legacy_address.empty() || d->second.legacy_pin.empty())
      throw flow_error(http::status::conflict, "the device has not reported its legacy port and certificate");
    s.device_address = d->second.legacy_address;
    s.device_pin = d->second.legacy_pin;
    s.password = random_token();
    req.password = s.password;
  }
  // When the session is ended from outside before or after the viewer came, the device ends it.
  s.on_stop = [this, id = s.id, device_id = s.device_id, node = s.device_node] {
    rv_.cancel(id);
    up::message end;
    end.type = up::kind::end_session;
    end.session_id = id;
    if (!node.empty()) post_to_node(node, "end", device_id, end);
    else if (auto* link = online_.link_of(device_id)) link->send(end);
  };
  s.step("asking the device", clock::now() + cfg_.consent_timeout);
  if (relayed) {
    try {
      co_await send_to_node(s.device_node, "ask", s.device_id, req);
    } catch (const std::exception& e) {
      throw flow_error(http::status::service_unavailable, "cannot reach node " + s.device_node + ", the device's: " + e.what());
    }
  } else if (!device->send(req)) {
    throw flow_error(http::status::conflict, "device link is congested");
  }
  s.asked = true;
  const auto yes = co_await await_device_answer(s);
  if (relayed) {
    s.device_address = yes.address;
    s.device_pin = normalize_fingerprint(yes.pin);
    if (s.device_address.empty() || s.device_pin.empty())
      throw flow_error(http::status::conflict, "node " + s.device_node + " did not say the device's legacy port and certificate");
  }
}

// Step 5 of the OS 11 console flow: the device's report of the end; a device that stops naming the
// session in its heartbeats (it died, or lost the report while reconnecting) ends it too.
awaitable<std::string> ums_service::legacy_session_end(shadow_session& s) {
  const auto silence = 3 * cfg_.heartbeat + 2s;
  for (;;) {
    bool quiet = false;
    try {
      auto ended = co_await session_report(s, up::kind::shadow_ended, clock::now() + silence);
      co_return ended.reason;
    } catch (const system_error& e) {
      if (e.code() != net::error::timed_out) throw;
      quiet = true;
    }
    if (quiet && clock::now() - s.last_report > silence) co_return "the device stopped reporting the session";
  }
}

}  // namespace shadowlink::ums
