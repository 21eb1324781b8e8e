// The device's side of a shadow session: one short linear coroutine.
#include "framework/child_process.hpp"
#include "framework/errors.hpp"
#include "framework/meeting_point.hpp"
#include "framework/on_exit.hpp"
#include "framework/log.hpp"
#include "framework/splice.hpp"
#include "protocol/tunnel_endpoint.hpp"
#include "framework/tcp_stream.hpp"
#include "protocol/legacy_password.hpp"
#include "protocol/rfb_input_filter.hpp"
#include "services/device/agent.hpp"

namespace shadowlink::device {
using namespace net::experimental::awaitable_operators;

awaitable<void> agent::shadow(up::message req) {
  const std::string scope = name_ + "/" + req.session_id;
  auto answer = [&](up::kind k, std::string reason) { reply(req, k, std::move(reason)); };
  if (!active_session_.empty()) {
    answer(up::kind::shadow_refused, "device is already being shadowed");
    co_return;
  }
  active_session_ = req.session_id;
  pending_end_.clear();
  // The device is free again as soon as its splice has ended (the indicator's cleanup must not
  // refuse the next request); only its own session is released, never a newer one.
  auto release = [this, id = req.session_id] {
    if (active_session_ != id) return;
    active_session_.clear();
    pending_end_.clear();
    end_active_ = nullptr;
  };
  on_exit release_guard(release);
  log::info(scope, "shadow request from ", req.user.empty() ? "the server" : req.user, req.view_only ? " (view only)" : "",
            req.recorded ? " (recorded)" : "");

  // 2. Consent: the stricter of the server's policy and ours. With "ask", nothing is opened
  //    before the device's user says yes; with "notify" or after a yes, they see that they are
  //    being shadowed, and can end it themselves (the indicator exits).
  const auto policy = up::strictest(up::parse_consent(req.consent).value_or(up::consent_policy::ask), cfg_.consent);
  if (policy == up::consent_policy::ask) {
    log::info(scope, "asking the device's user on display ", cfg_.display);
    answer(up::kind::shadow_asking, {});  // the administrator sees that a person is being waited for
    if (auto refusal = co_await ask_user(req); !refusal.empty()) {
      log::info(scope, "refused: ", refusal);
      answer(up::kind::shadow_refused, refusal);
      co_return;
    }
    log::info(scope, "the device's user agreed");
  }
  if (!pending_end_.empty()) {  // ended by the server meanwhile: nothing is opened
    answer(up::kind::shadow_refused, "ended by the server: " + pending_end_);
    co_return;
  }
  std::optional<child_process> indicator;
  if (policy != up::consent_policy::none && !cfg_.notify_command.empty()) {
    try {
      indicator.emplace(command(cfg_.notify_command, req, 0), std::map<std::string, std::string>{{"DISPLAY", cfg_.display}});
    } catch (const std::exception& e) {
      log::warn(scope, "cannot show the shadowing indicator: ", ending_words(e));
      answer(up::kind::shadow_refused, "the device cannot show that it is being shadowed: " + ending_words(e));
      co_return;
    }
  }

  // 3. Connect the local VNC server and the viewer's side: on OS 12 we open the shadowing tunnel
  //    to the server; on OS 11 the viewer first comes to our legacy port with the session
  //    password (no VNC connection is held open for a viewer who may never come).
  stream_ptr vnc, tunnel;
  if (req.password.empty()) {
    vnc = co_await connect_vnc(scope);
    if (!vnc) {
      answer(up::kind::shadow_refused, "VNC server on the device is not reachable");
      co_return;
    }
    if (!pending_end_.empty()) {  // ended by the server while the VNC server was being reached
      answer(up::kind::shadow_refused, "ended by the server: " + pending_end_);
      co_return;
    }
    tunnel = co_await open_tunnel(req, scope);
  } else {
    tunnel = co_await await_legacy_viewer(req, scope);
    if (tunnel) vnc = co_await connect_vnc(scope);
    if (tunnel && !vnc) {
      co_await close_stream(*tunnel, "VNC server on the device is not reachable");
      answer(up::kind::shadow_ended, "VNC server on the device is not reachable");
      co_return;
    }
  }
  if (!tunnel) co_return;  // the server has been told why
  // View only is enforced here, on the device: keyboard, pointer and clipboard never reach the VNC server.
  if (req.view_only) tunnel = rfb::make_view_only(std::move(tunnel), scope);

  // 6. VNC data flows until either side ends (or the server ends the session).
  splicer sp(*tunnel, *vnc);
  end_active_ = [&sp](std::string why) { sp.stop(why); };
  if (!pending_end_.empty()) sp.stop(pending_end_);  // the server ended it while it was being set up
  stop_hook on_shutdown(env_.tasks, [&sp] { sp.stop("device agent stopping"); });
  // The indicator closing is the device's user ending the session.
  auto watch_indicator = [&]() -> awaitable<void> {
    for (;;) {
      std::optional<int> code;
      if (indicator) code = co_await indicator->wait(clock::now() + 1s);
      else co_await sleep_for(1h);  // nothing to watch: until the splice ends and cancels this
      auto cs = co_await net::this_coro::cancellation_state;
      if (cs.cancelled() != net::cancellation_type::none) co_return;
      if (code) {
        log::info(scope, "the device's user ended the session");
        sp.stop("ended by the device's user");
        indicator.reset();
      }
    }
  };
  auto ran = co_await (sp.run() || watch_indicator());
  // (The watcher only finishes first when the whole coroutine is being cancelled.)
  const auto end = ran.index() == 0 ? std::get<0>(ran) : splice_end{splice_end::kind::cancelled, true, {}};
  release_guard.run();
  if (indicator) co_await indicator->stop(2s);
  up::message ended;
  ended.type = up::kind::shadow_ended;
  ended.session_id = req.session_id;
  ended.reason = up::session_ending(end);
  if (end.how == splice_end::kind::failed) log::warn(scope, "splice ended: ", ended.reason);
  log::info(scope, "session ended (", ended.reason, "): ", sp.counters().bytes_ba, " bytes sent to the viewer");
  ended.bytes_to_viewer = sp.counters().bytes_ba;
  ended.bytes_from_viewer = sp.counters().bytes_ab;
  send(ended);
}

awaitable<stream_ptr> agent::connect_vnc(const std::string& scope) {
  try {
    if (!cfg_.vnc_socket.empty()) co_return co_await connect_unix(cfg_.vnc_socket, 5s);
    const auto port = std::to_string(cfg_.vnc_port);
    co_return make_tcp_stream(co_await connect_tcp(cfg_.vnc_host, port, 5s));
  } catch (const std::exception& e) {
    log::warn(scope, "local VNC server unreachable: ", ending_words(e));
  }
  co_return nullptr;
}

// OS 12: the device opens the shadowing tunnel to the server (or the gateway), then says yes.
awaitable<stream_ptr> agent::open_tunnel(const up::message& req, const std::string& scope) {
  stream_ptr tunnel;
  try {
    auto target = parse_wss_url(req.tunnel_url);  // a ws:// URL (a typo, or a forged request) is refused
    std::unique_ptr<tls_client> pinned;
    if (!req.pin.empty()) {
      pinned = std::make_unique<tls_client>(make_trust("", req.pin));
      pinned->set_proxy(proxy_);
    }
    const std::map<std::string, std::string> headers{{"Authorization", "Bearer " + req.token}};
    const auto opts = up::tunnel_options();
    tunnel = co_await connect_ws(pinned ? pinned.get() : tls_.get(), target, headers, opts);
  } catch (const std::exception& e) {
    log::warn(scope, "cannot open the tunnel: ", ending_words(e));
    reply(req, up::kind::shadow_refused, std::string("cannot open the tunnel: ") + ending_words(e));
    co_return nullptr;
  }
  reply(req, up::kind::shadow_accepted, {});
  co_return tunnel;
}

// OS 11: the device says yes at once; the viewer (console, or the UMS for the Web App) then comes
// to the legacy port with the session's password, within the request's ttl_s.
awaitable<stream_ptr> agent::await_legacy_viewer(const up::message& req, const std::string& scope) {
  reply(req, up::kind::shadow_accepted, {});
  end_active_ = [this, id = req.session_id](std::string) {
    if (armed_ && armed_->session_id == id && armed_->viewer) armed_->viewer->close();
  };
  stream_ptr viewer;
  std::string why;
  try {
    viewer = co_await legacy_viewer(req);
  } catch (const system_error& e) {
    why = e.code() == net::error::timed_out ? "no viewer brought the session password in time" : "ended before a viewer came";
  }
  end_active_ = nullptr;
  if (viewer) {
    try {
      co_await legacy::accept(*viewer);  // "OK": VNC follows
    } catch (const std::exception& e) {
      why = "the viewer left: " + ending_words(e);
      viewer.reset();
    }
  }
  if (!viewer) {
    log::info(scope, why);
    reply(req, up::kind::shadow_ended, why);
    co_return nullptr;
  }
  log::info(scope, "viewer ", viewer->peer(), " presented the session password on the legacy port");
  reply(req, up::kind::tunnel_arrived, viewer->peer());
  co_return viewer;
}

void agent::reply(const up::message& req, up::kind k, std::string reason) {
  up::message m;
  m.type = k;
  m.session_id = req.session_id;
  m.reason = std::move(reason);
  send(m);
}

}  // namespace shadowlink::device
