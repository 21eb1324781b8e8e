#include "services/ums/rights.hpp"

namespace shadowlink::ums {

std::string_view to_string(role r) {
  switch (r) {
    case role::admin: return "admin";
    case role::operator_: return "operator";
    case role::auditor: return "auditor";
  }
  return "?";
}

std::optional<role> parse_role(std::string_view s) {
  for (auto r : {role::admin, role::operator_, role::auditor})
    if (to_string(r) == s) return r;
  return std::nullopt;
}

std::string_view to_string(access a) {
  switch (a) {
    case access::none: return "none";
    case access::view_only: return "view_only";
    case access::full_control: return "full_control";
  }
  return "?";
}

void device_groups::configure(settings& ums) {
  for (auto& g : ums.objects("device_groups")) {
    auto name = g.required_str("name");
    auto devices = g.strings("devices", {});
    if (g.has("consent")) {
      auto policy = up::parse_consent(g.required_str("consent"));
      if (!policy) g.reject("consent", "expected none, notify or ask");
      consent_[name] = *policy;
    }
    if (g.has("record")) {
      const auto record = g.required_str("record");
      if (record != "on" && record != "off") g.reject("record", "expected on or off");
      if (record == "on") recorded_.insert(name);
    }
    if (!members_.emplace(name, std::set<std::string, std::less<>>(devices.begin(), devices.end())).second)
      g.reject("name", "duplicate device group '" + name + "'");
  }
}

bool device_groups::contains(std::string_view group, std::string_view device) const {
  auto it = members_.find(group);
  return it != members_.end() && it->second.contains(device);
}

std::optional<up::consent_policy> device_groups::consent_of(std::string_view device) const {
  std::optional<up::consent_policy> strictest;
  for (auto& [group, policy] : consent_)
    if (contains(group, device)) strictest = strictest ? up::strictest(*strictest, policy) : policy;
  return strictest;
}

bool device_groups::records(std::string_view device) const {
  for (auto& group : recorded_)
    if (contains(group, device)) return true;
  return false;
}

std::vector<device_groups::member> device_groups::unknown_devices(const std::set<std::string, std::less<>>& known) const {
  std::vector<member> out;
  for (auto& [group, devices] : members_)
    for (auto& d : devices)
      if (!known.contains(d)) out.push_back({group, d});
  return out;
}

bool device_set::has(std::string_view device, const device_groups& g) const {
  if (devices.contains(device)) return true;
  for (auto& group : groups)
    if (g.contains(group, device)) return true;
  return false;
}

namespace {

device_set read_set(settings& s, const device_groups& groups) {
  device_set out;
  for (auto& d : s.strings("devices", {})) out.devices.insert(d);
  for (auto& g : s.strings("groups", {})) {
    if (!groups.exists(g)) s.reject("groups", "no device group named '" + g + "'");
    out.groups.insert(g);
  }
  if (out.devices.empty() && out.groups.empty()) s.reject("devices", "name devices or groups");
  return out;
}

}  // namespace

principal principal::read(settings& entry, const device_groups& groups) {
  principal p;
  // Entries written before roles existed meant an all-powerful administrator; they still do.
  const auto r = entry.str("role", "admin");
  if (r == "admin") p.r = role::admin;
  else if (r == "operator") p.r = role::operator_;
  else if (r == "auditor") p.r = role::auditor;
  else entry.reject("role", "expected admin, operator or auditor");
  for (auto& a : entry.objects("allow")) {
    grant g{read_set(a, groups)};
    const auto mode = a.str("mode", "full_control");
    if (mode == "view_only") g.mode = access::view_only;
    else if (mode != "full_control") a.reject("mode", "expected full_control or view_only");
    p.allow.push_back(std::move(g));
  }
  for (auto& d : entry.objects("deny")) {
    p.deny.push_back(read_set(d, groups));
  }
  if (p.r != role::operator_ && (!p.allow.empty() || !p.deny.empty()))
    entry.reject(p.allow.empty() ? "deny" : "allow", "only operators take grants (an admin may shadow everything, an auditor nothing)");
  return p;
}

bool principal::denies(std::string_view device, const device_groups& groups) const {
  for (auto& d : deny)
    if (d.has(device, groups)) return true;
  return false;
}

access principal::to(std::string_view device, const device_groups& groups) const {
  if (r == role::admin) return access::full_control;
  if (r == role::auditor) return access::none;
  for (auto& d : deny)
    if (d.has(device, groups)) return access::none;
  access best = access::none;
  for (auto& g : allow)
    if (g.which.has(device, groups) && g.mode > best) best = g.mode;
  return best;
}

std::optional<std::string> folder_path_error(std::string_view path) {
  if (path.empty()) return "an empty folder path (the root is there already)";
  if (path.size() > 255) return "a folder path has at most 255 characters";
  int depth = 0;
  for (std::size_t at = 0; at <= path.size();) {
    const auto end = std::min(path.find('/', at), path.size());
    const auto name = path.substr(at, end - at);
    if (name.empty()) return "a folder path is names separated by single '/' (no '/' first or last)";
    if (name == "." || name == "..") return "'.' and '..' are no folder names";
    if (name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._-") != std::string_view::npos)
      return "a folder name has letters, digits, spaces, '.', '_' and '-' only";
    if (++depth > 16) return "folders nest 16 deep at most";
    at = end + 1;
  }
  return std::nullopt;
}

std::string_view parent_folder(std::string_view path) {
  const auto slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
}

bool folder_within(std::string_view folder, std::string_view ancestor) {
  return ancestor.empty() || folder == ancestor || (folder.starts_with(ancestor) && folder.size() > ancestor.size() && folder[ancestor.size()] == '/');
}

std::string_view to_string(folder_right r) {
  switch (r) {
    case folder_right::shadow: return "shadow";
    case folder_right::view: return "view";
    case folder_right::manage: return "manage";
    case folder_right::audit: return "audit";
  }
  return "?";
}

std::optional<folder_right> parse_folder_right(std::string_view s) {
  for (auto r : {folder_right::shadow, folder_right::view, folder_right::manage, folder_right::audit})
    if (to_string(r) == s) return r;
  return std::nullopt;
}

std::optional<std::string> subject_error(std::string_view subject) {
  std::string_view name;
  if (subject.starts_with("user:")) name = subject.substr(5);
  else if (subject.starts_with("group:")) name = subject.substr(6);
  else return "a subject is user:NAME or group:NAME";
  if (name.empty() || name.size() > 64) return "a subject's name has 1 to 64 characters";
  if (name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-") != std::string_view::npos)
    return "a subject's name has letters, digits, '.', '_', '@' and '-' only";
  return std::nullopt;
}

folder_policy folder_rules::policy_of(std::string_view folder) const {
  folder_policy out;
  for (std::string_view f = folder; !f.empty(); f = parent_folder(f)) {
    auto p = policies.find(f);
    if (p == policies.end()) continue;
    if (p->second.consent) out.consent = out.consent ? up::strictest(*out.consent, *p->second.consent) : *p->second.consent;
    out.record = out.record || p->second.record;
  }
  return out;
}

bool folder_rules::applies(const folder_rule& rule, std::string_view user) const {
  if (rule.subject.starts_with("user:")) return std::string_view(rule.subject).substr(5) == user;
  auto g = groups.find(std::string_view(rule.subject).substr(6));
  return g != groups.end() && g->second.contains(user);
}

folder_rules::found folder_rules::find(std::string_view user, folder_right r, std::string_view folder) const {
  found f;
  for (const auto& rule : rules)
    if (rule.right == r && folder_within(folder, rule.folder) && applies(rule, user)) (rule.allow ? f.allowed : f.denied) = true;
  return f;
}

bool folder_rules::allows_somewhere(std::string_view user, folder_right r) const {
  for (const auto& rule : rules)
    if (rule.right == r && rule.allow && applies(rule, user)) return true;
  return false;
}

bool folder_rules::denies_somewhere(std::string_view user, folder_right r) const {
  for (const auto& rule : rules)
    if (rule.right == r && !rule.allow && applies(rule, user)) return true;
  return false;
}

access folder_rules::shadow_access(std::string_view user, std::string_view folder) const {
  const auto view = find(user, folder_right::view, folder), shadow = find(user, folder_right::shadow, folder);
  if (view.denied) return access::none;
  if (shadow.allowed && !shadow.denied) return access::full_control;
  // (An allowed shadow whose control is denied still lets its holder watch.)
  if (view.allowed || shadow.allowed) return access::view_only;
  return access::none;
}

}  // namespace shadowlink::ums
