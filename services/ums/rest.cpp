// The UMS's REST API (/api/v1): login and logout, devices, sessions (create, list, end) and the
// audit trail. Bearer tokens for scripts and the console; the login cookie for the Web App, from
// its own pages only.
#include "framework/log.hpp"
#include "framework/offload.hpp"
#include "framework/tcp_stream.hpp"
#include "services/ums/ums_service.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <simdjson.h>

namespace shadowlink::ums {
namespace json = boost::json;

// A request that rides on the login cookie must come from the UMS's own pages.
bool ums_service::from_own_pages(const http_request& req) const { return same_site_request(req, cfg_.web_origins); }

awaitable<http_response> ums_service::rest(const http_request& req, const std::string& peer) {
  std::string_view target = req.target();
  const bool by_cookie = auth::request_token(req, false).empty() && !auth::request_token(req, true).empty();
  const bool is_login = target == "/api/v1/login" && req.method() == http::verb::post;
  if ((by_cookie || (is_login && !req[http::field::origin].empty())) && !from_own_pages(req)) {
    log::warn(name_, "cross-site request refused: ", req.method_string(), " ", target.substr(0, 64), " from ", peer,
              " (Origin: ", req[http::field::origin].substr(0, 64), ")");
    co_return error_response(req, http::status::forbidden, "cross-site request refused: use the UMS's own pages, or a bearer token");
  }
  if (is_login) co_return co_await login(req, peer);
  bool throttled = false;
  bool* held = &throttled;  // (named: g++ 12 and temporaries in a co_await expression)
  auto user = co_await authenticated(req, true, peer, held);
  if (throttled) {
    const auto wait = std::chrono::ceil<std::chrono::seconds>(unknown_tokens_.retry_after(client_key(peer))).count();
    auto res = error_response(req, http::status::too_many_requests, "too many unknown tokens from this address: try again in " + std::to_string(wait) + " s");
    res.set(http::field::retry_after, std::to_string(std::max<std::int64_t>(1, wait)));
    co_return res;
  }
  if (!user) {
    metrics_.auth_failed(auth::request_token(req, true).empty() ? "no_credential" : "token");
    co_return error_response(req, http::status::unauthorized, "authentication required");
  }
  if (auth_.uses_api_token(req)) audit_->api_token(*user, peer, std::string(req.method_string()) + " " + std::string(target.substr(0, 100)));
  const principal rights = auth_.rights_of(*user);  // (a copy: what follows may wait, and the rules be read again)
  const auto path = target.substr(0, target.find('?'));
  if (path == "/api/v1/audit" && req.method() == http::verb::get) {
    // An audit right on a folder reads the trail of one device in it at a time.
    std::string device;
    if (auto url = boost::urls::parse_origin_form(target))
      if (auto d = url->params().find("device"); d != url->params().end()) device = (*d).value;
    // (An auditor denied the audit of a folder reads one device's at a time, as a right holder does.)
    if (!rights.may_read_audit() || (rights.r == role::auditor && rules_.denies_somewhere(*user, folder_right::audit))) {
      if (device.empty() && (rights.may_read_audit() || rules_.allows_somewhere(*user, folder_right::audit)))
        co_return error_response(req, http::status::forbidden, "name the device (?device=ID): your audit rights are on folders");
      co_await learn_enrolled(device);
      if (device.empty() || !may(*user, folder_right::audit, folder_of(device)))
        co_return error_response(req, http::status::forbidden, "reading the audit trail needs the admin or auditor role, or the audit right on the device's folder");
    }
    co_return co_await read_audit(req);
  }
  if ((path == "/api/v1/recordings" || path.starts_with("/api/v1/recordings/")) && req.method() == http::verb::get) {
    if (!rights.may_read_audit() || (rights.r == role::auditor && rules_.denies_somewhere(*user, folder_right::audit)))
      co_return error_response(req, http::status::forbidden, "recordings need the admin or auditor role (and no audit right denied)");
    co_return co_await recordings_->answer(req);
  }
  if (path == "/api/v1/devices" && req.method() == http::verb::get) {
    co_await learn_all_enrolled();
    const auto elsewhere = co_await cluster_presence();
    co_return list_devices(req, *user, elsewhere);
  }
  if (path == "/api/v1/administrators") co_return co_await administrators_api(req, *user);
  if (path == "/api/v1/api-tokens") co_return co_await api_tokens_api(req, *user);
  if (path == "/api/v1/folders" || path == "/api/v1/rights" || path == "/api/v1/admin-groups") co_return co_await folders_api(req, path, *user);
  if (path == "/api/v1/enrollment-keys" || path.starts_with("/api/v1/enrollment-keys/")) co_return co_await enrollment_keys(req, path, *user);
  if (path == "/api/v1/sessions" && req.method() == http::verb::get) {
    // (The Web App following its own set-up, ?ref=, needs no other node's.)
    std::vector<registry::session_row> elsewhere;
    if (target.find("ref=") == std::string_view::npos) elsewhere = co_await other_nodes_sessions();
    co_return list_sessions(req, *user, elsewhere);
  }
  if (path == "/api/v1/sessions" && req.method() == http::verb::post) co_return co_await create_session(req, *user);
  if ((req.method() == http::verb::delete_ || req.method() == http::verb::put) && path.starts_with("/api/v1/devices/")) {
    // DELETE /api/v1/devices/ID/certificate, PUT /api/v1/devices/ID/folder: the id percent-decoded
    // (the console encodes it).
    std::vector<std::string> segments;
    if (auto url = boost::urls::parse_origin_form(target))
      for (auto seg : url->segments()) segments.push_back(seg);
    if (req.method() == http::verb::put) {
      if (segments.size() == 5 && segments[4] == "folder" && !segments[3].empty()) co_return co_await move_device(req, segments[3], *user);
      co_return error_response(req, http::status::not_found, "no such API endpoint");
    }
    if (segments.size() == 5 && segments[4] == "certificate" && !segments[3].empty())
      co_return co_await revoke_certificate(req, segments[3], *user);
    if (segments.size() == 4 && !segments[3].empty()) co_return co_await remove_enrolled(req, segments[3], *user);
  }
  constexpr std::string_view one = "/api/v1/sessions/";
  if (path.starts_with(one) && req.method() == http::verb::get)
    co_return co_await session_state(req, std::string(path.substr(one.size())), *user);
  if (path.starts_with(one) && req.method() == http::verb::delete_)
    co_return co_await end_session_by(req, path.substr(one.size()), *user);
  if (target == "/api/v1/logout" && req.method() == http::verb::post) {
    // A browser logs out with its cookie: the login is revoked on the server and the cookie cleared.
    const std::string token(auth::request_token(req, true));
    auth_.logout(token);
    std::function<bool()> remove = [this, sha = sha256_hex(token)] {
      registry_->remove_login(sha);
      return true;
    };
    try {
      co_await offload(registry_thread_, std::move(remove));
    } catch (const std::exception& e) {
      log::error(name_, "cannot end a login in the registry (other nodes take it until it is idle): ", e.what());
    }
    auto res = json_response(req, http::status::ok, "{}");
    res.set(http::field::set_cookie, std::string(auth::cookie_name) + "=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0");
    co_return res;
  }
  co_return error_response(req, http::status::not_found, "no such API endpoint");
}

awaitable<http_response> ums_service::login(const http_request& req, const std::string& peer) {
  simdjson::dom::parser p;
  simdjson::dom::element body;
  std::string_view user, password;
  if (p.parse(req.body()).get(body) || body["user"].get(user) || body["password"].get(password))
    co_return error_response(req, http::status::bad_request, "expected JSON {\"user\": ..., \"password\": ...}");
  // (An administrator made a moment ago through another node: this node reads them now.)
  if (!auth_.knows(user)) co_await read_rules(false);
  auto result = co_await auth_.login(std::string(user), std::string(password), client_key(peer));
  if (result.retry_after > clock::duration::zero()) {
    // Not checked, so neither audited nor logged one by one: a guesser must not flood either.
    metrics_.auth_failed("throttled");
    const auto secs = std::chrono::ceil<std::chrono::seconds>(result.retry_after).count();
    auto res = error_response(req, http::status::too_many_requests,
                              "too many failed logins from this address: try again in " + std::to_string(secs) + " s");
    res.set(http::field::retry_after, std::to_string(secs));
    co_return res;
  }
  if (result.busy) co_return error_response(req, http::status::service_unavailable, "too many logins at once, try again");
  const auto& token = result.token;
  audit_->login(user, peer, token.has_value());
  if (!token) {
    log::warn(name_, "failed login for '", user.substr(0, 64), "' from ", peer, " (", result.failures,
              " unforgiven for this user from there; the next attempt is heard after ",
              std::chrono::duration_cast<std::chrono::milliseconds>(result.next_after).count(), " ms)");
    metrics_.auth_failed("password");
    co_return error_response(req, http::status::unauthorized, "wrong user or password");
  }
  // (In the registry: every node takes it, and a restarted one still does.)
  const auto now = unix_now();
  registry::login kept{std::string(user), now + std::chrono::duration_cast<std::chrono::seconds>(auth::login_lifetime).count(), now,
                       auth_.password_fingerprint(user)};
  std::function<bool()> keep = [this, sha = sha256_hex(*token), kept, now] {
    registry_->add_login(sha, kept, now);
    return true;
  };
  try {
    co_await offload(registry_thread_, std::move(keep));
  } catch (const std::exception& e) {
    // (Every node, this one too, asks the registry for a login within seconds: one it lacks would end then.)
    log::error(name_, "cannot keep a login in the registry: ", e.what());
    auth_.logout(*token);
    co_return error_response(req, http::status::service_unavailable, "the login could not be kept (the registry cannot be written): try again");
  }
  const auto role = to_string(auth_.rights_of(user).r);
  auto res = json_response(req, http::status::ok, json::serialize(json::object{{"user", user}, {"role", role}, {"token", *token}}));
  res.set(http::field::set_cookie, std::string(auth::cookie_name) + "=" + *token +
                                       "; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=28800");
  co_return res;
}

// The devices the user may see (an operator: those granted to them), with what they may do there.
http_response ums_service::list_devices(const http_request& req, const std::string& user,
                                        const std::map<std::string, registry::presence, std::less<>>& elsewhere) {
  json::array out;
  auto now = clock::now();
  const auto& rights = auth_.rights_of(user);
  for (auto& [id, d] : devices_) {
    const auto may = access_to(user, id);
    const auto folder = folder_of(id);
    if (may == access::none && !rights.sees_everything() && !this->may(user, folder_right::manage, folder) &&
        !this->may(user, folder_right::audit, folder))
      continue;
    auto* live = online_.find(id);
    auto there = live ? elsewhere.end() : elsewhere.find(id);
    if (there != elsewhere.end() && there->second.node == cfg_.node) there = elsewhere.end();  // (its link here just ended)
    json::object o{{"id", d.id}, {"name", d.name}, {"os", d.os.empty() ? "" : "OS " + d.os}, {"online", live || there != elsewhere.end()},
                   {"shadowed", !d.busy_with.empty()}, {"access", to_string(may)}, {"folder", folder}};
    if (auto* c = certs_->current(id)) o["certificate"] = json::object{{"fingerprint", c->fingerprint}, {"not_after", c->not_after}};
    if (is_enrolled(d)) {
      const auto& e = enrolled_.at(id);
      o["enrolled"] = json::object{{"folder", e.folder}, {"key", e.key_sha256.substr(0, 12)}};
    }
    // What it said about itself (hello and settings); an enrolled device's is kept while it is offline.
    if (const auto& r = d.reported; r.at)
      o["reported"] = json::object{{"name", r.name}, {"os", r.os}, {"agent", r.agent}, {"ip", r.ip}, {"mac", r.mac}, {"peer", r.peer},
                                   {"at", log::utc_iso(std::chrono::system_clock::time_point(std::chrono::seconds(r.at)))}};
    if (live) {
      o["peer"] = live->info.peer;
      o["authenticated_by"] = live->info.fingerprint.empty() ? "credential" : "certificate";
      o["connector"] = live->info.connector;
      o["last_seen_s"] = std::chrono::duration_cast<std::chrono::seconds>(now - d.last_seen).count();
      if (clustered()) o["node"] = cfg_.node;
    } else if (there != elsewhere.end()) {
      o["node"] = there->second.node;  // linked to another node of the cluster
      o["connector"] = there->second.via;
    }
    out.push_back(std::move(o));
  }
  return json_response(req, http::status::ok, json::serialize(json::object{{"devices", out}}));
}

// A session as the REST API shows it. The viewer's ticket (step 4 of a console flow) only to the
// administrator who asked for the session.
json::object ums_service::session_json(const shadow_session& s, bool with_ticket) const {
  const auto now = clock::now();
  auto secs = [](clock::duration d) { return std::chrono::duration_cast<std::chrono::seconds>(d).count(); };
  json::object o{{"id", s.id}, {"device", s.device_id}, {"user", s.user}, {"via", s.via}, {"state", s.state},
                 {"view_only", s.view_only}, {"age_s", secs(now - s.created)}};
  if (!s.gateway.empty()) o["gateway"] = s.gateway;
  // Seconds until the current set-up step gives up (absent once the session is active).
  if (s.deadline != clock::time_point{}) o["deadline_s"] = std::max<std::int64_t>(0, secs(s.deadline - now));
  if (s.active) {
    o["bytes_to_viewer"] = s.active->counters().bytes_ba;
    o["bytes_from_viewer"] = s.active->counters().bytes_ab;
  }
  if (s.ended) {
    o["end_reason"] = s.end_reason;
    o["bytes_to_viewer"] = s.bytes_to_viewer;
    o["bytes_from_viewer"] = s.bytes_from_viewer;
  }
  if (with_ticket && !s.viewer_token.empty()) {
    o["tunnel_url"] = s.tunnel_url;
    o["token"] = s.viewer_token;
  }
  // OS 11: the console connects in to the device, once the device has said yes (the password is
  // the UMS's own in the Web App flow).
  if (with_ticket && !s.password.empty() && s.via == "console" && s.state == "waiting for the viewer") {
    o["device_address"] = s.device_address;
    o["device_pin"] = s.device_pin;
    o["password"] = s.password;
  }
  return o;
}

namespace {
constexpr std::size_t recent_max = 1000;
constexpr auto recent_for = 15min;
}  // namespace

void ums_service::remember_ended(const shadow_session& s) {
  const auto now = clock::now();
  while (!recent_.empty() && (recent_.size() >= recent_max || now - recent_.front().at > recent_for)) recent_.pop_front();
  recent_.push_back({now, s.id, s.user, s.ref, s.device_id, session_json(s, false)});
}

// GET /api/v1/sessions: the running sessions. With ?ref=R: the sessions the caller started with
// that reference (the Web App's), including those that ended in the last minutes.
http_response ums_service::list_sessions(const http_request& req, const std::string& user, const std::vector<registry::session_row>& elsewhere) {
  auto url = boost::urls::parse_origin_form(req.target());
  std::optional<std::string> ref;
  if (url)
    if (auto it = url->params().find("ref"); it != url->params().end()) ref = (*it).value;
  json::array out;
  for (auto& [id, s] : sessions_)
    if (ref ? s->ref == *ref && s->user == user : sees(user, *s)) {
      out.push_back(session_json(*s, false));
      if (clustered()) out.back().as_object()["node"] = cfg_.node;
    }
  // The other nodes' sessions, as their rows say (a Web App's own set-up, `ref`, is always here).
  const auto now = cluster_now();
  for (const auto& r : elsewhere)
    if (!ref && sees(user, r.user, r.device))
      out.push_back(json::object{{"id", r.id}, {"device", r.device}, {"user", r.user}, {"via", r.via}, {"state", r.state},
                                 {"view_only", r.view_only}, {"age_s", std::max<std::int64_t>(0, now - r.created)}, {"node", r.node}});
  if (ref && !ref->empty())
    for (auto& r : recent_)
      if (r.ref == *ref && r.user == user) out.push_back(r.view);
  return json_response(req, http::status::ok, json::serialize(json::object{{"sessions", out}}));
}

// GET /api/v1/sessions/ID: where the session's set-up stands, or how it ended. With
// ?after=STATE (the state the client saw last) the answer waits until the session has moved on,
// at most wait_s seconds (10 by default, 0 to 30): a console follows each step the moment it
// happens, with one request per step instead of polling.
awaitable<http_response> ums_service::session_state(const http_request& req, std::string id, std::string user) {
  std::string after;
  int wait_s = 10;
  if (auto url = boost::urls::parse_origin_form(req.target())) {
    const auto params = url->params();
    if (auto p = params.find("after"); p != params.end()) after = (*p).value;
    if (auto p = params.find("wait_s"); p != params.end()) {
      const std::string v = (*p).value;
      if (v.empty() || v.size() > 2 || v.find_first_not_of("0123456789") != std::string::npos || std::stoi(v) > 30)
        co_return error_response(req, http::status::bad_request, "wait_s: a whole number of seconds from 0 to 30");
      wait_s = std::stoi(v);
    }
  }
  if (auto it = sessions_.find(id); !after.empty() && it != sessions_.end() && sees(user, *it->second) && it->second->state == after) {
    using namespace net::experimental::awaitable_operators;
    auto s = it->second;  // alive across the wait
    net::steady_timer limit(co_await net::this_coro::executor, std::chrono::seconds(wait_s));
    while (s->state == after) {
      auto r = co_await (s->changed.async_wait(use_tuple) || limit.async_wait(use_tuple));
      if (r.index() == 1) break;
    }
  }
  if (auto it = sessions_.find(id); it != sessions_.end() && sees(user, *it->second))
    co_return json_response(req, http::status::ok, json::serialize(session_json(*it->second, it->second->user == user)));
  for (auto r = recent_.rbegin(); r != recent_.rend(); ++r)
    if (r->id == id && sees(user, r->user, r->device))
      co_return json_response(req, http::status::ok, json::serialize(r->view));
  co_return error_response(req, http::status::not_found, "no such session (ended sessions are kept for 15 minutes)");
}

awaitable<http_response> ums_service::end_session_by(const http_request& req, std::string_view id, const std::string& user) {
  auto it = sessions_.find(id);
  if (it == sessions_.end() && clustered()) co_return co_await end_other_nodes_session(req, std::string(id), user);
  if (it == sessions_.end() || !sees(user, *it->second)) co_return error_response(req, http::status::not_found, "no such session");
  // Admins end any session, operators their own, auditors none.
  const auto r = auth_.rights_of(user).r;
  if (r == role::auditor || (r == role::operator_ && it->second->user != user))
    co_return error_response(req, http::status::forbidden, "an operator may end only their own sessions, an auditor none");
  auto s = it->second;  // alive across the wait for the disk
  try {
    json::object by{{"by", user}};
    co_await audit_->session("session_end_requested", *s, std::move(by));
  } catch (const system_error& e) {
    // Ending a session is never refused for the audit trail's sake; the failure is logged.
    log::error(name_, "audit trail: cannot record that ", user, " ended ", s->id, ": ", e.what());
  }
  log::info(name_, "session ", s->id, " ended by ", user);
  s->stop("ended by " + user);
  http_response res{http::status::no_content, req.version()};
  res.keep_alive(req.keep_alive());
  co_return res;
}

// A session another node of the cluster runs: the rights are checked here, the session is ended
// there (and recorded there, with who asked and where).
awaitable<http_response> ums_service::end_other_nodes_session(const http_request& req, std::string id, std::string user) {
  const auto elsewhere = co_await other_nodes_sessions();
  auto r = std::find_if(elsewhere.begin(), elsewhere.end(), [&id](const registry::session_row& row) { return row.id == id; });
  if (r == elsewhere.end()) co_return error_response(req, http::status::not_found, "no such session");
  co_await learn_enrolled(r->device);  // (its folder's grants apply)
  if (!sees(user, r->user, r->device)) co_return error_response(req, http::status::not_found, "no such session");
  const auto role_of = auth_.rights_of(user).r;
  if (role_of == role::auditor || (role_of == role::operator_ && r->user != user))
    co_return error_response(req, http::status::forbidden, "an operator may end only their own sessions, an auditor none");
  up::message stop;
  stop.type = up::kind::end_session;
  stop.session_id = id;
  try {
    co_await send_to_node(r->node, "stop", r->device, stop, user);
  } catch (const std::exception& e) {
    co_return error_response(req, http::status::service_unavailable, "cannot reach node " + r->node + ", the session's: " + e.what());
  }
  log::info(name_, "session ", id, " at node ", r->node, ": asked to end it for ", user);
  // (Accepted: the session's node ends it; its state is in the list within a second.)
  co_return json_response(req, http::status::accepted, json::serialize(json::object{{"session", id}, {"node", r->node}}));
}

// GET /api/v1/audit?device=ID&user=NAME&since=ISO&until=ISO&limit=N: the latest N matching
// records (default 1000), oldest first.
awaitable<http_response> ums_service::read_audit(const http_request& req) {
  auto url = boost::urls::parse_origin_form(req.target());
  if (!url) co_return error_response(req, http::status::bad_request, "malformed query");
  audit_filter f;
  std::set<std::string, std::less<>> given;
  for (auto p : url->params()) {
    // (Each once: the rights were checked for the first device named.)
    if (!given.insert(p.key).second) co_return error_response(req, http::status::bad_request, "each filter at most once");
    if (p.key == "device") f.device = p.value;
    else if (p.key == "user") f.user = p.value;
    else if (p.key == "since") f.since = p.value;
    else if (p.key == "until") f.until = p.value;
    else if (p.key == "limit") {
      try {
        f.limit = std::stoul(p.value);
      } catch (const std::exception&) {
        f.limit = 0;
      }
      if (f.limit < 1 || f.limit > 100000) co_return error_response(req, http::status::bad_request, "limit must be 1 to 100000");
    } else {
      co_return error_response(req, http::status::bad_request, "unknown filter '" + std::string(p.key).substr(0, 32) + "' (device, user, since, until, limit)");
    }
  }
  json::array out;
  if (clustered()) {
    // Every node's records (each with its node), from the registry; its own if the database fails.
    std::function<std::vector<std::string>()> read = [this, &f] { return registry_->audit(f.device, f.user, f.since, f.until, f.limit); };
    try {
      for (auto& line : co_await offload(registry_thread_, std::move(read))) out.push_back(json::parse(line));
      co_return json_response(req, http::status::ok, json::serialize(json::object{{"records", std::move(out)}}));
    } catch (const std::exception& e) {
      log::warn(name_, "cluster: cannot read the audit trail from the database (answering with this node's): ", e.what());
      out.clear();
    }
  }
  for (auto& r : co_await audit_->query(std::move(f))) out.push_back(std::move(r));
  json::object answer{{"records", std::move(out)}};
  if (clustered()) answer["partial"] = true;  // (this node's records only)
  co_return json_response(req, http::status::ok, json::serialize(answer));
}

awaitable<http_response> ums_service::create_session(const http_request& req, const std::string& user) {
  simdjson::dom::parser p;
  simdjson::dom::element body;
  std::string_view device;
  bool view_only = false, wait = true;
  if (p.parse(req.body()).get(body) || body["device"].get(device))
    co_return error_response(req, http::status::bad_request, "expected JSON {\"device\": ID, \"view_only\": false, \"wait\": true}");
  if (auto e = body["view_only"].get(view_only); e && e != simdjson::NO_SUCH_FIELD)
    co_return error_response(req, http::status::bad_request, "view_only must be true or false");
  if (auto e = body["wait"].get(wait); e && e != simdjson::NO_SUCH_FIELD)
    co_return error_response(req, http::status::bad_request, "wait must be true or false");
  const std::string device_id(device);
  co_await learn_enrolled(device_id);
  auto d = devices_.find(device);
  auto refused = [&](http::status status, std::string_view reason) -> awaitable<http_response> {
    co_await record_refusal(device_id, user, "console", reason);
    co_return error_response(req, status, reason);
  };
  // Rights first: an operator learns nothing about devices outside their grants.
  if (auto why = may_shadow(user, device, view_only)) co_return co_await refused(http::status::forbidden, *why);
  auto where = co_await where_to_shadow(device_id);
  if (!where.refusal.empty()) co_return co_await refused(where.status, where.refusal);
  const auto& elsewhere = where.elsewhere;
  d = devices_.find(device_id);  // (there: checked just now)
  auto s = new_session(device_id, user, "console", view_only);
  if (elsewhere) {
    s->device_node = elsewhere->node;
    log::info(scope(*s), "device ", device_id, " is linked to node ", elsewhere->node);
  }
  // The flow follows from the device: behind a gateway, or an OS 11 device's legacy port, or OS 12
  // direct. Recordings are made at the UMS: a recorded device's session passes it on every path.
  const bool recorded = d->second.record;
  if (where.gw)
    env_.tasks.spawn(recorded ? console_icg_recorded_flow(s, *where.gw) : console_icg_flow(s, *where.gw), scope(*s));
  else if (where.os == "11")
    env_.tasks.spawn(recorded ? console_legacy_recorded_flow(s) : console_legacy_flow(s), scope(*s));
  else
    env_.tasks.spawn(console_flow(s), scope(*s));
  // Without waiting: the session's id at once; its state (GET /api/v1/sessions/ID) tells each
  // set-up step, and carries the viewer's ticket at step 4. In a cluster behind a load balancer
  // only this node knows the session: `node_url` is where to follow it.
  if (!wait) {
    json::object o{{"session_id", s->id}, {"state_url", "/api/v1/sessions/" + s->id}};
    if (clustered()) o["node_url"] = "https://" + cfg_.listener.public_url.substr(std::string_view("wss://").size());
    co_return json_response(req, http::status::accepted, json::serialize(o));
  }
  // Step 4 of the console flow answers this request.
  try {
    auto a = co_await s->answer.wait(clock::now() + cfg_.consent_timeout + cfg_.setup_timeout + 5s);
    co_return json_response(req, static_cast<http::status>(a.status), a.body);
  } catch (const system_error&) {
    s->stop("no answer in time");
    co_return error_response(req, http::status::gateway_timeout, "the session could not be set up in time");
  }
}

}  // namespace shadowlink::ums
