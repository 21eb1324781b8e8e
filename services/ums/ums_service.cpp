#include "services/ums/ums_service.hpp"

#include "framework/http_proxy.hpp"
#include "framework/log.hpp"
#include "framework/token.hpp"
#include "protocol/tunnel_endpoint.hpp"
#include "services/ums/webapp.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

namespace shadowlink::ums {
namespace json = boost::json;

ums_service::ums_service(service_env& env, settings& s)
    : env_(env), name_(env.name), rv_(env.ex) {
  cfg_.listener = tls_listener_settings::read(s, 8443, "public_url");
  std::vector<std::string> origins;
  for (auto& n : cfg_.listener.names) origins.push_back("https://" + n + ":" + std::to_string(cfg_.listener.port));
  cfg_.web_origins = s.strings("web_origins", origins);
  cfg_.consent_timeout = std::chrono::seconds(s.integer("consent_timeout_s", 60, 1, 600));
  cfg_.setup_timeout = std::chrono::seconds(s.integer("setup_timeout_s", 20, 1, 300));
  cfg_.viewer_timeout = std::chrono::seconds(s.integer("viewer_timeout_s", 60, 1, 3600));
  cfg_.idle_timeout = std::chrono::seconds(s.integer("idle_timeout_s", 600, 1, 86400));
  auth_.configure(s);
  for (auto& d : s.objects("devices")) {
    device_record r;
    r.id = d.required_str("id");
    r.name = d.str("name", r.id);
    r.credential = d.required_str("credential");
    d.finish();
    if (!devices_.emplace(r.id, r).second) d.reject("id", "duplicate device id '" + r.id + "'");
  }
  for (auto& g : s.objects("gateways")) {
    auto gw = std::make_unique<gateway>();
    gw->name = g.required_str("name");
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
    gw->credential = g.required_str("credential");
    gw->ca_file = g.str("ca_file", "");
    gw->pin = g.str("pin", "");
    gw->proxy = g.str("proxy", "");
    if (auto why = check_proxy(gw->proxy); !gw->proxy.empty() && !why.empty()) g.reject("proxy", why);
    if (!gw->pin.empty() && normalize_fingerprint(gw->pin).empty()) g.reject("pin", "expected a SHA-256 fingerprint (64 hex digits)");
    g.finish();
    gateways_.push_back(std::move(gw));
  }
  novnc_dir_ = s.str("novnc_dir", "/usr/share/novnc");
  webapp_dir_ = s.str("webapp_dir", SHADOWLINK_WEBAPP_DIR);
  online_.on_removed = [this](const std::string& id, const up::link_registry<live_link>::entry& gone) { device_gone(id, gone.info); };
}

void ums_service::start() {
  // Side effects (certificate generation) wait until every service's config has been validated.
  server_ = make_tls_listener(cfg_.listener, env_, env_.shared_dir);
  server_->add_ws("/up", [this](ws_upgrade& up) { return up_endpoint(up); });
  server_->add_ws("/tunnel/", [this](ws_upgrade& up) { return up::accept_tunnel_end(rv_, up, "/tunnel/", name_); });
  server_->add_ws("/webapp/shadow", [this](ws_upgrade& up) -> awaitable<void> {
    // The browser cannot set headers on a WebSocket: it is authenticated by its login cookie,
    // and the Origin check stops other sites from riding on that cookie.
    auto user = auth_.user_of(up.request(), true);
    if (!user) co_return co_await up.reject(http::status::unauthorized, "log in first");
    auto origin = up.request()[http::field::origin];
    if (std::find(cfg_.web_origins.begin(), cfg_.web_origins.end(), origin) == cfg_.web_origins.end())
      co_return co_await up.reject(http::status::forbidden, "origin not allowed");
    auto url = boost::urls::parse_origin_form(up.request().target());
    std::string device;
    bool view_only = false;
    if (url) {
      auto it = url->params().find("device");
      if (it != url->params().end()) device = (*it).value;
      auto vo = url->params().find("view_only");
      view_only = vo != url->params().end() && (*vo).value == "1";
    }
    if (device.empty()) co_return co_await up.reject(http::status::bad_request, "name the device: /webapp/shadow?device=ID");
    auto d = devices_.find(device);
    if (d == devices_.end()) co_return co_await up.reject(http::status::not_found, "unknown device");
    if (!online_.find(device)) co_return co_await up.reject(http::status::conflict, "device is offline");
    if (!d->second.busy_with.empty()) co_return co_await up.reject(http::status::conflict, "device is already being shadowed");
    if (auto* gw = gateway_of(d->second))
      co_await webapp_icg_flow(up, new_session(device, *user, "webapp", view_only), *gw);
    else
      co_await webapp_flow(up, new_session(device, *user, "webapp", view_only));
  });
  server_->add_http("/api/", [this](const http_request& req, const std::string& peer) { return rest(req, peer); });
  server_->add_http("/novnc/", [this](const http_request& req, const std::string&) -> awaitable<http_response> {
    co_return novnc_file(req, novnc_dir_);
  });
  server_->add_http("/", [this](const http_request& req, const std::string&) -> awaitable<http_response> {
    co_return webapp_file(req, webapp_dir_);
  });
  server_->listen(cfg_.listener.listen, cfg_.listener.port);
  for (auto& gw : gateways_) {
    // Without a CA file or pin, the gateway is trusted through the installation CA that signed it.
    gw->tls = std::make_unique<tls_client>(make_trust(gw->ca_file.empty() && gw->pin.empty() ? (env_.shared_dir / "ca.pem").string() : gw->ca_file, gw->pin));
    gw->tls->set_proxy(gw->proxy);
    env_.tasks.spawn(gateway_link(*gw), name_ + "/" + gw->name);
  }
  log::info(name_, "listening on ", cfg_.listener.listen, ":", server_->port(), " (REST /api/v1, UP /up, tunnels /tunnel/, Web App /webapp/shadow)");
}

void ums_service::stop() {
  stopping_ = true;
  if (server_) server_->stop();
  for (auto& gw : gateways_)
    if (gw->link) gw->link->close("server shutting down");
  for (auto& [id, s] : sessions_) s->stop("server shutting down");
  online_.close_all("server shutting down");
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
  devices_[device_id].busy_with = s->id;
  return s;
}

// ---- REST ------------------------------------------------------------------------------------

// Browsers attach the login cookie to requests that other sites make them send (cross-site request
// forgery): a request that rides on the cookie must come from the UMS's own pages. Browsers send
// Origin with every cross-origin request and every POST and DELETE; a same-origin GET may come
// without it, and then Sec-Fetch-Site (sent by current browsers) must not say otherwise.
bool ums_service::from_own_pages(const http_request& req) const {
  auto origin = req[http::field::origin];
  if (!origin.empty()) return std::find(cfg_.web_origins.begin(), cfg_.web_origins.end(), origin) != cfg_.web_origins.end();
  if (req.method() != http::verb::get && req.method() != http::verb::head) return false;
  auto site = req["Sec-Fetch-Site"];
  return site.empty() || site == "same-origin" || site == "none";
}

awaitable<http_response> ums_service::rest(const http_request& req, const std::string& peer) {
  std::string_view target = req.target();
  const bool by_cookie = auth::request_token(req, false).empty() && !auth::request_token(req, true).empty();
  const bool login = target == "/api/v1/login" && req.method() == http::verb::post;
  if ((by_cookie || (login && !req[http::field::origin].empty())) && !from_own_pages(req)) {
    log::warn(name_, "cross-site request refused: ", req.method_string(), " ", target.substr(0, 64), " from ", peer,
              " (Origin: ", req[http::field::origin].substr(0, 64), ")");
    co_return error_response(req, http::status::forbidden, "cross-site request refused: use the UMS's own pages, or a bearer token");
  }
  if (login) {
    simdjson::dom::parser p;
    simdjson::dom::element body;
    std::string_view user, password;
    if (p.parse(req.body()).get(body) || body["user"].get(user) || body["password"].get(password))
      co_return error_response(req, http::status::bad_request, "expected JSON {\"user\": ..., \"password\": ...}");
    auto token = auth_.login(user, password);
    if (!token) {
      log::warn(name_, "failed login for '", user.substr(0, 64), "' from ", peer);
      co_return error_response(req, http::status::unauthorized, "wrong user or password");
    }
    auto res = json_response(req, http::status::ok, json::serialize(json::object{{"user", user}, {"token", *token}}));
    res.set(http::field::set_cookie, std::string(auth::cookie_name) + "=" + *token +
                                         "; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=28800");
    co_return res;
  }
  auto user = auth_.user_of(req, true);
  if (!user) co_return error_response(req, http::status::unauthorized, "authentication required");
  if (target == "/api/v1/devices" && req.method() == http::verb::get) co_return list_devices(req);
  if (target == "/api/v1/sessions" && req.method() == http::verb::get) co_return list_sessions(req);
  if (target == "/api/v1/sessions" && req.method() == http::verb::post) co_return co_await create_session(req, *user);
  constexpr std::string_view one = "/api/v1/sessions/";
  if (target.substr(0, one.size()) == one && req.method() == http::verb::delete_) {
    auto it = sessions_.find(target.substr(one.size()));
    if (it == sessions_.end()) co_return error_response(req, http::status::not_found, "no such session");
    log::info(name_, "session ", it->first, " ended by ", *user);
    it->second->stop("ended by " + *user);
    http_response res{http::status::no_content, req.version()};
    res.keep_alive(req.keep_alive());
    co_return res;
  }
  if (target == "/api/v1/logout" && req.method() == http::verb::post) {
    // A browser logs out with its cookie: the login is revoked on the server and the cookie cleared.
    auth_.logout(auth::request_token(req, true));
    auto res = json_response(req, http::status::ok, "{}");
    res.set(http::field::set_cookie, std::string(auth::cookie_name) + "=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0");
    co_return res;
  }
  co_return error_response(req, http::status::not_found, "no such API endpoint");
}

http_response ums_service::list_devices(const http_request& req) {
  json::array out;
  auto now = clock::now();
  for (auto& [id, d] : devices_) {
    auto* live = online_.find(id);
    json::object o{{"id", d.id}, {"name", d.name}, {"online", live != nullptr}, {"shadowed", !d.busy_with.empty()}};
    if (live) {
      o["peer"] = live->info.peer;
      o["connector"] = live->info.connector;
      o["last_seen_s"] = std::chrono::duration_cast<std::chrono::seconds>(now - d.last_seen).count();
    }
    out.push_back(std::move(o));
  }
  return json_response(req, http::status::ok, json::serialize(json::object{{"devices", out}}));
}

http_response ums_service::list_sessions(const http_request& req) {
  json::array out;
  for (auto& [id, s] : sessions_) {
    json::object o{{"id", s->id}, {"device", s->device_id}, {"user", s->user}, {"via", s->via}, {"state", s->state},
                   {"view_only", s->view_only},
                   {"age_s", std::chrono::duration_cast<std::chrono::seconds>(clock::now() - s->created).count()}};
    if (!s->gateway.empty()) o["gateway"] = s->gateway;
    if (s->active) {
      o["bytes_to_viewer"] = s->active->counters().bytes_ba;
      o["bytes_from_viewer"] = s->active->counters().bytes_ab;
    }
    out.push_back(std::move(o));
  }
  return json_response(req, http::status::ok, json::serialize(json::object{{"sessions", out}}));
}

awaitable<http_response> ums_service::create_session(const http_request& req, const std::string& user) {
  simdjson::dom::parser p;
  simdjson::dom::element body;
  std::string_view device;
  bool view_only = false;
  if (p.parse(req.body()).get(body) || body["device"].get(device))
    co_return error_response(req, http::status::bad_request, "expected JSON {\"device\": ID, \"view_only\": false}");
  if (auto e = body["view_only"].get(view_only); e && e != simdjson::NO_SUCH_FIELD)
    co_return error_response(req, http::status::bad_request, "view_only must be true or false");
  auto d = devices_.find(device);
  if (d == devices_.end()) co_return error_response(req, http::status::not_found, "unknown device");
  if (!online_.find(device)) co_return error_response(req, http::status::conflict, "device is offline");
  if (!d->second.busy_with.empty()) co_return error_response(req, http::status::conflict, "device is already being shadowed");
  auto s = new_session(std::string(device), user, "console", view_only);
  if (auto* gw = gateway_of(d->second))
    env_.tasks.spawn(console_icg_flow(s, *gw), scope(*s));
  else
    env_.tasks.spawn(console_flow(s), scope(*s));
  // Step 4 of the console flow answers this request.
  try {
    auto a = co_await s->answer.wait(clock::now() + cfg_.consent_timeout + cfg_.setup_timeout + 5s);
    co_return json_response(req, static_cast<http::status>(a.status), a.body);
  } catch (const system_error&) {
    s->stop("no answer in time");
    co_return error_response(req, http::status::gateway_timeout, "the session could not be set up in time");
  }
}

void register_ums(service_registry& r) {
  r.add("ums", [](service_env& env, settings& s) { return std::make_unique<ums_service>(env, s); });
}

}  // namespace shadowlink::ums
