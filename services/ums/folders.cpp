// The folder tree of devices, rights on its folders and groups of administrators, kept in the
// registry (rights.hpp says what a right lets its holder do). REST:
//   GET /api/v1/folders                     the folders the caller may see, with their rights there
//   POST /api/v1/folders {"path": P}        (the manage right on P's parent)
//   DELETE /api/v1/folders?path=P           an empty folder (the same right)
//   PUT /api/v1/folders {"path": P, "consent", "record"}   its session policy (admins)
//   PUT /api/v1/devices/ID/folder {"folder": P}   (the manage right on both folders)
//   GET|POST|DELETE /api/v1/rights          POST {"subject", "folder", "right", "effect": "allow"|"deny"};
//                                           DELETE ?subject=&folder=&right= (admins)
//   GET|POST|DELETE /api/v1/admin-groups    POST {"group", "user"}; DELETE ?group=&user= (admins)
// Every node reads them again when their revision in the registry changes (within seconds).
#include "framework/log.hpp"
#include "framework/offload.hpp"
#include "services/ums/rest_helpers.hpp"
#include "services/ums/ums_service.hpp"

#include <boost/json.hpp>

#include <functional>

namespace shadowlink::ums {
namespace json = boost::json;

awaitable<void> ums_service::read_rules(bool force) {
  if (!registry_) co_return;
  // (Asked on every login of an unknown name, too: not more often than this.)
  if (!force && clock::now() - rules_checked_ < 250ms) co_return;
  rules_checked_ = clock::now();
  struct snapshot {
    folder_rules rules;
    std::map<std::string, std::string, std::less<>> device_folders;
    std::vector<registry::administrator> administrators;
    std::vector<registry::api_token> tokens;
  };
  using fresh = std::optional<snapshot>;
  std::function<fresh()> read = [this, force, known = rules_.revision]() -> fresh {
    if (!force && registry_->rules_revision() == known) return std::nullopt;
    return snapshot{registry_->rules(), registry_->device_folders(), registry_->administrators(), registry_->api_tokens()};
  };
  try {
    auto got = co_await offload(registry_thread_, std::move(read));
    if (!got) co_return;
    if (got->rules.revision != rules_.revision)
      log::info(name_, "rights: revision ", got->rules.revision, ", ", got->rules.folders.size(), " folder(s), ", got->rules.rules.size(),
                " right(s), ", got->rules.groups.size(), " group(s) of administrators, ", got->administrators.size(), " administrator(s) in the registry");
    rules_ = std::move(got->rules);
    for (const auto& [id, folder] : got->device_folders) set_folder(id, folder);
    // (A folder's policy may have changed: a session asked for from now on follows the new one.)
    for (auto& [id, d] : devices_)
      if (auto e = enrolled_.find(id); e != enrolled_.end() && is_enrolled(d)) apply_policy(d, e->second.folder, groups_);
    auth_.set_stored(stored_administrators(got->administrators));
    auth_.set_stored_tokens(stored_tokens(got->tokens));
    end_logins_later();
    end_sessions_without_rights();
  } catch (const std::exception& e) {
    log::warn(name_, "cannot read the rights from the registry (the last ones read still hold): ", e.what());
  }
}

void ums_service::end_sessions_without_rights() {
  for (auto& [id, s] : sessions_) {
    if (s->ended) continue;
    const auto now = access_to(s->user, s->device_id);
    if (now == access::full_control || (now == access::view_only && s->view_only)) continue;
    log::info(scope(*s), "ended: ", s->user, " may no longer ", s->view_only ? "view " : "control ", s->device_id);
    s->stop("the administrator's rights changed");
  }
}

// Where an enrolled device is (its folder's rights, and its config group's policies, follow it).
void ums_service::set_folder(const std::string& device, const std::string& folder) {
  auto e = enrolled_.find(device);
  if (e == enrolled_.end() || e->second.folder == folder) return;
  if (!e->second.folder.empty()) groups_.remove_member(e->second.folder, device);
  e->second.folder = folder;
  if (!folder.empty() && groups_.exists(folder)) groups_.add_member(folder, device);
  if (auto d = devices_.find(device); d != devices_.end() && is_enrolled(d->second)) apply_policy(d->second, folder, groups_);
}

awaitable<http_response> ums_service::move_device(const http_request& req, const std::string& device, const std::string& user) {
  auto f = fields_of(req, {"folder"});
  if (!f) co_return error_response(req, http::status::bad_request, "expected JSON {\"folder\": PATH} (\"\" for the root)");
  const auto to = (*f)[0];
  co_await learn_enrolled(device);
  co_await read_rules(false);  // (moved, or rights changed, through another node a moment ago)
  const auto from = folder_of(device);
  if (!may(user, folder_right::manage, from) || !may(user, folder_right::manage, to))
    co_return error_response(req, http::status::forbidden, "moving a device needs the manage right on both folders");
  if (auth_.rights_of(user).r != role::admin) {
    // A manager must not move a device out of a deny's reach, nor out of (or into) the consent and
    // recording policy of a device group of the config: that is the admins' to decide.
    for (const auto& r : rules_.rules)
      if (!r.allow && folder_within(from, r.folder) && !folder_within(to, r.folder))
        co_return error_response(req, http::status::forbidden,
                                 "a deny of " + std::string(to_string(r.right)) + " for " + r.subject + " on folder " + (r.folder.empty() ? "/" : r.folder) +
                                     " holds for the device where it is: only an admin moves it out of its reach");
    for (const auto* g : {&from, &to})
      if (groups_.exists(*g))
        co_return error_response(req, http::status::forbidden,
                                 "the config's device group " + *g + " sets the policy of its devices: only an admin moves devices in or out of it");
    if (rules_.policy_of(from) != rules_.policy_of(to))
      co_return error_response(req, http::status::forbidden,
                               "folders " + (from.empty() ? std::string("/") : from) + " and " + (to.empty() ? std::string("/") : to) +
                                   " hold different consent or recording policies: only an admin moves a device between them");
  }
  std::function<std::variant<registry::moved, std::string>()> move = [this, device, to, from] { return registry_->move_device(device, to, from); };
  std::variant<registry::moved, std::string> done;
  try {
    done = co_await offload(registry_thread_, std::move(move));
  } catch (const std::exception& e) {
    log::error(name_, "registry: ", e.what());
    co_return error_response(req, http::status::internal_server_error, "the registry could not be written");
  }
  if (auto* why = std::get_if<std::string>(&done)) co_return error_response(req, http::status::conflict, *why);
  const auto was = std::get<registry::moved>(done).from;
  audit_->registry_change({{"event", "device_moved"}, {"device", device}, {"from", was}, {"folder", to}, {"user", user}});
  log::info(name_, "device ", device, " moved from folder '", was, "' to '", to, "' by ", user);
  co_await read_rules(true);
  co_return json_response(req, http::status::ok, json::serialize(json::object{{"device", device}, {"folder", to}, {"from", was}}));
}

// PUT /api/v1/folders {"path": P, "consent": "ask"|"notify"|"none"|"" (none of its own), "record": bool}:
// what is given changes. A folder's policy holds for the devices in and below it (rights.hpp).
awaitable<http_response> ums_service::put_folder_policy(const http_request& req, const std::string& user) {
  static constexpr std::string_view expected =
      "expected JSON {\"path\": PATH, \"consent\": \"ask\"|\"notify\"|\"none\"|\"\" (none of its own), \"record\": true|false}";
  std::string folder;
  std::optional<std::optional<up::consent_policy>> consent;
  std::optional<bool> record;
  try {
    const auto body = json::parse(req.body()).as_object();
    folder = json::value_to<std::string>(body.at("path"));
    if (auto* c = body.if_contains("consent")) {
      const auto text = json::value_to<std::string>(*c);
      auto parsed = up::parse_consent(text);
      if (!parsed && !text.empty()) co_return error_response(req, http::status::bad_request, "consent: ask, notify, none, or \"\" (none of its own)");
      consent = parsed;
    }
    if (auto* r = body.if_contains("record")) record = r->as_bool();
  } catch (const std::exception&) {
    co_return error_response(req, http::status::bad_request, expected);
  }
  if (!consent && !record) co_return error_response(req, http::status::bad_request, expected);
  if (folder.empty()) co_return error_response(req, http::status::bad_request, "the root holds no policy of its own: the config's device groups and devices set theirs");
  if (auto why = folder_path_error(folder)) co_return error_response(req, http::status::bad_request, *why);
  std::function<std::optional<std::string>()> write = [this, folder, consent, record] { return registry_->set_folder_policy(folder, consent, record); };
  if (auto why = co_await offload(registry_thread_, std::move(write))) co_return error_response(req, http::status::not_found, *why);
  co_await read_rules(true);
  const auto own = rules_.policies.contains(folder) ? rules_.policies.at(folder) : folder_policy{};
  const std::string own_consent = own.consent ? std::string(up::to_string(*own.consent)) : "";
  audit_->registry_change({{"event", "folder_policy_set"}, {"folder", folder}, {"consent", own_consent}, {"record", own.record}, {"user", user}});
  log::info(name_, "folder ", folder, "'s policy set by ", user, ": consent ", own_consent.empty() ? "(none of its own)" : own_consent,
            ", recording ", own.record ? "on" : "off");
  co_return json_response(req, http::status::ok, json::serialize(json::object{{"path", folder}, {"consent", own_consent}, {"record", own.record}}));
}

awaitable<http_response> ums_service::folders_api(const http_request& req, std::string_view path, const std::string& user) {
  if (!registry_) co_return error_response(req, http::status::service_unavailable, "the registry is not open");
  co_await read_rules(false);  // (another node's change of a moment ago)
  const principal me = auth_.rights_of(user);  // (a copy: a change below reads the rules again)
  const bool sees_all = me.sees_everything();
  const auto method = req.method();
  const auto q = query_of(req);
  auto param = [&q](const char* k) {
    auto it = q.find(k);
    return it == q.end() ? std::string() : it->second;
  };
  // Runs a change on the registry's thread: its refusal (409), or nothing once it is done and
  // every right read again.
  auto change = [this](std::function<std::optional<std::string>()> write) -> awaitable<std::optional<std::string>> {
    auto why = co_await offload(registry_thread_, std::move(write));
    if (!why) co_await read_rules(true);
    co_return why;
  };
  try {
    if (path == "/api/v1/folders" && method == http::verb::get) {
      // A folder is shown to whoever may act in it, with the folders above it (to place it).
      std::set<std::string, std::less<>> shown;
      for (const auto& f : rules_.folders) {
        bool acts = sees_all;
        for (auto r : {folder_right::shadow, folder_right::view, folder_right::manage, folder_right::audit}) acts = acts || may(user, r, f);
        if (!acts) continue;
        for (std::string_view p = f; !p.empty() && !shown.contains(p); p = parent_folder(p)) shown.emplace(p);
      }
      json::array out;
      for (const auto& f : shown) {
        json::array rights;
        for (auto r : {folder_right::shadow, folder_right::view, folder_right::manage, folder_right::audit})
          if (may(user, r, f)) rights.emplace_back(to_string(r));
        json::object o{{"path", f}, {"rights", std::move(rights)}};
        // Its own policy, and what holds there with the folders above.
        if (auto own = rules_.policies.find(f); own != rules_.policies.end()) {
          if (own->second.consent) o["consent"] = up::to_string(*own->second.consent);
          if (own->second.record) o["record"] = true;
        }
        const auto holds = rules_.policy_of(f);
        if (holds.consent) o["effective_consent"] = up::to_string(*holds.consent);
        o["effective_record"] = holds.record;
        out.push_back(std::move(o));
      }
      json::array root;
      for (auto r : {folder_right::shadow, folder_right::view, folder_right::manage, folder_right::audit})
        if (may(user, r, "")) root.emplace_back(to_string(r));
      co_return json_response(req, http::status::ok, json::serialize(json::object{{"folders", std::move(out)}, {"root_rights", std::move(root)}}));
    }
    if (path == "/api/v1/folders" && (method == http::verb::post || method == http::verb::delete_)) {
      std::string folder;
      if (method == http::verb::post) {
        auto f = fields_of(req, {"path"});
        if (!f) co_return error_response(req, http::status::bad_request, "expected JSON {\"path\": \"berlin/floor-2\"}");
        folder = (*f)[0];
      } else {
        folder = param("path");
      }
      if (auto why = folder_path_error(folder)) co_return error_response(req, http::status::bad_request, *why);
      if (!may(user, folder_right::manage, parent_folder(folder)))
        co_return error_response(req, http::status::forbidden, "folders are made and removed with the manage right on the folder above");
      const bool add = method == http::verb::post;
      // (Its rights go with it: a manager must not shed an admin's deny by removing and making it again.)
      if (!add && me.r != role::admin)
        for (const auto& r : rules_.rules)
          if (folder_within(r.folder, folder))
            co_return error_response(req, http::status::forbidden, "rights are set on folder " + r.folder + ": only an admin removes it");
      std::function<std::optional<std::string>()> write = [this, folder, user, add] {
        return add ? registry_->add_folder(folder, user, unix_now()) : registry_->remove_folder(folder);
      };
      if (auto why = co_await change(std::move(write))) co_return error_response(req, http::status::conflict, *why);
      audit_->registry_change({{"event", add ? "folder_created" : "folder_removed"}, {"folder", folder}, {"user", user}});
      log::info(name_, "folder ", folder, add ? " made by " : " removed by ", user);
      if (!add) co_return no_content(req);
      co_return json_response(req, http::status::created, json::serialize(json::object{{"path", folder}}));
    }
    if (path == "/api/v1/rights" && method == http::verb::get) {
      // Admins and auditors read every right; anyone else their own and their groups'.
      json::array out;
      for (const auto& r : rules_.rules) {
        const bool own = r.subject == "user:" + user ||
                         (r.subject.starts_with("group:") && rules_.groups.contains(r.subject.substr(6)) &&
                          rules_.groups.at(r.subject.substr(6)).contains(user));
        if (!sees_all && !own) continue;
        out.push_back(json::object{{"subject", r.subject}, {"folder", r.folder}, {"right", to_string(r.right)}, {"effect", r.allow ? "allow" : "deny"},
                                   {"granted_by", r.granted_by}, {"granted_at", iso(r.granted_at)}});
      }
      co_return json_response(req, http::status::ok, json::serialize(json::object{{"rights", std::move(out)}}));
    }
    if (path == "/api/v1/admin-groups" && method == http::verb::get) {
      json::object out;
      for (const auto& [g, members] : rules_.groups)
        if (sees_all || members.contains(user)) {
          json::array m;
          for (const auto& u : members) m.emplace_back(u);
          out[g] = std::move(m);
        }
      co_return json_response(req, http::status::ok, json::serialize(json::object{{"groups", std::move(out)}}));
    }
    // Changing rights, groups and policies: admins only (whoever could would give themselves anything).
    if (me.r != role::admin)
      co_return error_response(req, http::status::forbidden, "rights, groups of administrators and folder policies are changed by admins only");
    if (path == "/api/v1/folders" && method == http::verb::put) co_return co_await put_folder_policy(req, user);
    if (path == "/api/v1/rights" && (method == http::verb::post || method == http::verb::delete_)) {
      const bool add = method == http::verb::post;
      folder_rule r;
      std::string right, effect = "allow";
      if (add) {
        auto f = fields_of(req, {"subject", "folder", "right", "effect"});
        if (!f)
          co_return error_response(req, http::status::bad_request,
                                   "expected JSON {\"subject\": \"user:NAME\"|\"group:NAME\", \"folder\": PATH (\"\": the root), "
                                   "\"right\": \"shadow\"|\"view\"|\"manage\"|\"audit\", \"effect\": \"allow\"|\"deny\"}");
        r.subject = (*f)[0], r.folder = (*f)[1], right = (*f)[2], effect = (*f)[3];
      } else {
        r.subject = param("subject"), r.folder = param("folder"), right = param("right");
      }
      auto parsed = parse_folder_right(right);
      if (!parsed) co_return error_response(req, http::status::bad_request, "right: shadow, view, manage or audit");
      r.right = *parsed;
      if (effect != "allow" && effect != "deny") co_return error_response(req, http::status::bad_request, "effect: allow or deny");
      r.allow = effect == "allow";
      if (auto why = subject_error(r.subject)) co_return error_response(req, http::status::bad_request, *why);
      // (A typo would grant nothing, and a deny to nobody would protect nothing.)
      if (add && r.subject.starts_with("user:") && !auth_.knows(r.subject.substr(5)))
        co_return error_response(req, http::status::bad_request, "no administrator named " + r.subject.substr(5));
      if (add && r.subject.starts_with("user:") && auth_.rights_of(r.subject.substr(5)).r == role::admin)
        co_return error_response(req, http::status::bad_request, r.subject.substr(5) + " is an admin: an admin may do everything, whatever a right says");
      if (!r.folder.empty()) {
        if (auto why = folder_path_error(r.folder)) co_return error_response(req, http::status::bad_request, *why);
      }
      r.granted_by = user;
      r.granted_at = unix_now();
      std::function<std::optional<std::string>()> write = [this, r, add]() -> std::optional<std::string> {
        if (add) return registry_->put_rule(r);
        if (!registry_->remove_rule(r.subject, r.folder, r.right)) return "no such right";
        return std::nullopt;
      };
      if (auto why = co_await change(std::move(write)))
        co_return error_response(req, add ? http::status::conflict : http::status::not_found, *why);
      audit_->registry_change({{"event", add ? "right_set" : "right_removed"}, {"subject", r.subject}, {"folder", r.folder},
                               {"right", to_string(r.right)}, {"effect", add ? effect : ""}, {"user", user}});
      log::info(name_, "right ", to_string(r.right), " on folder '", r.folder, "' for ", r.subject, add ? " set to " + effect : " removed", " by ", user);
      if (!add) co_return no_content(req);
      co_return json_response(req, http::status::created,
                              json::serialize(json::object{{"subject", r.subject}, {"folder", r.folder}, {"right", to_string(r.right)}, {"effect", effect}}));
    }
    if (path == "/api/v1/admin-groups" && (method == http::verb::post || method == http::verb::delete_)) {
      const bool add = method == http::verb::post;
      std::string group, member;
      if (add) {
        auto f = fields_of(req, {"group", "user"});
        if (!f) co_return error_response(req, http::status::bad_request, "expected JSON {\"group\": NAME, \"user\": NAME}");
        group = (*f)[0], member = (*f)[1];
      } else {
        group = param("group"), member = param("user");
      }
      if (auto why = subject_error("group:" + group)) co_return error_response(req, http::status::bad_request, *why);
      if (auto why = subject_error("user:" + member)) co_return error_response(req, http::status::bad_request, *why);
      if (add && !auth_.knows(member)) co_return error_response(req, http::status::bad_request, "no administrator named " + member);
      std::function<std::optional<std::string>()> write = [this, group, member, add]() -> std::optional<std::string> {
        if (add ? registry_->add_member(group, member) : registry_->remove_member(group, member)) return std::nullopt;
        return add ? member + " is in group " + group + " already" : member + " is not in group " + group;
      };
      if (auto why = co_await change(std::move(write)))
        co_return error_response(req, add ? http::status::conflict : http::status::not_found, *why);
      audit_->registry_change({{"event", add ? "group_member_added" : "group_member_removed"}, {"group", group}, {"member", member}, {"user", user}});
      log::info(name_, member, add ? " added to" : " removed from", " group of administrators ", group, " by ", user);
      if (!add) co_return no_content(req);
      co_return json_response(req, http::status::created, json::serialize(json::object{{"group", group}, {"user", member}}));
    }
  } catch (const std::runtime_error& e) {
    log::error(name_, "registry: ", e.what());
    co_return error_response(req, http::status::internal_server_error, "the registry could not be read or written");
  }
  co_return error_response(req, http::status::method_not_allowed, "GET, POST, PUT (a folder's policy) or DELETE");
}

}  // namespace shadowlink::ums
