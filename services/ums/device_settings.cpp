// What devices say about themselves (the seed's "device settings are sent to the UMS Server through
// REST"): their hello, and a device_settings message at every new link and whenever something in
// it changes — by REST with the device's certificate when it reaches the UMS, over its link
// otherwise (a gateway relays it). Kept with the device, and in the registry for enrolled devices.
#include "framework/log.hpp"
#include "framework/meeting_point.hpp"
#include "framework/offload.hpp"
#include "services/ums/ums_service.hpp"

#include <functional>

namespace shadowlink::ums {

awaitable<void> ums_service::note_reported(std::string id, registry::reported r, bool settings) {
  // The address without its port, which is new at every connection: the registry is written (and
  // the admission waits for it) only when something the administrator cares about has changed,
  // not at every reconnect of every device.
  if (auto colon = r.peer.rfind(':'); colon != std::string::npos) r.peer.erase(colon);
  auto d = devices_.find(id);
  if (d == devices_.end()) co_return;
  auto& dev = d->second;
  if (!settings) {  // a hello says nothing of these: they stay as last reported
    r.name = dev.reported.name;
    r.mac = dev.reported.mac;
    r.ip = dev.reported.ip;
  }
  if (dev.reported.at != 0 && dev.reported.same_as(r)) co_return;
  r.at = unix_now();
  const bool enrolled = is_enrolled(dev);
  if (settings)
    log::info(name_, "device ", id, " reports its settings: name \"", r.name, "\", IP ", r.ip.empty() ? "-" : r.ip, ", MAC ",
              r.mac.empty() ? "-" : r.mac, ", OS ", r.os, ", ", r.agent, " (seen from ", r.peer, ")");
  dev.reported = r;
  // An enrolled device is named by itself; a configured one keeps the name its administrator gave.
  if (enrolled && !r.name.empty()) dev.name = r.name;
  if (!enrolled) co_return;
  auto e = enrolled_.find(id);
  if (e == enrolled_.end()) co_return;
  e->second.last = r;
  if (!r.name.empty()) e->second.name = r.name;
  try {
    std::function<bool()> write = [this, id, r] {
      registry_->report(id, r);
      return true;
    };
    co_await offload(registry_thread_, std::move(write));
  } catch (const std::runtime_error& ex) {
    log::error(name_, "cannot keep what device ", id, " reported: ", ex.what());
  }
}

awaitable<bool> ums_service::take_settings(up::message m, std::string seen_from, bool direct) {
  auto d = devices_.find(m.device_id);
  if (d == devices_.end()) co_return false;
  if (direct) {
    // A device reports when something changed: at most one report a second is taken, later ones
    // wait for their turn (a link's reader, a REST request), and one more than 5 s ahead is
    // refused: a device sending far more than it changes would fill the log and queue registry
    // writes ahead of enrollments. (Relayed reports are paced by the gateway, per link.)
    const auto now = clock::now();
    const auto turn = std::max(now, d->second.settings_taken + 1s);
    if (turn - now > 5s) co_return false;
    d->second.settings_taken = turn;
    if (turn > now) {
      co_await sleep_for(turn - now);
      d = devices_.find(m.device_id);  // (a reload may have removed it meanwhile)
      if (d == devices_.end()) co_return false;
    }
  }
  auto& dev = d->second;
  if (!m.os.empty()) dev.os = m.os;
  // As trusted as its hello, and only from the device itself (as the hello's are): a new
  // certificate of its legacy port counts from now on, without waiting for its next connection.
  // A gateway, which could write a relayed message itself, never sets where viewers connect.
  if (direct && m.os == "11") {
    dev.legacy_address = m.address;
    dev.legacy_pin = normalize_fingerprint(m.pin);
  }
  registry::reported said{dev.os, m.agent, std::move(seen_from), dev.legacy_address, dev.legacy_pin, 0, m.name, m.mac, m.ip};
  co_await note_reported(m.device_id, std::move(said), true);
  co_return true;
}

// POST /api/v1/device/settings: a device_settings message as the body, from a device that
// presented its certificate in the TLS handshake; no session, no token.
awaitable<http_response> ums_service::device_settings_rest(const http_request& req, const std::string& peer, const peer_certificate& cert) {
  if (req.method() != http::verb::post) co_return error_response(req, http::status::method_not_allowed, "POST a device_settings message");
  if (cert.empty())
    co_return error_response(req, http::status::unauthorized, "a device sends its settings with its device certificate (TLS client certificate)");
  up::message m;
  try {
    m = up::parse(req.body());
    if (m.type != up::kind::device_settings) throw up::protocol_error("expected a device_settings message");
    if (m.link != 0) throw up::protocol_error("'link' is for gateways relaying settings, not for devices");
  } catch (const up::protocol_error& e) {
    co_return error_response(req, http::status::bad_request, e.what());
  }
  if (!co_await certificate_accepted(m.device_id, cert.common_name, cert.fingerprint)) {
    metrics_.auth_failed("device_certificate");
    log::warn(name_, "settings for device ", m.device_id.substr(0, 64), " from ", peer, " refused: ", up::certificate_not_accepted);
    co_return error_response(req, http::status::forbidden, std::string(up::certificate_not_accepted));
  }
  if (!co_await take_settings(std::move(m), peer, true))
    co_return error_response(req, http::status::too_many_requests, "too many settings reports: at most one a second is taken");
  http_response res{http::status::no_content, req.version()};
  res.keep_alive(req.keep_alive());
  co_return res;
}

}  // namespace shadowlink::ums
