// Administrators made at run time, kept in the registry beside the config's, and logins that hold
// at every node (registry.hpp). REST (admins change, admins and auditors read):
//   GET /api/v1/administrators                              every administrator, with where it is kept
//   POST /api/v1/administrators {"name", "role", "password"}  a new one (the password: 12 characters or more)
//   PUT /api/v1/administrators {"name", "password"}         a new password (their logins end)
//   DELETE /api/v1/administrators?name=N                    (their logins end; the config's stay)
#include "framework/log.hpp"
#include "framework/offload.hpp"
#include "framework/tcp_stream.hpp"
#include "framework/token.hpp"
#include "services/ums/rest_helpers.hpp"
#include "services/ums/ums_service.hpp"

#include <boost/json.hpp>

#include <functional>

namespace shadowlink::ums {
namespace json = boost::json;

std::vector<auth::stored_administrator> stored_administrators(const std::vector<registry::administrator>& rows) {
  std::vector<auth::stored_administrator> out;
  for (const auto& a : rows)
    if (auto r = parse_role(a.role)) out.push_back({a.name, *r, a.password_hash});
  return out;
}

awaitable<std::optional<std::string>> ums_service::authenticated(const http_request& req, bool allow_cookie, const std::string& peer, bool* throttled) {
  const std::string token(auth::request_token(req, allow_cookie));
  if (token.empty()) co_return std::nullopt;
  auto seen = auth_.look_up(token);
  if (!seen.check || !registry_) co_return seen.user;
  const bool unknown_here = seen.known.empty() && seen.last_used == 0;
  const auto address = client_key(peer);
  if (unknown_here && unknown_tokens_.count(address) > unknown_tokens_allowed && unknown_tokens_.retry_after(address) > clock::duration::zero()) {
    metrics_.auth_failed("token_throttled");
    if (throttled) *throttled = true;
    co_return std::nullopt;
  }
  std::function<std::optional<registry::login>()> check = [this, sha = sha256_hex(token), used = seen.last_used, idle = auth_.idle_limit_s()] {
    return registry_->check_login(sha, used, unix_now(), idle);
  };
  std::optional<registry::login> l;
  try {
    l = co_await offload(registry_thread_, std::move(check));
  } catch (const std::exception& e) {
    // A login this node knows stays usable while the database is away; others wait for it.
    log::warn(name_, "cannot check a login with the registry: ", e.what());
    if (!seen.known.empty()) co_return seen.known;
    co_return std::nullopt;
  }
  if (l && (!auth_.knows(l->user) || auth_.password_fingerprint(l->user) != l->password))
    co_await read_rules(false);  // (made a moment ago through another node, or with a password set there)
  if (!l || !auth_.knows(l->user) || auth_.password_fingerprint(l->user) != l->password) {
    auth_.forget(token);
    if (!l && unknown_here) unknown_tokens_.failed(address);
    co_return std::nullopt;
  }
  auth_.adopt(token, l->user, l->expires, l->last_used);
  co_return l->user;
}

awaitable<void> ums_service::end_logins(std::vector<std::string> users) {
  std::function<bool()> remove = [this, users] {
    registry_->remove_logins_of(users);
    return true;
  };
  try {
    co_await offload(registry_thread_, std::move(remove));
  } catch (const std::exception& e) {
    log::error(name_, "cannot end the logins of removed administrators in the registry (they end at their idle limit): ", e.what());
  }
}

void ums_service::end_logins_later() {
  if (auto ended = auth_.take_ended(); !ended.empty() && registry_) env_.tasks.spawn(end_logins(std::move(ended)), name_ + "/logins");
}

namespace {

std::optional<std::string> name_error(std::string_view name) {
  if (auto why = subject_error("user:" + std::string(name))) return "name: " + std::string(std::string_view(*why).substr(std::string_view("a subject's ").size()));
  return std::nullopt;
}

}  // namespace

awaitable<http_response> ums_service::administrators_api(const http_request& req, const std::string& user) {
  if (!registry_) co_return error_response(req, http::status::service_unavailable, "the registry is not open");
  co_await read_rules(false);
  const principal me = auth_.rights_of(user);  // (a copy: a later read of the rules replaces the table)
  const auto method = req.method();
  if (method == http::verb::get) {
    if (!me.sees_everything()) co_return error_response(req, http::status::forbidden, "the list of administrators is for admins and auditors");
    std::function<std::vector<registry::administrator>()> read = [this] { return registry_->administrators(); };
    const auto stored = co_await offload(registry_thread_, std::move(read));
    json::array out;
    for (const auto& name : auth_.names())
      out.push_back(json::object{{"name", name}, {"role", to_string(auth_.rights_of(name).r)}, {"kept_in", auth_.configured(name) ? "config" : "registry"}});
    for (const auto& a : stored)
      if (auth_.configured(a.name)) out.push_back(json::object{{"name", a.name}, {"role", a.role}, {"kept_in", "registry, overridden by the config"}});
    co_return json_response(req, http::status::ok, json::serialize(json::object{{"administrators", std::move(out)}}));
  }
  if (me.r != role::admin) co_return error_response(req, http::status::forbidden, "administrators are made and removed by admins only");
  std::string name, role_name, password;
  if (method == http::verb::delete_) {
    if (auto q = query_of(req); q.contains("name")) name = q.at("name");
  } else if (method == http::verb::post || method == http::verb::put) {
    const bool add = method == http::verb::post;
    auto f = add ? fields_of(req, {"name", "password", "role"}) : fields_of(req, {"name", "password"});
    if (!f)
      co_return error_response(req, http::status::bad_request,
                               add ? "expected JSON {\"name\": N, \"role\": \"admin\"|\"operator\"|\"auditor\", \"password\": P}"
                                   : "expected JSON {\"name\": N, \"password\": P}");
    name = (*f)[0];
    password = (*f)[1];
    if (add) role_name = (*f)[2];
  } else {
    co_return error_response(req, http::status::method_not_allowed, "GET, POST, PUT or DELETE /api/v1/administrators");
  }
  if (auto why = name_error(name)) co_return error_response(req, http::status::bad_request, *why);
  if (auth_.configured(name)) co_return error_response(req, http::status::conflict, name + " is in the config file: change it there");
  if (method != http::verb::delete_ && (password.size() < 12 || password.size() > 1024))
    co_return error_response(req, http::status::bad_request, "a password has 12 to 1024 characters");
  if (method == http::verb::post && !parse_role(role_name)) co_return error_response(req, http::status::bad_request, "role: admin, operator or auditor");
  if (method == http::verb::delete_ && name == user) co_return error_response(req, http::status::conflict, "an administrator does not remove themselves");
  std::string hash;
  if (method != http::verb::delete_) {
    const auto made = co_await auth_.hash(password);
    hash = to_string(made);
  }
  std::function<std::optional<std::string>()> write = [this, method, name, role_name, hash, user]() -> std::optional<std::string> {
    if (method == http::verb::post) return registry_->add_administrator({name, role_name, hash, user, unix_now()});
    if (method == http::verb::put ? registry_->set_password(name, hash) : registry_->remove_administrator(name)) return std::nullopt;
    return "no administrator " + name + " in the registry";
  };
  std::optional<std::string> why;
  try {
    why = co_await offload(registry_thread_, std::move(write));
  } catch (const std::exception& e) {
    log::error(name_, "registry: ", e.what());
    co_return error_response(req, http::status::internal_server_error, "the registry could not be written");
  }
  if (why) co_return error_response(req, method == http::verb::post ? http::status::conflict : http::status::not_found, *why);
  co_await read_rules(true);
  const char* event = method == http::verb::post ? "administrator_created" : method == http::verb::put ? "administrator_password_set" : "administrator_removed";
  audit_->registry_change({{"event", event}, {"administrator", name}, {"role", role_name}, {"user", user}});
  log::info(name_, "administrator ", name, method == http::verb::post ? " (" + role_name + ") made" : method == http::verb::put ? ": new password set" : " removed",
            " by ", user);
  if (method != http::verb::post) co_return no_content(req);
  co_return json_response(req, http::status::created, json::serialize(json::object{{"name", name}, {"role", role_name}}));
}

}  // namespace shadowlink::ums
