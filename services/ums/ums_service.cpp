#include "services/ums/ums_service.hpp"

#include "framework/http_proxy.hpp"
#include "framework/log.hpp"
#include "framework/metrics.hpp"
#include "framework/token.hpp"
#include "protocol/tunnel_endpoint.hpp"
#include "services/ums/webapp.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include <unistd.h>

namespace shadowlink::ums {
namespace json = boost::json;

namespace {
std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "ums";
  return name;
}

// Installed, the files sit beside the binary (PREFIX/bin/shadowlinkd, PREFIX/share/shadowlink/webapp);
// a build that was not installed serves them from its source tree.
std::string default_webapp_dir() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto installed = exe.parent_path().parent_path() / "share" / "shadowlink" / "webapp";
    if (std::filesystem::exists(installed / "index.html", ec)) return installed.string();
  }
  return SHADOWLINK_WEBAPP_DIR;
}
}  // namespace

ums_service::ums_service(service_env& env, settings& s)
    : env_(env), name_(env.name), rv_(env.ex) {
  cfg_.listener = tls_listener_settings::read(s, 8443, "public_url");
  web_origins_given_ = s.has("web_origins");
  cfg_.web_origins = s.strings("web_origins", cfg_.listener.own_origins());
  s.seconds("consent_timeout_s", cfg_.consent_timeout, 1, 600);
  s.seconds("setup_timeout_s", cfg_.setup_timeout, 1, 300);
  s.seconds("viewer_timeout_s", cfg_.viewer_timeout, 1, 3600);
  s.seconds("idle_timeout_s", cfg_.idle_timeout, 1, 86400);
  s.seconds("write_stall_s", cfg_.write_stall, 1, 600);
  s.seconds("heartbeat_s", cfg_.heartbeat, 1, 300);
  s.number("audit_rotate_bytes", cfg_.audit_rotate_bytes, 4096, 1ll << 40);
  s.number("recording_max_session_bytes", cfg_.recordings.per_session, 64 * 1024, 1ll << 42);
  s.number("recording_max_total_bytes", cfg_.recordings.total, 64 * 1024, 1ll << 50);
  if (cfg_.recordings.total < cfg_.recordings.per_session) s.reject("recording_max_total_bytes", "must be at least recording_max_session_bytes");
  s.number("certificate_days", certificate_days_, 1, 3650);
  // The registry: in this PostgreSQL database (shared by the UMS nodes of a cluster), or else in
  // an SQLite file in the data directory.
  cfg_.postgresql = s.str("postgresql", "");
  if (s.has("postgresql")) {
    if (cfg_.postgresql.empty()) s.reject("postgresql", "expected a libpq connection string, e.g. \"host=db.example dbname=shadowlink user=ums\"");
    if (auto why = check_postgresql_conninfo(cfg_.postgresql); !why.empty()) s.reject("postgresql", why);
  }
  // Several nodes on that database make a cluster; each needs a name of its own (the host's by default).
  if (s.has("node") || !cfg_.postgresql.empty()) {
    cfg_.node = s.str("node", host_name().substr(0, 40));
    if (cfg_.node.empty() || cfg_.node.size() > 40 || cfg_.node.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != std::string::npos)
      s.reject("node", "expected 1 to 40 letters, digits, dots, dashes and underscores");
  }
  // The demo runs from a config printed on screen: plain-text secrets are accepted there, nowhere else.
  const bool demo = s.boolean("demo", false);
  groups_.configure(s);
  auth_.configure(s, groups_, demo);
  devices_ = read_devices(s, demo, groups_);
  // A group may name enrolled devices: those are known once the registry is open (start()).
  unconfirmed_members_ = unknown_members(groups_, devices_, {});
  groups_path_ = s.path() + ".device_groups";
  if (s.has("metrics_token") || s.has("metrics_token_sha256")) metrics_token_sha256_ = s.verifier("metrics_token", demo);
  for (auto& g : s.objects("gateways")) {
    auto gw = std::make_unique<gateway>();
    gw->name = g.required_str("name");
    for (auto& other : gateways_)
      if (other->name == gw->name) g.reject("name", "duplicate gateway '" + gw->name + "'");
    gw->url = g.required_str("url");
    try {
      if (!parse_ws_url(gw->url).tls) g.reject("url", "must be a wss:// URL");
    } catch (const std::invalid_argument& e) {
      g.reject("url", e.what());
    }
    gw->external_url = g.str("external_url", gw->url);
    try {
      parse_wss_url(gw->external_url);
    } catch (const std::invalid_argument&) {
      g.reject("external_url", "must be a wss:// URL: consoles and devices send tokens and VNC there");
    }
    gw->credential = g.secret("credential", demo);
    gw->ca_file = g.str("ca_file", "");
    gw->pin = g.str("pin", "");
    gw->proxy = g.str("proxy", "");
    if (auto why = check_proxy(gw->proxy); !gw->proxy.empty() && !why.empty()) g.reject("proxy", why);
    if (!gw->pin.empty() && normalize_fingerprint(gw->pin).empty()) g.reject("pin", "expected a SHA-256 fingerprint (64 hex digits)");
    gw->pair_pin = g.str("pair_pin", "");
    if (!gw->pair_pin.empty() && normalize_fingerprint(gw->pair_pin).empty())
      g.reject("pair_pin", "expected the SHA-256 fingerprint (64 hex digits) the gateway logs while not paired");
    gateways_.push_back(std::move(gw));
  }
  novnc_dir_ = s.str("novnc_dir", novnc_dir_);
  webapp_dir_ = s.str("webapp_dir", default_webapp_dir());
  online_.on_removed = [this](const std::string& id, const up::link_registry<live_link>::entry& gone) { device_gone(id, gone.info); };
}

