#include "services/icg/icg_service.hpp"

#include "framework/certs.hpp"
#include "framework/deadline.hpp"
#include "framework/errors.hpp"
#include "framework/log.hpp"
#include "framework/on_exit.hpp"
#include "framework/tcp_stream.hpp"
#include "framework/tls.hpp"
#include "framework/token.hpp"
#include "protocol/tunnel_endpoint.hpp"

#include <boost/json.hpp>

namespace shadowlink::icg {
using namespace net::experimental::awaitable_operators;

icg_service::icg_service(service_env& env, settings& s) : env_(env), name_(env.name), rv_(env.ex) {
  listener_ = tls_listener_settings::read(s, 9443, "external_url");
  // Only the hash of what the UMS presents is kept; plain text only in the demo.
  const bool demo = s.boolean("demo", false);
  ums_credential_sha256_ = s.verifier("ums_credential", demo);
  if (s.has("metrics_token") || s.has("metrics_token_sha256")) metrics_token_sha256_ = s.verifier("metrics_token", demo);
  ca_dir_ = s.str("ca_dir", env.shared_dir.string());
  s.seconds("device_grace_s", device_grace_, 1, 3600);
  s.seconds("session_timeout_s", session_timeout_, 5, 3600);
  s.seconds("write_stall_s", write_stall_, 1, 600);
  s.number("max_unverified", limits_.total, 1, 1000000);
  s.number("max_unverified_per_address", limits_.per_address, 1, 1000000);
  s.seconds("verdict_timeout_s", limits_.verdict_timeout, 1, 600);
  devices_.on_removed = [this](const std::string& id, const up::link_registry<device_info>::entry& gone) {
    up::message m;
    m.type = up::kind::device_offline;
    m.device_id = id;
    m.link = gone.id;
    to_ums_paced(std::move(m));
  };
}

void icg_service::start() {
  bool bootstrapped = false;
  server_ = make_tls_listener(listener_, env_, ca_dir_, true, &bootstrapped);
  paired_ = !bootstrapped;
  // A paired gateway's certificate came from the UMS, which renews it; one given as files or
  // signed here with the CA's own key is the operator's to renew.
  signed_by_ums_ = paired_ && listener_.cert_file.empty() && !std::filesystem::exists(std::filesystem::path(ca_dir_) / "ca.key");
  if (signed_by_ums_) note_own_certificate(read_file(env_.data_dir / "server.pem"));
  server_->add_ws("/up/ums", [this](ws_upgrade& up) { return ums_endpoint(up); });
  server_->add_ws("/up", [this](ws_upgrade& up) { return device_endpoint(up); });
  server_->add_ws("/tunnel/", [this](ws_upgrade& up) { return up::accept_tunnel_end(rv_, up, "/tunnel/", name_); });
  server_->add_http("/health", [this](const http_request& req, const std::string&) -> awaitable<http_response> {
    // 503 unless the UMS is connected: without it no device is verified and no session starts.
    const auto st = status();
    co_return json_response(req, st == "ok" ? http::status::ok : http::status::service_unavailable,
                            boost::json::serialize(boost::json::object{{"status", st}}));
  });
  server_->add_http("/metrics", [this](const http_request& req, const std::string&) -> awaitable<http_response> {
    if (auto no = metrics::refused(req, metrics_token_sha256_)) {
      if (no->result() == http::status::unauthorized) auth_failures_.Add({{"what", "metrics_token"}}).Increment();
      co_return *no;
    }
    refresh_metrics();
    co_return metrics::answer(req, metrics_);
  });
  // Counts for operators and tests on the gateway's own host; not for the internet.
  server_->add_http("/stats", [this](const http_request& req, const std::string& peer) -> awaitable<http_response> {
    error_code ec;
    if (auto a = net::ip::make_address(address_of(peer), ec); ec || !a.is_loopback())
      co_return error_response(req, http::status::forbidden, "/stats answers on the gateway's own host only");
    co_return json_response(req, http::status::ok,
                            boost::json::serialize(boost::json::object{{"devices", devices_.size()},
                                                                       {"unverified", unverified_count_},
                                                                       {"awaiting_verdict", unverified_.size()},
                                                                       {"ums_connected", home_ != nullptr},
                                                                       {"ums_links", ums_links_.size()},
                                                                       {"home_node", home_node_}}));
  });
  server_->listen(listener_.listen, listener_.port);
  listener_.bound_to(server_->port());
  started_ = true;
  env_.tasks.spawn(drop_devices_without_ums(), name_);
  log::info(name_, "gateway listening on ", listener_.listen, ":", server_->port(), " (UMS /up/ums, devices /up, tunnels /tunnel/, /health, /stats)");
}

void icg_service::stop() {
  stopping_ = true;
  if (server_) server_->stop();
  // The UMS hears first that the gateway goes: its sessions here end as "gateway connection lost",
  // not one by one as devices going offline (which they are not).
  for (auto& [node, link] : ums_links_) link->close("gateway shutting down");
  for (auto& [id, sp] : active_) sp->stop("gateway shutting down");
  devices_.close_all("gateway shutting down");
  for (auto& [id, u] : unverified_) u.link->close("gateway shutting down");
}

void icg_service::refresh_metrics() {
  gauges_.Add({{"what", "devices_verified"}}).Set(static_cast<double>(devices_.size()));
  gauges_.Add({{"what", "devices_unverified"}}).Set(unverified_count_);
  gauges_.Add({{"what", "ums_connected"}}).Set(home_ ? 1 : 0);
  gauges_.Add({{"what", "ums_links"}}).Set(static_cast<double>(ums_links_.size()));
  gauges_.Add({{"what", "sessions_active"}}).Set(static_cast<double>(active_.size()));
  gauges_.Add({{"what", "rendezvous_pending"}}).Set(static_cast<double>(rv_.size()));
}

std::string icg_service::status() const {
  if (!started_) return "init";
  return home_ ? "ok" : "warn";
}

// A session lives only while the UMS that asked for it can end it and audit it: without that
// UMS, nobody could (a restarted UMS closes what it knew of as "unknown, server restarted").
// Other nodes' sessions go on.
void icg_service::end_sessions_of(const up::link* link, const std::string& reason) {
  std::vector<std::string> ids;
  for (auto& [id, owner] : sessions_)
    if (!link || owner.ums == link) ids.push_back(id);
  for (auto& id : ids) end_session(id, reason);
  if (!ids.empty()) log::warn(name_, ids.size(), " session(s) ended: ", reason);
}

void icg_service::end_session(const std::string& id, const std::string& reason) {
  const auto d = sessions_.find(id);
  if (d == sessions_.end()) return;  // not (or no longer) ours
  if (auto a = active_.find(id); a != active_.end()) {
    a->second->stop(reason);
  } else {
    ended_early_.emplace(id, reason);
    rv_.cancel(id);
  }
  // The device hears it too: its user's notice or consent dialog closes (it ignores other sessions' ends).
  up::message end;
  end.type = up::kind::end_session;
  end.session_id = id;
  end.reason = reason;
  if (auto* e = devices_.find(d->second.device)) e->l->send(end);
}

void icg_service::to_home(const up::message& m) {
  if (home_) home_->send(m);
}

void icg_service::to_session_ums(const std::string& session_id, const up::message& m) {
  if (auto s = sessions_.find(session_id); s != sessions_.end() && s->second.ums) s->second.ums->send(m);
}

// Device hellos and offline reports can come by the thousand (every device re-announced after a
// UMS reconnect, a network blip at a site): they wait here and announce() sends them paced.
void icg_service::to_ums_paced(up::message m) {
  if (!home_) return;  // a UMS that connects later is told the state of then, not this history
  // Each entry stands for a live link (or one that just ended), so the outbox stays near this
  // bound; past it the hello is dropped and its link times out waiting for a verdict.
  if (outbox_.size() >= static_cast<std::size_t>(limits_.total) + devices_.size() + 1024) {
    log::warn(name_, "UMS outbox full: ", up::to_string(m.type), " for a device not sent");
    return;
  }
  outbox_.push_back(std::move(m));
  if (outbox_wake_) outbox_wake_->cancel();
}

up::message icg_service::hello_for_ums(const std::string& device, up::link_id id, const up::message& hello, const std::string& peer) const {
  up::message m;
  m.type = up::kind::device_hello;
  m.device_id = device;
  m.credential = hello.credential;
  m.fingerprint = hello.fingerprint;
  m.agent = hello.agent;
  m.os = hello.os;
  m.reason = peer;
  m.link = id;
  return m;
}

// ---- the UMS's link -------------------------------------------------------------------------

awaitable<void> icg_service::ums_endpoint(ws_upgrade& up) {
  const auto address = client_key(up.peer());
  auto token = bearer_token(up.request());
  // Always compared (a cheap hash of a long random secret): the real UMS is let in even while
  // someone sharing its address keeps failing. Wrong ones within the wait are neither logged nor
  // counted again: 429.
  if (token.empty() || !tokens_equal(sha256_hex(token), ums_credential_sha256_)) {
    if (auto wait = ums_failures_.retry_after(address); wait > clock::duration::zero()) {
      auth_failures_.Add({{"what", "ums_throttled"}}).Increment();
      const auto secs = std::chrono::ceil<std::chrono::seconds>(wait).count();
      co_return co_await up.reject(http::status::too_many_requests,
                                   "too many wrong UMS credentials from this address: try again in " + std::to_string(secs) + " s");
    }
    const int n = ums_failures_.failed(address);
    log::warn(name_, "UMS connection from ", up.peer(), " refused: wrong credential (", n, " from that address; the next is heard after ",
              std::chrono::duration_cast<std::chrono::milliseconds>(ums_failures_.delay(address)).count(), " ms)");
    auth_failures_.Add({{"what", "ums_credential"}}).Increment();
    co_return co_await up.reject(http::status::forbidden, "wrong UMS credential");
  }
  ums_failures_.forgive(address);
  // Each node of a UMS cluster keeps its own link here and names itself: a node's newer link
  // replaces its older one (a restart whose old connection has not timed out yet), not the others'.
  std::string node(up.request()[up::node_header]);
  if (node.size() > 40 || node.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != std::string::npos) {
    const auto why = std::string(up::node_header) + ": expected at most 40 letters, digits, dots, dashes and underscores";
    co_return co_await up.reject(http::status::bad_request, why);
  }
  const auto opts = up::link_options();
  up::link link(co_await up.accept(opts));
  co_await link.serve(serve_ums(link, std::move(node)));
}

awaitable<void> icg_service::serve_ums(up::link& link, std::string node) {
  const std::string who = node.empty() ? "UMS" : "UMS node " + node;
  if (auto older = ums_links_.find(node); older != ums_links_.end()) older->second->close("replaced by a newer connection of the same UMS node");
  ums_links_[node] = &link;
  log::info(name_, who, " connected from ", link.peer(), " (", ums_links_.size(), " UMS link(s))");
  on_exit lost([&] {
    if (auto l = ums_links_.find(node); l != ums_links_.end() && l->second == &link) ums_links_.erase(l);
    if (!stopping_) end_sessions_of(&link, "the UMS connection was lost");
    // The link is gone with this frame: its sessions, ending now, report to nobody.
    for (auto& [id, owner] : sessions_)
      if (owner.ums == &link) owner.ums = nullptr;
    if (home_ != &link) {
      log::info(name_, who, " disconnected");
      return;
    }
    home_ = nullptr;
    home_node_.clear();
    outbox_.clear();
    if (stopping_) return;
    if (!ums_links_.empty()) {
      log::warn(name_, who, " connection lost: its devices are announced to another node");
      make_home(*ums_links_.begin()->second, ums_links_.begin()->first);
      return;
    }
    ums_lost_ = clock::now();
    log::warn(name_, "UMS connection lost: devices are dropped after ", std::chrono::duration_cast<std::chrono::seconds>(device_grace_).count(), " s without a UMS");
  });
  if (!home_) make_home(link, node);
  auto reader = [&]() -> awaitable<void> {
    for (;;) on_ums_message(link, co_await link.receive());
  };
  co_await (settle(reader()) || announce(link) || renew_own_certificate(link));
}

// The UMS learns which devices are here (and checks their credentials): the verified ones and
// those still waiting for a verdict.
void icg_service::make_home(up::link& link, const std::string& node) {
  home_ = &link;
  home_node_ = node;
  own_asked_ = false;
  outbox_.clear();
  for (auto& [id, e] : devices_.entries()) {
    up::message hello;
    hello.credential = e.info.credential;
    hello.fingerprint = e.info.fingerprint;
    hello.agent = e.info.agent;
    hello.os = e.info.os;
    outbox_.push_back(hello_for_ums(id, e.id, hello, e.info.peer));
  }
  for (auto& [id, u] : unverified_) outbox_.push_back(hello_for_ums(u.hello.device_id, id, u.hello, u.peer));
  if (!node.empty()) log::info(name_, "devices are announced to UMS node ", node, " (", outbox_.size(), " now)");
  if (outbox_wake_) outbox_wake_->cancel();
}

// Drains the outbox onto the UMS's link, never more than half its queue at a time, so that the
// UMS's answers and session messages keep flowing while thousands of devices are announced.
awaitable<void> icg_service::announce(up::link& link) {
  net::steady_timer wake(co_await net::this_coro::executor);
  on_exit forget([&] {
    if (outbox_wake_ == &wake) outbox_wake_ = nullptr;
  });
  for (;;) {
    // (Only while this link is home; another link's timer is woken when it becomes home.)
    if (home_ == &link) outbox_wake_ = &wake;
    while (home_ == &link && !outbox_.empty()) {
      auto m = std::move(outbox_.front());
      outbox_.pop_front();
      if (!co_await link.send_paced(m)) co_return;
    }
    wake.expires_after(1s);
    co_await wake.async_wait(use_tuple);
    auto cs = co_await net::this_coro::cancellation_state;
    if (cs.cancelled() != net::cancellation_type::none) co_return;
  }
}

void icg_service::on_ums_message(up::link& from, const up::message& m) {
  switch (m.type) {
    case up::kind::device_accepted:
    case up::kind::device_rejected:
      on_verdict(m);
      return;
    case up::kind::shadow_request:
      env_.tasks.spawn(relay_session(m, &from), name_ + "/" + m.session_id.substr(0, 32));
      return;
    case up::kind::certificate:
      if (m.device_id.empty()) {
        take_own_certificate(m);
        return;
      }
      // The answer to a request that link made: to that link only.
      if (auto* e = devices_.find(m.device_id); e && e->id == m.link) {
        // The gateway forgets the credential now: a re-announce names the certificate the UMS
        // just issued to this link, and the device presents it from its next connection on.
        try {
          e->info.fingerprint = pem_fingerprint(m.certificate);
          e->info.credential.clear();
        } catch (const std::runtime_error&) {
          return;  // not a certificate: nothing to relay
        }
        up::message cert;
        cert.type = up::kind::certificate;
        cert.certificate = m.certificate;
        e->l->send(cert);
      }
      return;
    case up::kind::device_revoked:
      if (auto* e = devices_.find(m.device_id); e && !e->info.fingerprint.empty() && e->info.fingerprint == m.fingerprint)
        refuse_verified(m.device_id, *e->l, m.reason);
      return;
    case up::kind::end_session:
      // Only the node that asked for a session ends it here (another node's administrator ends it
      // through that node).
      if (auto s = sessions_.find(m.session_id); s != sessions_.end() && s->second.ums == &from)
        end_session(m.session_id, m.reason.empty() ? "ended by the UMS" : m.reason);
      return;
    case up::kind::error:
      // (The UMS refusing this gateway's certificate request, for one: pairing or renewal does not happen.)
      if (!paired_ || (own_asked_ && &from == home_)) log::error(name_, "the UMS reports: ", m.reason);
      return;
    default:
      return;
  }
}

// A verdict is about the link it names: a link waiting for it, or (after a re-announce) a
// verified link that the UMS no longer accepts. Never about whoever holds the device id now.
void icg_service::on_verdict(const up::message& m) {
  if (auto u = unverified_.find(m.link); u != unverified_.end()) {
    if (m.type == up::kind::device_rejected) auth_failures_.Add({{"what", "device_credential"}}).Increment();
    if (u->second.hello.device_id == m.device_id) u->second.verdict->deliver(m);
    return;
  }
  auto* e = devices_.find(m.device_id);
  if (m.type == up::kind::device_rejected && e && e->id == m.link) refuse_verified(m.device_id, *e->l, m.reason);
}

// The UMS sends a verdict on the link and a revocation by fingerprint for one removal; whichever
// arrives first ends the link, and says why once.
void icg_service::refuse_verified(const std::string& device, up::link& l, const std::string& why) {
  if (l.closed()) return;
  log::warn(name_, "device ", device, ": ", why);
  l.refuse(why);
}

// ---- pairing --------------------------------------------------------------------------------

void icg_service::request_own_certificate(up::link& ums) {
  try {
    up::message m;
    m.type = up::kind::certificate_request;
    m.csr = make_server_certificate_request(read_file(env_.data_dir / "server.key"), listener_.names);
    ums.send(m);
    log::info(name_, "asking the UMS to sign this gateway's certificate");
  } catch (const std::exception& e) {
    log::error(name_, "cannot make this gateway's certificate request: ", e.what());
  }
}

// Asks at once when the link comes up, and again while it lasts (a refused or lost request is not
// the end of it): every 2 minutes until paired (the UMS signs one a minute at most), hourly after.
awaitable<void> icg_service::renew_own_certificate(up::link& ums) {
  net::steady_timer t(co_await net::this_coro::executor);
  for (;;) {
    // (Asked on the home link only: one request, one answer, whatever the number of nodes.)
    const bool home = home_ == &ums;
    if (home && !paired_) {
      request_own_certificate(ums);
      own_asked_ = true;
    } else if (home && signed_by_ums_ && renewal_due(own_not_before_, own_not_after_, std::chrono::system_clock::now())) {
      log::info(name_, "this gateway's certificate is valid until ", log::utc_iso(own_not_after_), ": asking the UMS to renew it");
      request_own_certificate(ums);
      own_asked_ = true;
    }
    t.expires_after(!home ? clock::duration(1min) : paired_ ? clock::duration(1h) : clock::duration(2min));
    if (auto [ec] = co_await t.async_wait(use_tuple); ec) co_return;
  }
}

void icg_service::note_own_certificate(const std::string& pem) {
  try {
    const auto info = inspect_certificate(pem);
    own_not_before_ = info.not_before;
    own_not_after_ = info.not_after;
  } catch (const std::exception& e) {
    log::error(name_, "cannot read this gateway's certificate: ", e.what(), "; it is not renewed");
    signed_by_ums_ = false;
  }
}

// The UMS signed our key: from the next connection on, the listener presents that certificate
// (connections already open keep the one they got), and later starts find it in the data dir.
void icg_service::take_own_certificate(const up::message& m) {
  if (!own_asked_) return;  // nothing asked for on this link
  try {
    const auto key = read_file(env_.data_dir / "server.key");
    const auto ca = read_file(std::filesystem::path(ca_dir_) / "ca.pem");
    if (!key_matches_certificate(key, m.certificate)) throw std::runtime_error("it is not for this gateway's key");
    if (!signed_by(m.certificate, ca)) throw std::runtime_error("the installation CA did not sign it");
    const auto chain = m.certificate + ca;
    auto tls = make_server_tls(chain, key, ca);
    write_file_atomically(env_.data_dir / "server.pem", chain, false);
    server_->set_tls(std::move(tls));
    log::info(name_, paired_ ? "renewed" : "paired", ": serving the certificate the UMS signed, SHA-256 fingerprint ",
              pem_fingerprint(m.certificate));
    paired_ = true;
    signed_by_ums_ = true;
    note_own_certificate(m.certificate);
  } catch (const std::exception& e) {
    log::error(name_, "the certificate from the UMS is not used: ", e.what());
  }
}

// Without a UMS nobody can authorise anything: after a grace period devices are told to go
// (they reconnect with backoff, perhaps to another connector).
awaitable<void> icg_service::drop_devices_without_ums() {
  net::steady_timer t(co_await net::this_coro::executor);
  stop_hook on_stop(env_.tasks, [&t] { t.cancel(); });  // ends with the gateway, not at the grace period's cancel
  while (!env_.tasks.stopping()) {
    t.expires_after(1s);
    if (auto [ec] = co_await t.async_wait(use_tuple); ec) co_return;
    if (home_ || clock::now() - ums_lost_ < device_grace_) continue;
    devices_.close_all("no UMS connected to the gateway");
    for (auto& [id, u] : unverified_) u.link->close("no UMS connected to the gateway");
  }
}

// ---- devices ----------------------------------------------------------------------------------

awaitable<void> icg_service::device_endpoint(ws_upgrade& up) {
  if (!home_ && clock::now() - ums_lost_ >= device_grace_)
    co_return co_await up.reject(http::status::service_unavailable, "gateway has no UMS connection");
  // Links that have not proven who they are yet are bounded, so that nobody can hold the gateway's
  // resources (or the UMS's attention) with connections that will never be verified.
  auto address = client_key(up.peer());
  if (unverified_count_ >= limits_.total) {
    log::warn(name_, "device connection from ", up.peer(), " refused: ", unverified_count_, " unverified connections already");
    co_return co_await up.reject(http::status::service_unavailable, "too many unverified connections at the gateway, try again later");
  }
  if (unverified_by_address_[address] >= limits_.per_address) {
    log::warn(name_, "device connection from ", up.peer(), " refused: ", limits_.per_address, " unverified connections from that address already");
    co_return co_await up.reject(http::status::too_many_requests, "too many unverified connections from this address, try again later");
  }
  ++unverified_count_;
  ++unverified_by_address_[address];
  on_exit release([&] {
    --unverified_count_;
    if (--unverified_by_address_[address] == 0) unverified_by_address_.erase(address);
  });
  const auto opts = up::link_options();
  up::link link(co_await up.accept(opts));
  std::function<void()> verified = [&] { release.run(); };  // (named: g++ 12 and lambdas in co_await)
  co_await link.serve(serve_device(link, std::move(verified), up.client_certificate()));
}

awaitable<void> icg_service::serve_device(up::link& link, std::function<void()> verified, peer_certificate cert) {
  // 1. The device says who it is, in time. A device with a certificate (its chain checked in the
  //    TLS handshake against the installation CA) is the device it names, or nobody; only the
  //    certificate's fingerprint goes on to the UMS, no secret.
  auto hello = co_await up::receive_hello(link, limits_.hello_timeout);
  if (!hello) co_return;
  const std::string device = hello->device_id;
  std::string refusal;
  if (!cert.empty() && cert.common_name != device) refusal = up::certificate_not_accepted;
  else if (cert.empty() && hello->credential.empty()) refusal = "no credential and no device certificate";
  if (!refusal.empty()) {
    auth_failures_.Add({{"what", cert.empty() ? "device_credential" : "device_certificate"}}).Increment();
    log::warn(name_, "device connection from ", link.peer(), " refused: ", refusal);
    link.refuse(refusal);
    co_return;
  }
  if (!cert.empty()) {
    hello->credential.clear();
    hello->fingerprint = cert.fingerprint;
  }

  // 2. The UMS decides whether this device and credential are genuine; its verdict names this link.
  //    Meanwhile the link is nobody's: a device already connected stays connected.
  if (auto wait = id_failures_.delay(device); wait > clock::duration::zero()) co_await sleep_for(wait);
  const auto id = devices_.next_id();
  meeting_point<up::message> verdict(co_await net::this_coro::executor);
  unverified_[id] = unverified_link{&link, *hello, link.peer(), &verdict};
  on_exit forget([&] { unverified_.erase(id); });
  to_ums_paced(hello_for_ums(device, id, *hello, link.peer()));
  up::message answer;
  bool rejected_by_ums = false;
  try {
    answer = co_await verdict.wait_for(limits_.verdict_timeout);
    rejected_by_ums = answer.type == up::kind::device_rejected;
  } catch (const system_error&) {
    answer.type = up::kind::device_rejected;
    answer.reason = "no verdict from the UMS in time, try again later";
  }
  forget.run();
  if (answer.type != up::kind::device_accepted) {
    if (rejected_by_ums) id_failures_.failed(device);  // (not a UMS that did not answer)
    log::warn(name_, "device connection from ", link.peer(), " refused: ", answer.reason);
    link.refuse(answer.reason);
    co_return;
  }

  // 3. Verified: the link becomes the device's, replacing an older one, and stops counting as unverified.
  verified();
  auto reg = devices_.attach(device, link, device_info{link.peer(), hello->credential, hello->fingerprint, hello->agent, hello->os}, "replaced by a newer connection", id);
  link.send(up::welcome_message(5));

  // 4. Relay the device's answers about its own sessions, its certificate request (one per link)
  //    and its settings (at most one every 2 s: a device cannot flood the UMS's link), for as long
  //    as it is the device's link.
  bool asked_for_certificate = false;
  auto settings_relayed = clock::time_point{};
  try {
    while (reg.current()) {
      auto m = co_await link.receive();
      if (!reg.current()) break;
      if (m.type == up::kind::certificate_request && !asked_for_certificate) {
        asked_for_certificate = true;
        m.device_id = device;
        m.link = reg.id();
        to_home(m);
        continue;
      }
      if (m.type == up::kind::device_settings) {
        if (m.device_id == device && clock::now() - settings_relayed >= 2s) {
          settings_relayed = clock::now();
          m.link = reg.id();
          to_home(m);
        }
        continue;
      }
      if (m.type == up::kind::shadow_asking || m.type == up::kind::shadow_accepted || m.type == up::kind::shadow_refused ||
          m.type == up::kind::shadow_ended) {
        auto s = sessions_.find(m.session_id);
        if (s != sessions_.end() && s->second.device == device) {
          to_session_ums(m.session_id, m);
          if (m.type == up::kind::shadow_refused) rv_.cancel(m.session_id);
        }
      }
    }
  } catch (const system_error& e) {
    // A peer going away is normal; a message over the size limit or a broken stream is not.
    if (!is_normal_end(e.code())) log::warn(name_, "device ", device, " link closed: ", e.what());
  }
}

void register_icg(service_registry& r) {
  r.add("icg", [](service_env& env, settings& s) { return std::make_unique<icg_service>(env, s); });
}

}  // namespace shadowlink::icg
