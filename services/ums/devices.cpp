// The UP endpoint: a device's persistent WebSocket. Hello first, then messages until it ends.
#include "framework/deadline.hpp"
#include "framework/log.hpp"
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
  auto d = devices_.find(hello.device_id);
  if (d == devices_.end() || !tokens_equal(hello.credential, d->second.credential)) {
    log::warn(name_, "device connection from ", link.peer(), " refused: unknown device or wrong credential");
    up::message err;
    err.type = up::kind::error;
    err.reason = "unknown device or wrong credential";
    link.send(err);
    link.close(err.reason);
    co_return;
  }
  auto& dev = d->second;
  if (dev.link) dev.link->close("replaced by a newer connection");  // the device reconnected before we noticed
  dev.link = &link;
  dev.connector = name_;
  dev.peer = link.peer();
  dev.connected = dev.last_seen = clock::now();
  log::info(name_, "device ", dev.id, " online from ", dev.peer, " (", hello.agent, ")");
  up::message welcome;
  welcome.type = up::kind::welcome;
  welcome.heartbeat_s = 5;
  link.send(welcome);
  struct offline_guard {
    ums_service& u;
    device_record& dev;
    up::link& link;
    ~offline_guard() {
      if (dev.link != &link) return;
      dev.link = nullptr;
      log::info(u.name_, "device ", dev.id, " offline");
      // Sessions still waiting for this device's answer will not get one.
      if (auto s = u.sessions_.find(dev.busy_with); s != u.sessions_.end() && !s->second->active)
        s->second->stop("device went offline");
    }
  } guard{*this, dev, link};
  try {
    for (;;) {
      auto m = co_await link.receive();
      dev.last_seen = clock::now();
      on_device_message(dev, m);
    }
  } catch (const system_error& e) {
    log::debug(name_, "device ", dev.id, " link ended: ", e.code().message());
  }
}

void ums_service::on_device_message(device_record& dev, const up::message& m) {
  switch (m.type) {
    case up::kind::heartbeat:
      return;
    case up::kind::shadow_accepted:
    case up::kind::shadow_refused:
    case up::kind::shadow_ended: {
      auto s = sessions_.find(m.session_id);
      // Only the device the session is for may answer for it.
      if (s == sessions_.end() || s->second->device_id != dev.id) return;
      if (m.type == up::kind::shadow_ended)
        log::info(scope(*s->second), "device reports the session ended: ", m.reason);
      else
        s->second->device_answer.deliver(m);
      return;
    }
    default: {
      up::message err;
      err.type = up::kind::error;
      err.reason = "unexpected message type '" + std::string(up::to_string(m.type)) + "' from a device";
      dev.link->send(err);
    }
  }
}

}  // namespace shadowlink::ums
