// API tokens for automation kept in the registry (until then only in the config's "api_tokens"):
//   GET /api/v1/api-tokens                          (admins and auditors; never the tokens)
//   POST /api/v1/api-tokens {"user": NAME, "valid_for_s": N}   the token, shown this once (admins)
//   DELETE /api/v1/api-tokens?id=ID                 (admins)
// A token acts as the administrator it names, with their role and rights; it ends with them, at
// its expiry, or when deleted, on every node within a second or two (read with the rules).
#include "framework/offload.hpp"
#include "framework/token.hpp"
#include "services/ums/rest_helpers.hpp"
#include "services/ums/ums_service.hpp"

#include <boost/json.hpp>

#include <functional>

namespace shadowlink::ums {
namespace json = boost::json;

namespace {
constexpr std::int64_t default_validity_s = 365 * 24 * 3600;
constexpr std::int64_t max_validity_s = 5 * 365 * 24 * 3600;
}  // namespace

std::map<std::string, auth::stored_token, std::less<>> stored_tokens(const std::vector<registry::api_token>& rows) {
  std::map<std::string, auth::stored_token, std::less<>> out;
  for (const auto& t : rows) out.emplace(t.sha256, auth::stored_token{t.user, t.expires_at});
  return out;
}

awaitable<http_response> ums_service::api_tokens_api(const http_request& req, const std::string& user) {
  if (!registry_) co_return error_response(req, http::status::service_unavailable, "the registry is not open");
  co_await read_rules(false);
  const principal me = auth_.rights_of(user);  // (a copy: a later read of the rules replaces the table)
  const auto method = req.method();
  try {
    if (method == http::verb::get) {
      if (!me.sees_everything()) co_return error_response(req, http::status::forbidden, "the list of API tokens is for admins and auditors");
      std::function<std::vector<registry::api_token>()> read = [this] { return registry_->api_tokens(); };
      const auto tokens = co_await offload(registry_thread_, std::move(read));
      json::array out;
      for (const auto& t : tokens) {
        // (0: no end, as the config's tokens had; imported so.)
        const bool ends = t.expires_at != 0;
        out.push_back(json::object{{"id", t.id()}, {"user", t.user}, {"created_by", t.created_by}, {"created_at", iso(t.created_at)},
                                   {"expires_at", ends ? iso(t.expires_at) : "never"}, {"expired", ends && t.expires_at <= unix_now()}});
      }
      co_return json_response(req, http::status::ok, json::serialize(json::object{{"api_tokens", std::move(out)}}));
    }
    if (me.r != role::admin) co_return error_response(req, http::status::forbidden, "API tokens are made and deleted by admins only");
    if (method == http::verb::delete_) {
      const auto q = query_of(req);
      const std::string id = q.contains("id") ? q.at("id") : "";
      std::function<bool()> remove = [this, id] { return registry_->remove_api_token(id); };
      if (!co_await offload(registry_thread_, std::move(remove))) co_return error_response(req, http::status::not_found, "no API token " + id);
      co_await read_rules(true);
      audit_->registry_change({{"event", "api_token_deleted"}, {"token", id}, {"user", user}});
      log::info(name_, "API token ", id, " deleted by ", user);
      co_return no_content(req);
    }
    if (method != http::verb::post) co_return error_response(req, http::status::method_not_allowed, "GET, POST or DELETE /api/v1/api-tokens");
    simdjson::dom::parser p;
    simdjson::dom::element body;
    std::string_view holder;
    std::int64_t valid_for = default_validity_s;
    if (p.parse(req.body()).get(body) || body["user"].get(holder))
      co_return error_response(req, http::status::bad_request, "expected JSON {\"user\": NAME, \"valid_for_s\": N}");
    if (auto v = body["valid_for_s"]; !v.error() && v.get(valid_for))
      co_return error_response(req, http::status::bad_request, "valid_for_s must be a whole number of seconds");
    if (valid_for < 1 || valid_for > max_validity_s)
      co_return error_response(req, http::status::bad_request, "valid_for_s must be 1 to " + std::to_string(max_validity_s) + " (5 years)");
    const std::string name(holder);
    // Only for an administrator of the registry, whose removal removes the token with it: a token
    // for a config administrator would outlive their entry and open to the next one of the name.
    if (!auth_.knows(name)) co_return error_response(req, http::status::bad_request, "no administrator named " + name);
    if (auth_.configured(name))
      co_return error_response(req, http::status::bad_request, name + " is in the config file: give them a token there (api_tokens), or make an administrator in the registry");
    // A token made with a token ends no later than it.
    if (auto until = auth_.token_expiry(req); until && *until != 0) valid_for = std::min(valid_for, std::max<std::int64_t>(1, *until - unix_now()));
    // The prefix lets secret scanners recognise a leaked token.
    const auto token = "sl_api_" + random_token();
    const auto now = unix_now();
    registry::api_token t{sha256_hex(token), name, user, now, now + valid_for};
    std::function<std::optional<std::string>()> add = [this, t] { return registry_->add_api_token(t); };
    if (auto why = co_await offload(registry_thread_, std::move(add))) co_return error_response(req, http::status::conflict, *why);
    co_await read_rules(true);
    audit_->registry_change({{"event", "api_token_created"}, {"token", t.id()}, {"administrator", name}, {"expires_at", iso(t.expires_at)}, {"user", user}});
    log::info(name_, "API token ", t.id(), " for ", name, " made by ", user, ", valid until ", iso(t.expires_at));
    co_return json_response(req, http::status::created,
                            json::serialize(json::object{{"token", token}, {"id", t.id()}, {"user", name}, {"expires_at", iso(t.expires_at)}}));
  } catch (const std::runtime_error& e) {
    log::error(name_, "registry: ", e.what());
    co_return error_response(req, http::status::internal_server_error, "the registry could not be read or written");
  }
}

}  // namespace shadowlink::ums