std::map<std::string, device_record, std::less<>> ums_service::read_devices(settings& s, bool demo,
                                                                          const device_groups& groups) const {
  std::map<std::string, device_record, std::less<>> out;
  for (auto& d : s.objects("devices")) {
    device_record r;
    r.id = d.required_str("id");
    r.name = d.str("name", r.id);
    // Optional: an enrolled device comes in with its certificate (a device without either cannot).
    if (d.has("credential") || d.has("credential_sha256")) r.credential_sha256 = d.verifier("credential", demo);
    // Asking is the default: shadowing someone unannounced is unlawful in many places. The
    // device's own policy and its groups' apply together: the strictest wins.
    auto group_consent = groups.consent_of(r.id);
    if (d.has("consent")) {
      auto consent = up::parse_consent(d.required_str("consent"));
      if (!consent) d.reject("consent", "expected none, notify or ask");
      r.consent = group_consent ? up::strictest(*consent, *group_consent) : *consent;
    } else {
      r.consent = group_consent.value_or(up::consent_policy::ask);
    }
    r.record = groups.records(r.id);
    if (d.has("record")) {
      const auto record = d.required_str("record");
      if (record != "on" && record != "off") d.reject("record", "expected on or off");
      r.record = r.record || record == "on";  // a group's "on" is not undone by the device's "off"
    }
    if (!out.emplace(r.id, r).second) d.reject("id", "duplicate device id '" + r.id + "'");
  }
  return out;
}

namespace {
std::string unknown_member_error(const device_groups::member& m) {
  return "group " + m.group + ": no device with id " + m.device + ", configured or enrolled (a typo would grant or ask nothing)";
}
}  // namespace

// Group members that are neither configured nor enrolled (`enrolled`: the registry's, once open).
std::vector<device_groups::member> ums_service::unknown_members(const device_groups& groups, const std::map<std::string, device_record, std::less<>>& configured,
                                                      const std::map<std::string, registry::device, std::less<>>& enrolled) {
  std::set<std::string, std::less<>> known;
  for (auto& [id, d] : configured) known.insert(id);
  for (auto& [id, d] : enrolled) known.insert(id);
  return groups.unknown_devices(known);
}

