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

awaitable<void> ums_service::up_endpoint(ws_upgrade& up) {
  const auto opts = up::link_options();
  up::link link(co_await up.accept(opts));
  co_await link.serve(serve_device(link));
}

awaitable<void> ums_service::serve_device(up::link& link) {
  auto first = co_await up::receive_hello(link, 10s);
  if (!first) co_return;
  auto hello = *first;
  const auto address = address_of(link.peer());
  if (auto wait = hello_failures_.delay(address); wait > clock::duration::zero()) co_await sleep_for(wait);
  auto d = devices_.find(hello.device_id);
  if (d == devices_.end() || !d->second.accepts(hello.credential)) {
    metrics_.auth_failed("device_credential");
    const int n = hello_failures_.failed(address);
    log::warn(name_, "device connection from ", link.peer(), " refused: unknown device or wrong credential (", n,
              " from that address; hellos from there now wait ",
              std::chrono::duration_cast<std::chrono::milliseconds>(hello_failures_.delay(address)).count(), " ms)");
    up::message err;
    err.type = up::kind::error;
    err.reason = "unknown device or wrong credential";
    link.send(err);
    link.close(err.reason);
    co_return;
  }
  const std::string id = hello.device_id;
  auto& dev = d->second;
  // What the device says about itself counts only now that it has proven who it is. A new
  // certificate of its legacy port is trusted from this hello on, never before.
  dev.os = hello.os.empty() ? "12" : hello.os;
  dev.legacy_address = hello.address;
  dev.legacy_pin = normalize_fingerprint(hello.pin);
  // The device reconnected before we noticed: the new link replaces (and closes) the old one.
  auto reg = online_.attach(id, link, live_link{name_, link.peer()}, "replaced by a newer connection");
  dev.last_seen = clock::now();
  log::info(name_, "device ", id, " online from ", link.peer(), " (", hello.agent, ")");
  up::message welcome;
  welcome.type = up::kind::welcome;
  welcome.heartbeat_s = std::chrono::duration_cast<std::chrono::seconds>(cfg_.heartbeat).count();
  link.send(welcome);
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
      on_device_message(now->second, link, m);
    }
  } catch (const system_error& e) {
    // A peer going away is normal; a message over the size limit or a broken stream is not.
    if (is_normal_end(e.code())) log::debug(name_, "device ", id, " link ended: ", e.code().message());
    else log::warn(name_, "device ", id, " link closed: ", e.code().message());
  }
}

// A device's verified link ended (not replaced): sessions still waiting for its answer will not get one.
void ums_service::device_gone(const std::string& id, const live_link& how) {
  if (how.gw) log::info(name_, "device ", id, " offline (at gateway ", how.connector, ")");
  else log::info(name_, "device ", id, " offline");
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
      if (auto s = sessions_.find(m.session_id); !m.session_id.empty() && s != sessions_.end() && s->second->device_id == dev.id)
        s->second->last_report = clock::now();
      return;
    case up::kind::shadow_asking:
    case up::kind::shadow_accepted:
    case up::kind::shadow_refused:
    case up::kind::tunnel_arrived:
    case up::kind::shadow_ended: {
      auto s = sessions_.find(m.session_id);
      // Only the device the session is for may answer for it.
      if (s == sessions_.end() || s->second->device_id != dev.id) return;
      if (m.type == up::kind::shadow_asking)
        device_asking(*s->second);
      else if (m.type == up::kind::tunnel_arrived)
        s->second->reports.post(m);  // OS 11: the viewer reached the device's legacy port
      else if (m.type == up::kind::shadow_ended) {
        log::info(scope(*s->second), "device reports the session ended: ", m.reason);
        s->second->reports.post(m);
      }
      else
        s->second->device_answer.deliver(m);
      return;
    }
    default: {
      up::message err;
      err.type = up::kind::error;
      err.reason = "unexpected message type '" + std::string(up::to_string(m.type)) + "' from a device";
      link.send(err);
    }
  }
}

}  // namespace shadowlink::ums
