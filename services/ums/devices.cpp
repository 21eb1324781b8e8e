// The UP endpoint: a device's persistent WebSocket. Hello first, then messages until it ends.
#include "framework/certs.hpp"
#include "framework/deadline.hpp"
#include "framework/errors.hpp"
#include "framework/log.hpp"
#include "framework/meeting_point.hpp"
#include "framework/tcp_stream.hpp"
#include "framework/token.hpp"
#include "services/ums/ums_service.hpp"

namespace shadowlink::ums {
using namespace net::experimental::awaitable_operators;

// Where a device POSTs its settings (REST), as its welcome tells it.
constexpr const char* settings_path = "/api/v1/device/settings";

awaitable<void> ums_service::up_endpoint(ws_upgrade& up) {
  const auto opts = up::link_options();
  up::link link(co_await up.accept(opts));
  co_await link.serve(serve_device(link, up.client_certificate()));
}

// Hello, checks and the device's own word about itself; the admitted device's id and agent, or
// nothing (refused, or no hello). A coroutine of its own so that its messages and penalties do not
// stay in the frame of a link that lives for days.
awaitable<std::optional<ums_service::admitted_device>> ums_service::admit_device(up::link& link, const peer_certificate& cert) {
  auto first = co_await up::receive_hello(link, 10s);
  if (!first) co_return std::nullopt;
  auto& hello = *first;
  const auto address = client_key(link.peer());
  auto d = devices_.find(hello.device_id);
  // Wrong hellos slow down those from their address and, for a known device, those naming it
  // (from anywhere: guessing from many addresses gains nothing). They wait, never are refused:
  // the real device still comes in, within the longest delay.
  const std::string id_key = d == devices_.end() ? std::string() : "device " + d->first;
  auto wait = hello_failures_.delay(address);
  if (!id_key.empty()) wait = std::max(wait, hello_failures_.delay(id_key));
  if (wait > clock::duration::zero()) co_await sleep_for(wait);
  // (After the wait: a flood of made-up ids pays it before it costs a registry read.)
  co_await learn_enrolled(hello.device_id);
  d = devices_.find(hello.device_id);  // (a reload may have changed the list meanwhile)
  // A device that presented its certificate is that certificate's device, or nobody: its
  // credential (it sends none) is not a second way in.
  const bool by_certificate = !cert.empty();
  bool accepted = false;
  if (by_certificate) accepted = co_await certificate_accepted(hello.device_id, cert.common_name, cert.fingerprint);
  else accepted = co_await device_credential_accepted(hello.device_id, hello.credential, link.peer());
  if (!accepted) {
    metrics_.auth_failed(by_certificate ? "device_certificate" : "device_credential");
    const int n = hello_failures_.failed(address);
    if (!id_key.empty()) hello_failures_.failed(id_key);
    const std::string why = by_certificate ? std::string(up::certificate_not_accepted) : "unknown device or wrong credential";
    log::warn(name_, "device connection from ", link.peer(), " refused: ", why, " (", n,
              " from that address; hellos from there now wait ",
              std::chrono::duration_cast<std::chrono::milliseconds>(hello_failures_.delay(address)).count(), " ms)");
    link.refuse(why);
    co_return std::nullopt;
  }
  d = devices_.find(hello.device_id);  // (enrolled just now, or removed by a reload meanwhile)
  if (d == devices_.end()) co_return std::nullopt;
  auto& dev = d->second;
  // What the device says about itself counts only now that it has proven who it is. A new
  // certificate of its legacy port is trusted from this hello on, never before.
  dev.os = hello.os.empty() ? "12" : hello.os;
  dev.legacy_address = hello.address;
  dev.legacy_pin = normalize_fingerprint(hello.pin);
  registry::reported said{dev.os, hello.agent, link.peer(), dev.legacy_address, dev.legacy_pin, 0, "", "", ""};  // (named: see offload.hpp)
  co_await note_reported(hello.device_id, std::move(said), false);
  co_return admitted_device{std::move(hello.device_id), std::move(hello.agent)};
}

awaitable<void> ums_service::serve_device(up::link& link, peer_certificate cert) {
  auto admitted = co_await admit_device(link, cert);
  if (!admitted) co_return;
  const std::string& id = admitted->id;
  auto d = devices_.find(id);
  if (d == devices_.end()) co_return;  // (a reload removed it meanwhile)
  // The device reconnected before we noticed: the new link replaces (and closes) the old one.
  auto reg = online_.attach(id, link, live_link{name_, link.peer(), nullptr, 0, cert.fingerprint}, "replaced by a newer connection");
  d->second.last_seen = clock::now();
  log::info(name_, "device ", id, " online from ", link.peer(), " (", admitted->agent, cert.empty() ? ", credential)" : ", certificate)");
  link.send(up::welcome_message(std::chrono::duration_cast<std::chrono::seconds>(cfg_.heartbeat).count(), settings_path));
  try {
    while (reg.current()) {
      auto m = co_await link.receive();
      if (!reg.current()) break;  // replaced: what the old link still says is not the device's
      // Looked up again after every wait: a reload (SIGHUP) may have removed the device meanwhile.
      auto now = devices_.find(id);
      if (now == devices_.end()) {
        link.close("removed from the configuration");
        break;
      }
      now->second.last_seen = clock::now();
      if (m.type == up::kind::device_settings) {
        // (Over the link: a device without a certificate yet. Awaited here: a link waits for its
        // own report to be kept before it is read further.)
        if (m.device_id == id) co_await take_settings(m, link.peer(), true);
        continue;
      }
      on_device_message(now->second, link, m);
    }
  } catch (const system_error& e) {
    // A peer going away is normal; a message over the size limit or a broken stream is not.
    if (is_normal_end(e.code())) log::debug(name_, "device ", id, " link ended: ", e.code().message());
    else log::warn(name_, "device ", id, " link closed: ", e.what());
  }
}

// A device's verified link ended (not replaced): sessions still waiting for its answer will not get one.
void ums_service::device_gone(const std::string& id, const live_link& how) {
  if (how.gw) log::info(name_, "device ", id, " offline (at gateway ", how.connector, ")");
  else log::info(name_, "device ", id, " offline");
  presence_changed(id, nullptr);
  // Sessions of other nodes that were waiting on this link: their nodes hear it ended.
  for (auto r = relayed_.begin(); r != relayed_.end();) {
    if (r->second.device != id) {
      ++r;
      continue;
    }
    up::message ended;
    ended.type = up::kind::shadow_ended;
    ended.session_id = r->first;
    ended.reason = "device went offline";
    post_to_node(r->second.node, "report", id, ended);
    r = relayed_.erase(r);
  }
  auto d = devices_.find(id);
  if (d == devices_.end()) return;
  // (An OS 11 console session runs between console and device: it ends when the device stops reporting it.)
  if (auto s = sessions_.find(d->second.busy_with); s != sessions_.end() && !s->second->active && !s->second->ends_on_device)
    s->second->stop("device went offline");
}

// The device's user is being asked: the set-up now waits for a person, within the same deadline.
void ums_service::device_asking(shadow_session& s) {
  if (s.state == "asking the device") s.step("waiting for the device's user", s.deadline);
}

void ums_service::on_device_message(device_record& dev, up::link& link, const up::message& m) {
  switch (m.type) {
    case up::kind::heartbeat:
      if (!m.session_id.empty()) session_report(dev.id, m, {});
      return;
    case up::kind::shadow_asking:
    case up::kind::shadow_accepted:
    case up::kind::shadow_refused:
    case up::kind::tunnel_arrived:
    case up::kind::shadow_ended:
      return session_report(dev.id, m, {});
    case up::kind::certificate_request:
      env_.tasks.spawn(answer_certificate_request(dev.id, m.csr), name_);
      return;

    default: {
      link.send(up::error_message("unexpected message type '" + std::string(up::to_string(m.type)) + "' from a device"));
    }
  }
}

}  // namespace shadowlink::ums