void ums_service::reload(settings& s) {
  const bool demo = s.boolean("demo", false);
  // Everything that can be refused is read first; only then is anything changed.
  device_groups groups;
  groups.configure(s);
  auto fresh = read_devices(s, demo, groups);
  if (auto unknown = unknown_members(groups, fresh, enrolled_); !unknown.empty())
    s.reject("device_groups", unknown_member_error(unknown.front()));
  add_enrolled(fresh, groups);
  const auto administrators = auth_.configure(s, groups, demo);
  groups_ = std::move(groups);
  // What a device reported over its link (OS, address, pin) and a running session stay; name,
  // credential and consent policy come from the new config.
  int added = 0, removed = 0;
  // A removed device, or one whose credential changed, loses its direct link now (a compromised
  // credential must not keep a connection open); it is checked anew when it reconnects. Behind a
  // gateway it can no longer be shadowed, and the gateway's verdict refuses its next hello.
  auto drop_link = [this](const std::string& id, const char* why) {
    if (auto* e = online_.find(id); e && !e->info.gw) e->l->close(why);
  };
  for (auto it = devices_.begin(); it != devices_.end();) {
    auto f = fresh.find(it->first);
    if (f == fresh.end()) {
      drop_link(it->first, "removed from the configuration");
      it = devices_.erase(it);
      ++removed;
      continue;
    }
    if (f->second.credential_sha256 != it->second.credential_sha256) drop_link(it->first, "credential changed");
    it->second.name = f->second.name;
    it->second.credential_sha256 = f->second.credential_sha256;
    it->second.consent = f->second.consent;
    ++it;
  }
  for (auto& [id, r] : fresh)
    if (devices_.emplace(id, r).second) ++added;
  end_logins_later();
  end_sessions_without_rights();
  // And the registry's (after import-config, say): its enrolled devices, then the rights and policies.
  if (registry_)
    env_.tasks.spawn(
        [](ums_service& self) -> awaitable<void> {
          co_await self.learn_all_enrolled(true);
          co_await self.read_rules(true);
        }(*this),
        name_ + "/rights");
  log::info(name_, "reloaded administrators, rights and devices: ", devices_.size(), " devices (", added, " added, ", removed,
            " removed); administrators: ", administrators.empty() ? "unchanged" : administrators);
}

