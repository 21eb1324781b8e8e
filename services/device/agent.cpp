#include "services/device/agent.hpp"

#include "framework/certs.hpp"
#include "framework/deadline.hpp"
#include "framework/errors.hpp"
#include "framework/http_proxy.hpp"
#include "framework/log.hpp"

namespace shadowlink::device {
using namespace net::experimental::awaitable_operators;

agent::agent(service_env& env, settings& s) : env_(env), name_(env.name) {
  cfg_.device_id = s.required_str("device_id");
  // The bootstrap credential: needed until the device holds its own certificate (enrollment.cpp).
  const bool demo = s.boolean("demo", false);
  if (s.has("credential") || s.has("credential_file")) cfg_.credential = s.secret("credential", demo);
  // Or a one-time enrollment key an administrator made (README "Enrolling devices with a key"): it
  // goes where a credential goes; the UMS enrolls the device with it on its first hello.
  if (s.has("enrollment_key") || s.has("enrollment_key_file")) {
    if (!cfg_.credential.empty()) s.reject("enrollment_key", "give a credential or an enrollment key, not both");
    cfg_.credential = s.secret("enrollment_key", demo);
  }
  cfg_.enroll = s.boolean("enroll", cfg_.enroll);
  cfg_.name = s.str("name", "");
  if (cfg_.name.size() > 255) s.reject("name", "at most 255 bytes");
  // "server": one connector; "servers": an ordered list (UMS and/or gateways), first reachable wins.
  const char* key = s.has("servers") ? "servers" : "server";
  cfg_.server_urls = s.has("servers") ? s.strings("servers", {}) : std::vector<std::string>{s.required_str("server")};
  if (cfg_.server_urls.empty()) s.reject(key, "needs at least one wss:// URL");
  for (auto& url : cfg_.server_urls) {
    try {
      targets_.push_back(parse_ws_url(url));
    } catch (const std::invalid_argument& e) {
      s.reject(key, e.what());
    }
    if (!targets_.back().tls) s.reject(key, "must be a wss:// URL: the UP connection is always encrypted");
  }
  cfg_.vnc_host = s.str("vnc_host", cfg_.vnc_host);
  s.number("vnc_port", cfg_.vnc_port, 1, 65535);
  cfg_.vnc_socket = s.str("vnc_socket", cfg_.vnc_socket);
  if (!cfg_.vnc_socket.empty() && (s.has("vnc_host") || s.has("vnc_port")))
    s.reject("vnc_socket", "give either vnc_socket or vnc_host/vnc_port: the VNC server listens on one of them");
  s.milliseconds("reconnect_min_ms", cfg_.backoff_min, 10, 600000);
  s.milliseconds("reconnect_max_ms", cfg_.backoff_max, 10, 3600000);
  s.seconds("heartbeat_s", cfg_.heartbeat, 1, 300);
  s.seconds("return_check_s", cfg_.return_check, 1, 86400);
  if (cfg_.backoff_max < cfg_.backoff_min) s.reject("reconnect_max_ms", "must not be below reconnect_min_ms");
  backoff_ = backoff(cfg_.backoff_min, cfg_.backoff_max);
  proxy_ = s.str("proxy", "");
  if (auto why = check_proxy(proxy_); !proxy_.empty() && !why.empty()) s.reject("proxy", why);
  auto consent = up::parse_consent(s.str("consent", std::string(up::to_string(cfg_.consent))));
  if (!consent) s.reject("consent", "expected none, notify or ask");
  cfg_.consent = *consent;
  cfg_.consent_command = s.strings("consent_command", cfg_.consent_command);
  if (cfg_.consent_command.empty()) s.reject("consent_command", "give the program and its arguments");
  s.number("consent_yes_exit", cfg_.consent_yes_exit, 0, 255);
  cfg_.notify_command = s.strings("notify_command", cfg_.notify_command);
  const char* env_display = std::getenv("DISPLAY");
  cfg_.display = s.str("display", env_display ? env_display : "");
  cfg_.os = s.str("os", cfg_.os);
  if (cfg_.os != "12" && cfg_.os != "11") s.reject("os", "expected \"12\" or \"11\"");
  if (cfg_.os == "11") {
    cfg_.legacy_listen = s.str("legacy_listen", cfg_.legacy_listen);
    cfg_.legacy_port = s.port("legacy_port", cfg_.legacy_port);
    const bool any = cfg_.legacy_listen == "0.0.0.0" || cfg_.legacy_listen == "::";
    cfg_.advertise = s.str("advertise", any ? "" : cfg_.legacy_listen);
    if (cfg_.advertise.empty()) s.reject("advertise", "give the address the UMS and consoles reach this device's legacy port at");
    // HOST, HOST:PORT, [IPv6] or [IPv6]:PORT; a bare IPv6 address gets its brackets.
    auto& a = cfg_.advertise;
    const auto colons = std::count(a.begin(), a.end(), ':');
    if (a.front() != '[' && colons > 1) a = "[" + a + "]";
    // Port 0 (tests) binds any free port; the advertised ":0" then becomes the bound port (start_legacy_port).
    if (a.front() == '[' ? a.find("]:") == std::string::npos : colons == 0) a += ":" + std::to_string(cfg_.legacy_port);
  }
  cfg_.control_socket = s.str("control_socket", (env.data_dir / "control.sock").string());
  ca_file_ = s.str("ca_file", "");
  pin_ = s.str("pin", "");
  if (ca_file_.empty() && pin_.empty()) s.reject("ca_file", "give ca_file or pin: the server's certificate is always verified");
  if (!pin_.empty() && normalize_fingerprint(pin_).empty()) s.reject("pin", "expected a SHA-256 fingerprint (64 hex digits)");
}

void agent::start() {
  // The CA file is read at start: in a composite process the UMS creates it in its own start().
  make_tls_client(true);
  if (!certificate_ && cfg_.credential.empty())
    throw std::runtime_error("device " + cfg_.device_id + " has neither a credential nor a usable certificate in " +
                             env_.data_dir.string() + ": give it its credential (credential_file) or an enrollment key (enrollment_key_file) to enroll");
  sleep_ = std::make_unique<net::steady_timer>(env_.ex);
  if (cfg_.os == "11") start_legacy_port();
  start_control_socket();
  env_.tasks.spawn(run(), name_);
}

void agent::reload(settings& s) {
  // (The file was checked as a whole before this: only what may change without a restart is taken.)
  if (auto name = s.str("name", ""); name != cfg_.name) {
    log::info(name_, "SIGHUP: name \"", cfg_.name, "\" -> \"", name, "\" (reported within a heartbeat)");
    cfg_.name = std::move(name);
  }
}

void agent::stop() {
  stopping_ = true;
  if (link_) link_->close("device agent stopping");
  if (sleep_) sleep_->cancel();
  if (legacy_acceptor_) legacy_acceptor_->close();
  if (control_) control_->close();
}

awaitable<void> agent::run() {
  while (!stopping_) {
    // One round over the connectors in order: the first one that takes us is used until it fails.
    for (std::size_t i = 0; i < targets_.size() && !stopping_; ++i) {
      current_ = cfg_.server_urls[i];
      current_index_ = i;
      try {
        const auto opts = up::link_options();
        const std::map<std::string, std::string> no_headers;
        up::link link(co_await connect_ws(tls_.get(), targets_[i], no_headers, opts));
        link_ = &link;
        // link.serve: what the reader queued last (a refusal and its reason) still goes out.
        if (i == 0)
          co_await link.serve(serve(link));
        else
          co_await link.serve(serve_on_fallback(i, link));
        link_ = nullptr;
        auto why = link.stream().close_reason();
        if (!stopping_) log::warn(name_, "connection to ", current_, " lost", why.empty() ? "" : ": " + why);
        break;  // back to the preferred connector after the backoff
      } catch (const std::exception& e) {
        link_ = nullptr;
        if (stopping_) break;
        log::warn(name_, "cannot reach ", current_, ": ", ending_words(e));
      }
    }
    if (stopping_) break;
    auto wait = backoff_.next();
    log::info(name_, "reconnecting in ", std::chrono::duration_cast<std::chrono::milliseconds>(wait).count(), " ms");
    sleep_->expires_after(wait);
    co_await sleep_->async_wait(use_tuple);
  }
}

awaitable<void> agent::serve(up::link& link) {
  up::message hello;
  hello.type = up::kind::hello;
  hello.device_id = cfg_.device_id;
  hello.credential = certificate_ ? "" : cfg_.credential;  // with a certificate, no secret goes anywhere
  hello.agent = "shadowlink-device/0.1";
  hello.os = cfg_.os;
  if (cfg_.os == "11") {
    // The legacy port's address and certificate go to the server over this authenticated link
    // only: a viewer trusts the port because the server vouches for its pin.
    hello.address = cfg_.advertise;
    hello.pin = legacy_pin_;
  }
  link.send(hello);
  auto welcome = co_await link.receive();
  if (welcome.type != up::kind::welcome) {
    if (certificate_ && welcome.reason == up::certificate_not_accepted) {
      certificate_refused(welcome.reason);
    } else {
      if (!told_refused_) log::error(name_, current_, " refused the device: ", welcome.reason);
      told_refused_ = true;
    }
    link.close("refused");
    co_return;
  }
  backoff_.reset();
  told_refused_ = told_certificate_refused_ = false;  // (a later refusal is news again)
  // The server says how often it wants to hear from us; our own setting only when it does not.
  const auto period = welcome.heartbeat_s > 0 ? std::chrono::seconds(std::min<std::int64_t>(welcome.heartbeat_s, 300)) : cfg_.heartbeat;
  log::info(name_, "connected to ", current_, " as ", cfg_.device_id, " (heartbeat every ",
            std::chrono::duration_cast<std::chrono::seconds>(period).count(), " s, ",
            certificate_ ? "device certificate" : "credential", ")");
  certificate_asked_ = false;
  request_certificate_if_due(link);
  settings_path_ = welcome.settings_path;
  auto reader = [&]() -> awaitable<void> {
    for (;;) {
      auto m = co_await link.receive();
      if (m.type == up::kind::shadow_request)
        env_.tasks.spawn(shadow(m), name_ + "/" + m.session_id.substr(0, 32));
      else if (m.type == up::kind::end_session && !active_session_.empty() && m.session_id == active_session_)
        end_session(m.reason.empty() ? "ended by the server" : m.reason);
      else if (m.type == up::kind::certificate)
        store_certificate(m);
      else if (m.type == up::kind::error)
        log::warn(name_, "server reports an error: ", m.reason);
    }
  };
  co_await (heartbeats(link, period) || settle(reader()) || report_settings(link, period));
}

awaitable<void> agent::serve_on_fallback(std::size_t current, up::link& link) {
  co_await (serve(link) || return_probe(current, link));
}

// On a fallback connector: now and then try the preferred ones; when one answers, end the
// current link (politely) so that the next round starts at the top of the list again.
awaitable<void> agent::return_probe(std::size_t current, up::link& link) {
  net::steady_timer t(co_await net::this_coro::executor);
  for (;;) {
    t.expires_after(cfg_.return_check);
    co_await t.async_wait(use_awaitable);
    if (!active_session_.empty()) continue;  // never cut a session that is being shadowed
    for (std::size_t j = 0; j < current; ++j) {
      try {
        const auto opts = up::link_options();
        const std::map<std::string, std::string> no_headers;
        auto probe = co_await connect_ws(tls_.get(), targets_[j], no_headers, opts);
        co_await close_stream(*probe, "connectivity check");
      } catch (const std::exception&) {
        continue;
      }
      log::info(name_, "preferred connector ", cfg_.server_urls[j], " is reachable again: returning to it");
      backoff_.reset();
      link.close("device returns to its preferred connector");
      t.expires_at(clock::time_point::max());
      co_await t.async_wait(use_tuple);  // the writer ends the link; `||` then cancels this wait
      co_return;
    }
  }
}

awaitable<void> agent::heartbeats(up::link& link, clock::duration period) {
  net::steady_timer t(co_await net::this_coro::executor);
  for (;;) {
    t.expires_after(period);
    co_await t.async_wait(use_awaitable);
    up::message hb;
    hb.type = up::kind::heartbeat;
    hb.session_id = active_session_;  // the server knows the session still runs (OS 11: it sees no traffic)
    if (!link.send(hb)) co_return;
    request_certificate_if_due(link);  // a link may outlive the time to renew
  }
}

// The server ends the running session: at whatever step it is; before the splice exists the end
// is remembered and applied when it starts.
void agent::end_session(std::string reason) {
  if (end_active_) end_active_(reason);
  else pending_end_ = std::move(reason);
}

void agent::send(const up::message& m) {
  if (link_) link_->send(m);
}

void register_device(service_registry& r) {
  r.add("device", [](service_env& env, settings& s) { return std::make_unique<agent>(env, s); });
}

}  // namespace shadowlink::device
