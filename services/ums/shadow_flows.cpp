// The shadowing flows on the UMS. Each is one coroutine read top to bottom; the numbered comments
// are the steps of ../shared/seeds/shadowing-communication-flow.txt ("IGEL OS 12, Direct Connection").
#include "framework/errors.hpp"
#include "framework/log.hpp"
#include "framework/on_exit.hpp"
#include "protocol/rfb_input_filter.hpp"
#include "protocol/tunnel_endpoint.hpp"
#include "services/ums/ums_service.hpp"

#include <boost/json.hpp>

namespace shadowlink::ums {
namespace json = boost::json;

// Console with an internal or external viewer.
awaitable<void> ums_service::console_flow(session_ptr s) {
  std::string outcome;
  try {
    // 1. The console asked for a session (the REST handler created `s` and waits for step 4).
    log::info(scope(*s), "console session requested by ", s->user, " for device ", s->device_id);
    auto t = rv_.open(s->id, clock::now() + cfg_.consent_timeout + cfg_.setup_timeout + cfg_.viewer_timeout);

    // 2. Ask the device, over its UP WebSocket, to open a VNC session for shadowing.
    co_await ask_device(*s, t.device_token);

    // 3. The device opens its shadowing tunnel to us (and connects its local VNC server).
    auto device_end = co_await rv_.wait(s->id, side::device, clock::now() + cfg_.setup_timeout);

    // 4. Forward the session information to the console.
    offer_tunnel(*s, t.viewer_token, cfg_.viewer_timeout);

    // 5. The console opens its shadowing tunnel.
    auto viewer_end = co_await rv_.wait(s->id, side::viewer, clock::now() + cfg_.viewer_timeout);

    // 6. VNC data flows through both tunnels until either side ends.
    outcome = co_await splice_session(*s, viewer_end, *device_end);
  } catch (const std::exception& e) {
    outcome = console_failed(*s, e);
  }
  co_await end_session(*s, outcome);
}

// Web App: the browser's WebSocket is the viewer's tunnel from the start.
awaitable<void> ums_service::webapp_flow(ws_upgrade& up, session_ptr s) {
  std::string outcome;
  stream_ptr browser;
  try {
    // 1. The Web App opened the shadowing WebSocket naming the device (cookie and Origin checked).
    const auto opts = up::tunnel_options();
    browser = co_await up.accept(opts);
    log::info(scope(*s), "web app session by ", s->user, " for device ", s->device_id, " from ", up.peer());
    auto t = rv_.open(s->id, clock::now() + cfg_.consent_timeout + cfg_.setup_timeout);

    // 2. Ask the device, over its UP WebSocket, to open a VNC session for shadowing.
    co_await ask_device(*s, t.device_token);

    // 3. The device opens its shadowing tunnel to us.
    auto device_end = co_await rv_.wait(s->id, side::device, clock::now() + cfg_.setup_timeout);

    // 4. VNC data flows between the browser and the device.
    outcome = co_await splice_session(*s, browser, *device_end);
  } catch (const std::exception& e) {
    outcome = s->end_reason.empty() ? ending_words(e) : s->end_reason;
  }
  // The browser hears why (a WebSocket close reason) if the session ended before its splice.
  if (browser && s->started == clock::time_point{}) co_await close_stream(*browser, outcome);
  co_await end_session(*s, outcome);
}

// Step 4 of a console flow whose viewer's tunnel comes to the UMS: its URL and the viewer's
// one-time token, for the REST request waiting for them.
void ums_service::offer_tunnel(shadow_session& s, const std::string& viewer_token, clock::duration wait, std::string_view gateway) {
  s.step("waiting for the viewer", clock::now() + wait);
  s.tunnel_url = tunnel_url(s.id);
  s.viewer_token = viewer_token;
  json::object o{{"session_id", s.id}, {"device", s.device_id}, {"tunnel_url", s.tunnel_url}, {"token", viewer_token}, {"view_only", s.view_only}};
  if (!gateway.empty()) o["gateway"] = gateway;
  s.answer.deliver({201, json::serialize(o)});
}

// A console flow that failed: its reason; the REST request still waiting for step 4 (if any)
// hears it, with the status a flow_error names (504 for anything else).
std::string ums_service::console_failed(shadow_session& s, const std::exception& e) {
  if (auto* f = dynamic_cast<const flow_error*>(&e)) {
    s.answer.deliver({static_cast<unsigned>(f->status), error_json(f->what())});
    return f->what();
  }
  auto outcome = s.end_reason.empty() ? ending_words(e) : s.end_reason;
  s.answer.deliver({504, error_json("session could not be set up: " + outcome)});
  return outcome;
}

// The next report of kind `k` about the session — from its gateway, or from an OS 11 device whose
// VNC bypasses the UMS; the session's end before that (`session_ended`, `shadow_ended`) is an error.
awaitable<up::message> ums_service::session_report(shadow_session& s, up::kind k, clock::time_point deadline) {
  for (;;) {
    auto m = co_await s.reports.next(deadline);
    if (m.type == k) co_return m;
    if (m.type == up::kind::session_ended || m.type == up::kind::shadow_ended)
      throw std::runtime_error(m.reason.empty() ? "ended at the gateway or on the device" : m.reason);
  }
}

// Step 2 of every flow: the request over UP and the device's answer (after its user's consent).
awaitable<void> ums_service::ask_device(shadow_session& s, const std::string& device_token) {
  co_await record("session_requested", s);
  auto req = shadow_request(s);
  req.tunnel_url = tunnel_url(s.id);
  req.token = device_token;
  if (!s.device_node.empty()) {
    // Through the node the device's link is on; the device's tunnel still comes here.
    s.step("asking the device", clock::now() + cfg_.consent_timeout);
    s.asked = true;  // (an end sent to a device never asked is ignored there)
    try {
      co_await send_to_node(s.device_node, "ask", s.device_id, req);
    } catch (const std::exception& e) {
      throw flow_error(http::status::service_unavailable, "cannot reach node " + s.device_node + ", the device's: " + e.what());
    }
  } else {
    auto* device = online_.link_of(s.device_id);
    if (!device) throw flow_error(http::status::conflict, "device is offline");
    s.step("asking the device", clock::now() + cfg_.consent_timeout);
    if (!device->send(req)) throw flow_error(http::status::conflict, "device link is congested");
  }
  s.asked = true;
  co_await await_device_answer(s);
}

// The device's answer to step 2, directly or relayed by a gateway (after its user's consent).
awaitable<up::message> ums_service::await_device_answer(shadow_session& s) {
  up::message answer;
  try {
    answer = co_await s.device_answer.wait(clock::now() + cfg_.consent_timeout);
  } catch (const system_error& e) {
    if (e.code() == net::error::timed_out) throw flow_error(http::status::gateway_timeout, "device did not answer");
    throw flow_error(http::status::conflict, s.end_reason.empty() ? "device went offline" : s.end_reason);
  }
  const bool accepted = answer.type != up::kind::shadow_refused;
  json::object what{{"answer", accepted ? "accepted" : "refused"}, {"reason", answer.reason}};
  co_await record("device_answer", s, std::move(what));
  if (!accepted) throw flow_error(http::status::conflict, "device refused: " + answer.reason);
  s.step("connecting", clock::now() + cfg_.setup_timeout);
  co_return answer;
}

// The last step of every flow: splice, stoppable from outside (REST, shutdown), with the counters
// visible to the session list while it runs.
awaitable<std::string> ums_service::splice_session(shadow_session& s, stream_ptr& viewer_end, stream& device) {
  // View only is enforced here too, not only on the device: no relay passes input it was told to drop.
  if (s.view_only) viewer_end = rfb::make_view_only(std::move(viewer_end), scope(s));
  // A recorded session records what passed the filter: the screen and the input that reached the device.
  stream_ptr device_tap;
  if (s.recorded) {
    try {
      s.recording = recordings_->start(s.id, s.device_id, s.user);
    } catch (const std::exception& e) {
      throw flow_error(http::status::service_unavailable, "the session must be recorded, and the recording cannot start: " + ending_words(e));
    }
    viewer_end = make_recorded(std::move(viewer_end), s.recording, recording::direction::from_viewer);
    device_tap = make_recorded(device, s.recording, recording::direction::to_viewer);
  }
  on_exit finish_recording([&s] {
    if (s.recording) s.recording->finish();
  });
  auto& viewer = *viewer_end;
  auto& device_side = device_tap ? *device_tap : device;
  // Recorded before the splice exists: a failed record ends the session with nothing to unwind.
  json::object peers{{"viewer_peer", viewer.peer()}, {"device_peer", device.peer()}};
  if (s.recording) peers["recording"] = s.recording->id();
  co_await record("session_started", s, std::move(peers));
  auto o = up::relay_splice_options(cfg_.write_stall);
  o.idle_timeout = cfg_.idle_timeout;
  splicer sp(viewer, device_side, o);
  s.active = &sp;
  s.step("active");
  s.tunnel_url.clear();
  s.viewer_token.clear();
  session_started(s);
  stop_hook on_shutdown(env_.tasks, [&sp] { sp.stop("server shutting down"); });
  if (!s.end_reason.empty()) sp.stop(s.end_reason);
  log::info(scope(s), "active: viewer ", viewer.peer(), " <-> device ", device.peer());
  const auto end = co_await sp.run();
  s.active = nullptr;
  auto& c = sp.counters();
  s.bytes_to_viewer = c.bytes_ba;
  s.bytes_from_viewer = c.bytes_ab;
  const auto words = up::session_ending(end);
  if (end.how == splice_end::kind::failed) log::warn(scope(s), "splice ended: ", words);
  log::info(scope(s), "splice ended (", words, "): ", c.bytes_ba, " bytes to viewer, ", c.bytes_ab, " bytes from viewer");
  co_return words;
}

// An audit record of a step of the session: on disk before the step goes ahead, and a session
// that cannot be recorded does not go ahead.
awaitable<void> ums_service::record(std::string_view event, shadow_session& s, json::object details) {
  try {
    co_await audit_->session(event, s, std::move(details));
    audit_failed_at_ = {};
  } catch (const system_error& e) {
    audit_failed_at_ = clock::now();
    throw flow_error(http::status::service_unavailable, "the audit trail cannot be written: " + e.code().message());
  }
}

awaitable<void> ums_service::record_refusal(const std::string& device, const std::string& user, std::string_view via,
                                            std::string_view reason) {
  try {
    co_await audit_->refusal(device, user, via, reason);
  } catch (const system_error& e) {
    log::error(name_, "audit trail: cannot record a refused request: ", e.what());
  }
}

// Ends a session: everyone it involved is told, the device is free again, then the audit line.
awaitable<void> ums_service::end_session(shadow_session& s, std::string outcome) {
  s.ended = true;
  s.step("ending");
  s.end_reason = outcome;
  s.tunnel_url.clear();
  s.viewer_token.clear();
  s.password.clear();
  s.answer.close();
  co_await rv_.finish(s.id, outcome);
  // A gateway keeps a session's tokens and tunnels until told: tell it whenever the session ends
  // here, also when we gave up during set-up (a late viewer must find nothing to join); it tells
  // the device.
  up::message end;
  end.type = up::kind::end_session;
  end.session_id = s.id;
  end.reason = outcome;
  if (!s.gateway.empty())
    for (auto& gw : gateways_)
      if (gw->name == s.gateway && gw->link) gw->link->send(end);
  // A device asked directly stops its side as well: the consent dialog on its user's screen
  // closes, a tunnel it was about to open is not opened. (One that ended it first ignores this.)
  if (s.asked && s.gateway.empty() && !s.ends_on_device && !s.device_node.empty())
    post_to_node(s.device_node, "end", s.device_id, end);
  else if (s.asked && s.gateway.empty() && !s.ends_on_device)
    if (auto* device = online_.link_of(s.device_id)) device->send(end);
  // Free before anyone sees "ended": a console that asks again at once is not refused as busy.
  if (auto d = devices_.find(s.device_id); d != devices_.end() && d->second.busy_with == s.id) d->second.busy_with.clear();
  s.step("ended");
  session_listed(s, false);
  auto secs = [](clock::duration d) { return std::chrono::duration_cast<std::chrono::seconds>(d).count(); };
  log::info(scope(s), "AUDIT session ended: device=", s.device_id, " user=", s.user, " via=", s.via,
            " view_only=", s.view_only, " duration_s=", s.started == clock::time_point{} ? 0 : secs(clock::now() - s.started),
            " outcome=\"", outcome, "\"");
  const auto duration = s.started == clock::time_point{} ? 0 : secs(clock::now() - s.started);
  const std::string path = s.gateway.empty() ? "direct" : "icg";
  metrics_.sessions_total.Add({{"via", s.via}, {"path", path}, {"outcome", s.started == clock::time_point{} ? "failed" : "completed"}}).Increment();
  metrics_.bytes.Add({{"direction", "to_viewer"}}).Increment(static_cast<double>(s.bytes_to_viewer));
  metrics_.bytes.Add({{"direction", "from_viewer"}}).Increment(static_cast<double>(s.bytes_from_viewer));
  try {
    json::object record{{"outcome", outcome}, {"duration_s", duration}, {"bytes_to_viewer", s.bytes_to_viewer},
                        {"bytes_from_viewer", s.bytes_from_viewer}};
    if (s.recording) {
      record["recording"] = s.recording->id();
      record["recording_state"] = s.recording->state();
      record["recording_bytes"] = s.recording->bytes();
    }
    co_await audit_->session("session_ended", s, std::move(record));
  } catch (const system_error& e) {
    log::error(scope(s), "audit trail: cannot record the end: ", e.what());
  }
  remember_ended(s);
  log::forget_session(s.id);
  sessions_.erase(s.id);
}

}  // namespace shadowlink::ums