void ums_service::start() {
  // Side effects (certificate generation) wait until every service's config has been validated.
  // The registry first: what the config names may be enrolled devices, and a config error then
  // leaves nothing else touched.
  registry_ = registry::open(cfg_.postgresql, env_.data_dir / "registry.sqlite3");
  for (auto& d : registry_->devices()) enrolled_.emplace(d.id, std::move(d));
  for (const auto& m : unconfirmed_members_)
    if (!enrolled_.contains(m.device)) throw config_error(groups_path_ + ": " + unknown_member_error(m));
  audit_ = std::make_unique<audit_trail>(env_.data_dir, cfg_.audit_rotate_bytes);
  if (auto n = audit_->close_unfinished())
    log::warn(name_, n, " session(s) were cut off by a restart: recorded as ended, \"unknown, server restarted\"");
  recordings_ = std::make_unique<recording_store>(env_.data_dir / "recordings", cfg_.recordings, name_);
  server_ = make_tls_listener(cfg_.listener, env_, env_.shared_dir);
  certs_ = std::make_unique<device_certificates>(*registry_, env_.data_dir / "device-certificates.json");
  if (auto n = certs_->imported()) log::info(name_, n, " device certificate record(s) moved from device-certificates.json into the registry");
  log::info(name_, "registry: ", registry_->where(), ", ", enrolled_.size(), " enrolled device(s)");
  rules_ = registry_->rules();  // (first: the enrolled devices' folders set their policies)
  add_enrolled(devices_, groups_);
  auth_.set_stored(stored_administrators(registry_->administrators()));
  auth_.set_stored_tokens(stored_tokens(registry_->api_tokens()));
  (void)auth_.take_ended();
  log::info(name_, "registry: ", rules_.folders.size(), " folder(s), ", rules_.rules.size(), " right(s) on them, ", rules_.groups.size(),
            " group(s) of administrators");
  server_->add_ws("/up", [this](ws_upgrade& up) { return up_endpoint(up); });
  server_->add_ws("/tunnel/", [this](ws_upgrade& up) { return up::accept_tunnel_end(rv_, up, "/tunnel/", name_); });
  server_->add_ws("/webapp/shadow", [this](ws_upgrade& up) -> awaitable<void> {
    // The browser cannot set headers on a WebSocket: it is authenticated by its login cookie,
    // and the Origin check stops other sites from riding on that cookie.
    auto user = co_await authenticated(up.request(), true, up.peer());
    if (!user) co_return co_await up.reject(http::status::unauthorized, "log in first");
    auto origin = up.request()[http::field::origin];
    if (std::find(cfg_.web_origins.begin(), cfg_.web_origins.end(), origin) == cfg_.web_origins.end())
      co_return co_await up.reject(http::status::forbidden, "origin not allowed");
    auto url = boost::urls::parse_origin_form(up.request().target());
    std::string device, ref;
    bool view_only = false;
    if (url) {
      auto it = url->params().find("device");
      if (it != url->params().end()) device = (*it).value;
      auto vo = url->params().find("view_only");
      view_only = vo != url->params().end() && (*vo).value == "1";
      // The page's own name for this request: it follows the set-up by it (GET /api/v1/sessions?ref=).
      if (auto r = url->params().find("ref"); r != url->params().end()) ref = (*r).value;
    }
    if (device.empty()) co_return co_await up.reject(http::status::bad_request, "name the device: /webapp/shadow?device=ID");
    co_await learn_enrolled(device);  // (enrolled through another node: its folder's grants apply)
    if (auto why = may_shadow(*user, device, view_only)) {
      co_await record_refusal(device, *user, "webapp", *why);
      co_return co_await up.reject(http::status::forbidden, *why);
    }
    if (ref.size() > 64 || ref.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != std::string::npos)
      co_return co_await up.reject(http::status::bad_request, "ref: at most 64 letters, digits and dashes");
    auto d = devices_.find(device);
    auto refused = [&](http::status status, std::string_view reason) -> awaitable<void> {
      co_await record_refusal(device, *user, "webapp", reason);
      co_await up.reject(status, reason);
    };
    auto where = co_await where_to_shadow(device);
    if (!where.refusal.empty()) co_return co_await refused(where.status, where.refusal);
    const auto& elsewhere = where.elsewhere;
    d = devices_.find(device);  // (there: checked just now)
    auto s = new_session(device, *user, "webapp", view_only);
    s->ref = ref;
    if (elsewhere) {
      s->device_node = elsewhere->node;
      log::info(scope(*s), "device ", device, " is linked to node ", elsewhere->node);
    }
    // The flow follows from the device: behind a gateway, or an OS 11 device's legacy port, or OS 12 direct.
    if (where.gw)
      co_await webapp_icg_flow(up, s, *where.gw);
    else if (where.os == "11")
      co_await webapp_legacy_flow(up, s);
    else
      co_await webapp_flow(up, s);
  });
  server_->add_http("/api/", [this](const http_request& req, const std::string& peer) { return rest(req, peer); });
  server_->add_http_with_certificate("/api/v1/device/settings", [this](const http_request& req, const std::string& peer, const peer_certificate& cert) {
    return device_settings_rest(req, peer, cert);
  });
  server_->add_http("/health", [this](const http_request& req, const std::string&) -> awaitable<http_response> {
    co_return health(req);
  });
  server_->add_http("/metrics", [this](const http_request& req, const std::string&) -> awaitable<http_response> {
    if (auto no = metrics::refused(req, metrics_token_sha256_)) {
      if (no->result() == http::status::unauthorized) metrics_.auth_failed("metrics_token");
      co_return *no;
    }
    refresh_metrics();
    co_return metrics::answer(req, metrics_.registry);
  });
  server_->add_http("/novnc/", [this](const http_request& req, const std::string&) -> awaitable<http_response> {
    co_return novnc_file(req, novnc_dir_);
  });
  server_->add_http("/", [this](const http_request& req, const std::string&) -> awaitable<http_response> {
    co_return webapp_file(req, webapp_dir_);
  });
  server_->listen(cfg_.listener.listen, cfg_.listener.port);
  if (cfg_.listener.bound_to(server_->port()) && !web_origins_given_) cfg_.web_origins = cfg_.listener.own_origins();
  start_cluster();  // (once the public URL names the port the kernel chose)
  for (auto& gw : gateways_) {
    // Without a CA file or pin, the gateway is trusted through the installation CA that signed it.
    gw->tls = std::make_unique<tls_client>(make_trust(gw->ca_file.empty() && gw->pin.empty() ? (env_.shared_dir / "ca.pem").string() : gw->ca_file, gw->pin));
    gw->tls->set_proxy(gw->proxy);
    if (!gw->pair_pin.empty()) {
      gw->pair_tls = std::make_unique<tls_client>(make_trust("", gw->pair_pin));
      gw->pair_tls->set_proxy(gw->proxy);
    }
    env_.tasks.spawn(gateway_link(*gw), name_ + "/" + gw->name);
  }
  log::info(name_, "Web App files from ", webapp_dir_, ", noVNC from ", novnc_dir_);
  log::info(name_, "listening on ", cfg_.listener.listen, ":", server_->port(), " (REST /api/v1, UP /up, tunnels /tunnel/, Web App /webapp/shadow)");
}

// 200 while the UMS serves; 503 while it stops, or for a minute after its audit trail could not
// be written (no session can start then), so that a load balancer sends consoles elsewhere and
// tries again. Unauthenticated: it says only that.
http_response ums_service::health(const http_request& req) const {
  const bool audit_failing = audit_failed_at_ != clock::time_point{} && clock::now() - audit_failed_at_ < 60s;
  const std::string status = stopping_ ? "stopping" : audit_failing ? "audit trail cannot be written" : "ok";
  return json_response(req, status == "ok" ? http::status::ok : http::status::service_unavailable,
                       json::serialize(json::object{{"status", status}}));
}

