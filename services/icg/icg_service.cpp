#include "services/icg/icg_service.hpp"

#include "framework/deadline.hpp"
#include "framework/log.hpp"
#include "framework/meeting_point.hpp"
#include "framework/token.hpp"
#include "protocol/tunnel_endpoint.hpp"

#include <boost/json.hpp>

namespace shadowlink::icg {
using namespace net::experimental::awaitable_operators;

icg_service::icg_service(service_env& env, settings& s) : env_(env), name_(env.name), rv_(env.ex) {
  listener_ = tls_listener_settings::read(s, 9443, "external_url");
  ums_credential_ = s.required_str("ums_credential");
  if (ums_credential_.size() < 16) s.reject("ums_credential", "must be at least 16 characters");
  ca_dir_ = s.str("ca_dir", env.shared_dir.string());
  device_grace_ = std::chrono::seconds(s.integer("device_grace_s", 30, 1, 3600));
  session_timeout_ = std::chrono::seconds(s.integer("session_timeout_s", 90, 5, 3600));
}

void icg_service::start() {
  server_ = make_tls_listener(listener_, env_, ca_dir_);
  server_->add_ws("/up/ums", [this](ws_upgrade& up) { return ums_endpoint(up); });
  server_->add_ws("/up", [this](ws_upgrade& up) { return device_endpoint(up); });
  server_->add_ws("/tunnel/", [this](ws_upgrade& up) { return up::accept_tunnel_end(rv_, up, "/tunnel/", name_); });
  server_->add_http("/health", [this](const http_request& req, const std::string&) -> awaitable<http_response> {
    co_return json_response(req, http::status::ok, boost::json::serialize(boost::json::object{{"status", status()}}));
  });
  server_->listen(listener_.listen, listener_.port);
  started_ = true;
  env_.tasks.spawn(drop_devices_without_ums(), name_);
  log::info(name_, "gateway listening on ", listener_.listen, ":", server_->port(), " (UMS /up/ums, devices /up, tunnels /tunnel/, /health)");
}

void icg_service::stop() {
  if (server_) server_->stop();
  for (auto& [id, sp] : active_) sp->stop("gateway shutting down");
  for (auto& [id, d] : devices_) d.link->close("gateway shutting down");
  if (ums_) ums_->close("gateway shutting down");
}

std::string icg_service::status() const {
  if (!started_) return "init";
  return ums_ ? "ok" : "warn";
}

void icg_service::to_ums(const up::message& m) {
  if (ums_) ums_->send(m);
}

// ---- the UMS's link -------------------------------------------------------------------------

awaitable<void> icg_service::ums_endpoint(ws_upgrade& up) {
  auto authz = up.request()[http::field::authorization];
  if (authz.substr(0, 7) != "Bearer " || !tokens_equal(authz.substr(7), ums_credential_)) {
    log::warn(name_, "UMS connection from ", up.peer(), " refused: wrong credential");
    co_return co_await up.reject(http::status::forbidden, "wrong UMS credential");
  }
  const auto opts = up::link_options();
  up::link link(co_await up.accept(opts));
  co_await link.serve(serve_ums(link));
}

awaitable<void> icg_service::serve_ums(up::link& link) {
  if (ums_) ums_->close("replaced by a newer UMS connection");
  ums_ = &link;
  log::info(name_, "UMS connected from ", link.peer());
  // The UMS learns which devices are here (and checks their credentials).
  for (auto& [id, d] : devices_) {
    up::message m;
    m.type = up::kind::device_hello;
    m.device_id = id;
    m.credential = d.credential;
    m.agent = d.agent;
    m.reason = d.peer;
    link.send(m);
  }
  struct lost_guard {
    icg_service& g;
    up::link& link;
    ~lost_guard() {
      if (g.ums_ != &link) return;
      g.ums_ = nullptr;
      g.ums_lost_ = clock::now();
      log::warn(g.name_, "UMS connection lost: devices are dropped after ", std::chrono::duration_cast<std::chrono::seconds>(g.device_grace_).count(), " s without a UMS");
    }
  } guard{*this, link};
  try {
    for (;;) on_ums_message(co_await link.receive());
  } catch (const system_error&) {
  }
}

void icg_service::on_ums_message(const up::message& m) {
  switch (m.type) {
    case up::kind::device_accepted:
    case up::kind::device_rejected: {
      auto d = devices_.find(m.device_id);
      if (d == devices_.end()) return;
      up::message answer;
      if (m.type == up::kind::device_accepted) {
        d->second.verified = true;
        answer.type = up::kind::welcome;
        answer.heartbeat_s = 5;
      } else {
        answer.type = up::kind::error;
        answer.reason = m.reason;
        d->second.link->close(m.reason);
      }
      d->second.link->send(answer);
      return;
    }
    case up::kind::shadow_request:
      env_.tasks.spawn(relay_session(m), name_ + "/" + m.session_id.substr(0, 32));
      return;
    case up::kind::end_session:
      if (auto a = active_.find(m.session_id); a != active_.end()) a->second->stop(m.reason.empty() ? "ended by the UMS" : m.reason);
      else rv_.cancel(m.session_id);
      return;
    default:
      return;
  }
}

// Without a UMS nobody can authorise anything: after a grace period devices are told to go
// (they reconnect with backoff, perhaps to another connector).
awaitable<void> icg_service::drop_devices_without_ums() {
  net::steady_timer t(co_await net::this_coro::executor);
  for (;;) {
    t.expires_after(1s);
    co_await t.async_wait(use_awaitable);
    if (ums_ || clock::now() - ums_lost_ < device_grace_) continue;
    for (auto& [id, d] : devices_) d.link->close("no UMS connected to the gateway");
  }
}

// ---- devices ----------------------------------------------------------------------------------

awaitable<void> icg_service::device_endpoint(ws_upgrade& up) {
  if (!ums_ && clock::now() - ums_lost_ >= device_grace_)
    co_return co_await up.reject(http::status::service_unavailable, "gateway has no UMS connection");
  const auto opts = up::link_options();
  up::link link(co_await up.accept(opts));
  co_await link.serve(serve_device(link));
}

awaitable<void> icg_service::serve_device(up::link& link) {
  auto first = co_await up::receive_hello(link, 10s);
  if (!first) co_return;
  auto hello = *first;
  if (auto old = devices_.find(hello.device_id); old != devices_.end()) old->second.link->close("replaced by a newer connection");
  devices_[hello.device_id] = device_link{&link, false, link.peer(), hello.credential, hello.agent};
  struct offline_guard {
    icg_service& g;
    std::string id;
    up::link& link;
    ~offline_guard() {
      auto d = g.devices_.find(id);
      if (d == g.devices_.end() || d->second.link != &link) return;
      bool verified = d->second.verified;
      g.devices_.erase(d);
      if (!verified) return;
      up::message m;
      m.type = up::kind::device_offline;
      m.device_id = id;
      g.to_ums(m);
    }
  } guard{*this, hello.device_id, link};
  // The UMS decides whether this device and credential are genuine.
  up::message ask;
  ask.type = up::kind::device_hello;
  ask.device_id = hello.device_id;
  ask.credential = hello.credential;
  ask.agent = hello.agent;
  ask.reason = link.peer();
  to_ums(ask);
  try {
    for (;;) {
      auto m = co_await link.receive();
      auto& d = devices_[hello.device_id];
      if (!d.verified) continue;  // nothing is relayed before the UMS accepted the device
      if (m.type == up::kind::shadow_accepted || m.type == up::kind::shadow_refused || m.type == up::kind::shadow_ended) {
        // Only answers about this device's own sessions are relayed.
        auto s = session_device_.find(m.session_id);
        if (s != session_device_.end() && s->second == hello.device_id) {
          to_ums(m);
          if (m.type == up::kind::shadow_refused) rv_.cancel(m.session_id);
        }
      }
    }
  } catch (const system_error&) {
  }
}

void register_icg(service_registry& r) {
  r.add("icg", [](service_env& env, settings& s) { return std::make_unique<icg_service>(env, s); });
}

}  // namespace shadowlink::icg
