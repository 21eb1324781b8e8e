// folder list | add PATH | remove PATH | policy PATH, move-device DEVICE FOLDER, right list | grant | deny |
// revoke SUBJECT RIGHT --folder PATH, admin-group list | add | remove GROUP USER, administrator
// list | add | password | remove NAME: the registry's folder tree of devices, and who may do what
// in it. "/" names the root on the command line.
#include "services/console/commands.hpp"

#include <boost/json.hpp>
#include <boost/url/url.hpp>

#include <cstdio>
#include <iostream>

namespace shadowlink::console {
namespace json = boost::json;

namespace {

const std::string none;
std::string folder_arg(const std::string& f) { return f == "/" ? std::string() : f; }
std::string shown(std::string_view folder) { return folder.empty() ? "/" : std::string(folder); }

// /api/v1/NAME?k=v&..., the values percent-encoded.
std::string api_target(std::string_view name, std::initializer_list<std::pair<const char*, std::string>> query) {
  boost::urls::url u;
  u.set_path(std::string("/api/v1/") + std::string(name));
  for (const auto& [k, v] : query) u.params().append({k, v});
  return std::string(u.buffer());
}

// (Arguments are named values: g++ 12 miscompiles temporaries in a co_await expression.)
awaitable<void> expect(client& c, http::verb verb, const std::string& target, const std::string& body, http::status ok, const std::string& what) {
  auto res = co_await c.call(verb, target, body);
  if (res.result() != ok) throw cli_error("cannot " + what + ": " + c.error_of(res));
}

// A list's answer as JSON (--json), or the raw document for a table.
awaitable<std::optional<simdjson::dom::element>> listing(client& c, const std::string& target, const options& o, const std::string& what) {
  auto res = co_await c.call(http::verb::get, target);
  if (res.result() != http::status::ok) throw cli_error("cannot list " + what + ": " + c.error_of(res));
  auto doc = c.parse(res);
  if (o.json) {
    std::cout << simdjson::minify(doc) << "\n";
    co_return std::nullopt;
  }
  co_return doc;
}

std::string text(simdjson::dom::element e, const char* key) {
  std::string_view v;
  return e[key].get(v) ? std::string() : std::string(v);
}

}  // namespace

awaitable<int> cmd_folder(client& c, const options& o) {
  if (o.device == "add") {
    const std::string target = "/api/v1/folders", body = json::serialize(json::object{{"path", o.output}}), what = "make folder " + o.output;
    co_await expect(c, http::verb::post, target, body, http::status::created, what);
    std::printf("folder %s made\n", o.output.c_str());
    co_return 0;
  }
  if (o.device == "remove") {
    const std::string target = api_target("folders", {{"path", o.output}}), what = "remove folder " + o.output;
    co_await expect(c, http::verb::delete_, target, none, http::status::no_content, what);
    std::printf("folder %s removed\n", o.output.c_str());
    co_return 0;
  }
  if (o.device == "policy") {
    json::object body{{"path", o.output}};
    if (!o.consent.empty()) body["consent"] = o.consent == "inherit" ? "" : o.consent;
    if (!o.record.empty()) body["record"] = o.record == "on";
    const std::string target = "/api/v1/folders", text = json::serialize(body), what = "set folder " + o.output + "'s policy";
    co_await expect(c, http::verb::put, target, text, http::status::ok, what);
    std::printf("folder %s: consent %s, recording %s\n", o.output.c_str(), o.consent.empty() ? "unchanged" : o.consent.c_str(),
                o.record.empty() ? "unchanged" : o.record.c_str());
    co_return 0;
  }
  const std::string target = "/api/v1/folders", what = "folders";
  auto doc = co_await listing(c, target, o, what);
  if (!doc) co_return 0;
  // A folder's policy: what holds there (its own, or from above: "(from above)").
  auto policy_of = [](simdjson::dom::element f) {
    const auto holds = text(f, "effective_consent");
    bool record = false, own_record = false;
    if (f["effective_record"].get(record)) record = false;
    if (f["record"].get(own_record)) own_record = false;
    std::string out = holds.empty() ? "" : "consent " + holds + (text(f, "consent").empty() ? " (from above)" : "");
    if (record) out += std::string(out.empty() ? "" : ", ") + "recorded" + (own_record ? "" : " (from above)");
    return out.empty() ? std::string("-") : out;
  };
  std::printf("%-40s %-28s %s\n", "FOLDER", "YOUR RIGHTS", "POLICY");
  auto rights_of = [](simdjson::dom::element list) {
    std::string out;
    for (auto r : list.get_array()) out += (out.empty() ? "" : ",") + std::string(r.get_string().value());
    return out.empty() ? std::string("-") : out;
  };
  std::printf("%-40s %-28s %s\n", "/", rights_of((*doc)["root_rights"]).c_str(), "-");
  for (auto f : (*doc)["folders"].get_array())
    std::printf("%-40s %-28s %s\n", text(f, "path").c_str(), rights_of(f["rights"]).c_str(), policy_of(f).c_str());
  co_return 0;
}

awaitable<int> cmd_move_device(client& c, const options& o) {
  boost::urls::url target;
  target.set_path_absolute(true);
  target.segments() = {"api", "v1", "devices", o.device, "folder"};
  const auto to = folder_arg(o.output);
  const std::string url(target.buffer()), body = json::serialize(json::object{{"folder", to}}), what = "move " + o.device;
  co_await expect(c, http::verb::put, url, body, http::status::ok, what);
  std::printf("device %s is in folder %s\n", o.device.c_str(), shown(to).c_str());
  co_return 0;
}

awaitable<int> cmd_right(client& c, const options& o) {
  const auto folder = folder_arg(o.folder);
  if (o.device == "grant" || o.device == "deny") {
    json::object rule{{"subject", o.output}, {"folder", folder}, {"right", o.extra}, {"effect", o.device == "grant" ? "allow" : "deny"}};
    const std::string target = "/api/v1/rights", body = json::serialize(rule), what = o.device + " " + o.extra;
    co_await expect(c, http::verb::post, target, body, http::status::created, what);
    std::printf("%s: %s %s on folder %s\n", o.output.c_str(), o.device == "grant" ? "allowed" : "denied", o.extra.c_str(), shown(folder).c_str());
    co_return 0;
  }
  if (o.device == "revoke") {
    const std::string target = api_target("rights", {{"subject", o.output}, {"folder", folder}, {"right", o.extra}}), what = "revoke " + o.extra;
    co_await expect(c, http::verb::delete_, target, none, http::status::no_content, what);
    std::printf("%s: no rule for %s on folder %s any more\n", o.output.c_str(), o.extra.c_str(), shown(folder).c_str());
    co_return 0;
  }
  const std::string target = "/api/v1/rights", what = "rights";
  auto doc = co_await listing(c, target, o, what);
  if (!doc) co_return 0;
  std::printf("%-24s %-30s %-7s %-6s %s\n", "SUBJECT", "FOLDER", "RIGHT", "EFFECT", "GRANTED BY");
  for (auto r : (*doc)["rights"].get_array())
    std::printf("%-24s %-30s %-7s %-6s %s\n", text(r, "subject").c_str(), shown(text(r, "folder")).c_str(), text(r, "right").c_str(),
                text(r, "effect").c_str(), text(r, "granted_by").c_str());
  co_return 0;
}

awaitable<int> cmd_admin_group(client& c, const options& o) {
  if (o.device == "add") {
    const std::string target = "/api/v1/admin-groups", body = json::serialize(json::object{{"group", o.output}, {"user", o.extra}}),
                      what = "add " + o.extra + " to " + o.output;
    co_await expect(c, http::verb::post, target, body, http::status::created, what);
    std::printf("%s is in group %s\n", o.extra.c_str(), o.output.c_str());
    co_return 0;
  }
  if (o.device == "remove") {
    const std::string target = api_target("admin-groups", {{"group", o.output}, {"user", o.extra}}), what = "remove " + o.extra + " from " + o.output;
    co_await expect(c, http::verb::delete_, target, none, http::status::no_content, what);
    std::printf("%s is no longer in group %s\n", o.extra.c_str(), o.output.c_str());
    co_return 0;
  }
  const std::string target = "/api/v1/admin-groups", what = "groups of administrators";
  auto doc = co_await listing(c, target, o, what);
  if (!doc) co_return 0;
  std::printf("%-24s %s\n", "GROUP", "MEMBERS");
  for (auto [group, members] : (*doc)["groups"].get_object()) {
    std::string list;
    for (auto m : members.get_array()) list += (list.empty() ? "" : " ") + std::string(m.get_string().value());
    std::printf("%-24s %s\n", std::string(group).c_str(), list.c_str());
  }
  co_return 0;
}

awaitable<int> cmd_administrator(client& c, const options& o) {
  if (o.device == "add" || o.device == "password") {
    const bool add = o.device == "add";
    json::object body{{"name", o.output}, {"password", o.new_password}};
    if (add) body["role"] = o.role;
    const std::string target = "/api/v1/administrators", text = json::serialize(body),
                      what = add ? "make administrator " + o.output : "set the password of " + o.output;
    co_await expect(c, add ? http::verb::post : http::verb::put, target, text, add ? http::status::created : http::status::no_content, what);
    std::printf(add ? "administrator %s made (%s)\n" : "administrator %s has a new password; their logins have ended\n", o.output.c_str(), o.role.c_str());
    co_return 0;
  }
  if (o.device == "remove") {
    const std::string target = api_target("administrators", {{"name", o.output}}), what = "remove administrator " + o.output;
    co_await expect(c, http::verb::delete_, target, none, http::status::no_content, what);
    std::printf("administrator %s removed; their logins have ended\n", o.output.c_str());
    co_return 0;
  }
  const std::string target = "/api/v1/administrators", what = "administrators";
  auto doc = co_await listing(c, target, o, what);
  if (!doc) co_return 0;
  std::printf("%-24s %-9s %s\n", "NAME", "ROLE", "KEPT IN");
  for (auto a : (*doc)["administrators"].get_array())
    std::printf("%-24s %-9s %s\n", text(a, "name").c_str(), text(a, "role").c_str(), text(a, "kept_in").c_str());
  co_return 0;
}

// The token goes to standard output alone (shown only now), the rest to the terminal's error stream.
awaitable<int> cmd_api_token(client& c, const options& o) {
  if (o.device == "create") {
    json::object body{{"user", o.output}};
    if (o.valid_for_given) body["valid_for_s"] = o.valid_for;
    const std::string target = "/api/v1/api-tokens", request = json::serialize(body);
    auto res = co_await c.call(http::verb::post, target, request);
    if (res.result() != http::status::created) throw cli_error("cannot make an API token for " + o.output + ": " + c.error_of(res));
    auto doc = c.parse(res);
    std::cout << text(doc, "token") << "\n";
    std::cerr << "API token " << text(doc, "id") << " for " << o.output << ", valid until " << text(doc, "expires_at")
              << " (shown only now: keep it where only its user can read it)\n";
    co_return 0;
  }
  if (o.device == "delete") {
    const std::string target = api_target("api-tokens", {{"id", o.output}}), what = "delete API token " + o.output;
    co_await expect(c, http::verb::delete_, target, none, http::status::no_content, what);
    std::printf("API token %s deleted\n", o.output.c_str());
    co_return 0;
  }
  const std::string target = "/api/v1/api-tokens", what = "API tokens";
  auto doc = co_await listing(c, target, o, what);
  if (!doc) co_return 0;
  std::printf("%-13s %-24s %-24s %s\n", "ID", "ACTS AS", "MADE BY", "VALID UNTIL");
  for (auto t : (*doc)["api_tokens"].get_array()) {
    bool expired = false;
    if (t["expired"].get(expired)) expired = false;
    std::printf("%-13s %-24s %-24s %s%s\n", text(t, "id").c_str(), text(t, "user").c_str(), text(t, "created_by").c_str(), text(t, "expires_at").c_str(),
                expired ? " (expired)" : "");
  }
  co_return 0;
}

}  // namespace shadowlink::console