void ums_service::refresh_metrics() {
  std::map<std::map<std::string, std::string>, double> online, active;
  for (auto& [id, e] : online_.entries()) online[{{"connector", e.info.connector}}] += 1;
  for (auto& [id, s] : sessions_)
    if (s->active) active[{{"via", s->via}, {"path", s->gateway.empty() ? "direct" : "icg"}}] += 1;
  metrics_.set_counts(metrics_.devices_online, online);
  metrics_.set_counts(metrics_.sessions_active, active);
  metrics_.rendezvous_pending.Set(static_cast<double>(rv_.size()));
}

void ums_service::session_started(shadow_session& s) {
  s.started = clock::now();
  metrics_.setup_seconds.Observe(std::chrono::duration<double>(s.started - s.created).count());
  session_listed(s, true);
}

void ums_service::stop() {
  stopping_ = true;
  leave_cluster();
  if (server_) server_->stop();
  for (auto& gw : gateways_)
    if (gw->link) gw->link->close("server shutting down");
  for (auto& [id, s] : sessions_) s->stop("server shutting down");
  online_.close_all("server shutting down");
}

std::string ums_service::folder_of(std::string_view device) const {
  auto d = devices_.find(device);
  if (d == devices_.end() || !is_enrolled(d->second)) return {};
  return enrolled_.at(d->first).folder;
}

bool ums_service::may(const std::string& user, folder_right r, std::string_view folder) const {
  const auto& p = auth_.rights_of(user);
  if (p.r == role::admin) return true;
  if (r == folder_right::audit && p.r == role::auditor) return !rules_.denies(user, r, folder);
  return rules_.allows(user, r, folder);
}

// The config's grants and the registry's rights together: a deny in either beats every allow.
access ums_service::access_to(const std::string& user, std::string_view device) const {
  const auto& p = auth_.rights_of(user);
  if (p.r == role::admin) return access::full_control;
  const auto folder = folder_of(device);
  if (p.denies(device, groups_)) return access::none;
  const auto by_rules = rules_.shadow_access(user, folder);
  if (rules_.denies(user, folder_right::view, folder)) return access::none;
  auto a = std::max(p.to(device, groups_), by_rules);
  if (a == access::full_control && rules_.denies(user, folder_right::shadow, folder)) a = access::view_only;
  return a;
}

std::optional<std::string> ums_service::may_shadow(const std::string& user, std::string_view device, bool view_only) const {
  const auto a = access_to(user, device);
  if (a == access::none) return "not allowed to shadow this device";
  if (a == access::view_only && !view_only) return "only view-only sessions are allowed on this device";
  return std::nullopt;
}

bool ums_service::sees(const std::string& user, const std::string& owner, std::string_view device) const {
  const auto& p = auth_.rights_of(user);
  return p.sees_everything() || owner == user || access_to(user, device) != access::none || may(user, folder_right::audit, folder_of(device));
}

up::message ums_service::shadow_request(const shadow_session& s) const {
  up::message req;
  req.type = up::kind::shadow_request;
  req.session_id = s.id;
  req.view_only = s.view_only;
  req.recorded = s.recorded;
  req.user = s.user;
  if (auto d = devices_.find(s.device_id); d != devices_.end()) req.consent = up::to_string(d->second.consent);
  // The device's user answers a little before our own wait for the device ends.
  req.consent_timeout_s = std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(cfg_.consent_timeout).count() - 3);
  return req;
}

std::string ums_service::tunnel_url(const std::string& session_id) const {
  return cfg_.listener.public_url + "/tunnel/" + session_id;
}

session_ptr ums_service::new_session(const std::string& device_id, const std::string& user, std::string via, bool view_only) {
  auto s = std::make_shared<shadow_session>(env_.ex);
  s->id = "s-" + random_id(6);
  s->device_id = device_id;
  s->user = user;
  s->via = std::move(via);
  s->view_only = view_only;
  s->on_stop = [this, id = s->id] { rv_.cancel(id); };
  sessions_[s->id] = s;
  session_listed(*s, true);
  log::session_fields(s->id, device_id, user);
  if (auto d = devices_.find(device_id); d != devices_.end()) {
    d->second.busy_with = s->id;
    s->recorded = d->second.record;
  }
  return s;
}

void register_ums(service_registry& r) {
  r.add("ums", [](service_env& env, settings& s) { return std::make_unique<ums_service>(env, s); });
}

}  // namespace shadowlink::ums
