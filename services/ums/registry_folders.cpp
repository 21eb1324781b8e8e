// The registry's folder tree, rights on its folders and groups of administrators (registry.hpp).
#include "services/ums/registry.hpp"

namespace shadowlink::ums {

std::optional<std::string> registry::change_rules(const std::function<std::optional<std::string>()>& body) {
  std::lock_guard lock(m_);
  write_transaction t(*db_);
  if (auto why = body()) return why;  // (rolled back)
  db_->run("UPDATE revisions SET revision = revision + 1 WHERE what = 'rules'");
  t.commit();
  return std::nullopt;
}

folder_rules registry::rules() const {
  std::lock_guard lock(m_);
  folder_rules out;
  // (One read transaction would be tidier; the revision read first makes a change between the
  // reads show up as a newer revision at the next look, so it is read again then.)
  const auto rev = db_->query("SELECT revision FROM revisions WHERE what = 'rules'");
  out.revision = rev.empty() ? 0 : rev[0].integer(0);
  for (const auto& r : db_->query("SELECT path, consent, record FROM folders")) {
    out.folders.insert(r.text(0));
    folder_policy p{up::parse_consent(r.text(1)), r.integer(2) != 0};
    if (!p.empty()) out.policies.emplace(r.text(0), p);
  }
  for (const auto& r : db_->query("SELECT subject, folder, right_name, allow, granted_by, granted_at FROM rights")) {
    auto right = parse_folder_right(r.text(2));
    if (!right) continue;  // (a right of a newer version)
    out.rules.push_back({r.text(0), r.text(1), *right, r.integer(3) != 0, r.text(4), r.integer(5)});
  }
  for (const auto& r : db_->query("SELECT name, member FROM admin_groups")) out.groups[r.text(0)].insert(r.text(1));
  return out;
}

std::int64_t registry::rules_revision() const {
  std::lock_guard lock(m_);
  const auto rev = db_->query("SELECT revision FROM revisions WHERE what = 'rules'");
  return rev.empty() ? 0 : rev[0].integer(0);
}

std::map<std::string, std::string, std::less<>> registry::device_folders() const {
  std::lock_guard lock(m_);
  std::map<std::string, std::string, std::less<>> out;
  for (const auto& r : db_->query("SELECT id, folder FROM devices")) out.emplace(r.text(0), r.text(1));
  return out;
}

std::optional<std::string> registry::add_folder(const std::string& path, const std::string& by, std::int64_t now) {
  if (auto why = folder_path_error(path)) return why;
  return change_rules([&]() -> std::optional<std::string> {
    const auto parent = std::string(parent_folder(path));
    if (!parent.empty() && db_->query("SELECT 1 FROM folders WHERE path = ?1", {parent}).empty()) return "no folder " + parent + " to hold it";
    if (db_->run("INSERT INTO folders (path, created_by, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (path) DO NOTHING", {path, by, now}) != 1)
      return "folder " + path + " exists already";
    return std::nullopt;
  });
}

std::optional<std::string> registry::set_folder_policy(const std::string& path, std::optional<std::optional<up::consent_policy>> consent,
                                                      std::optional<bool> record) {
  return change_rules([&]() -> std::optional<std::string> {
    if (db_->query("SELECT 1 FROM folders WHERE path = ?1", {path}).empty()) return "no folder " + path;
    if (consent) db_->run("UPDATE folders SET consent = ?2 WHERE path = ?1", {path, *consent ? std::string(up::to_string(**consent)) : std::string()});
    if (record) db_->run("UPDATE folders SET record = ?2 WHERE path = ?1", {path, std::int64_t{*record ? 1 : 0}});
    return std::nullopt;
  });
}

std::optional<std::string> registry::remove_folder(const std::string& path) {
  return change_rules([&]() -> std::optional<std::string> {
    if (db_->query("SELECT 1 FROM folders WHERE path = ?1", {path}).empty()) return "no folder " + path;
    // (substr, not LIKE: a '_' in a name is no wildcard)
    const std::string below = path + "/";
    const std::int64_t n = static_cast<std::int64_t>(below.size());
    if (!db_->query("SELECT 1 FROM folders WHERE substr(path, 1, ?2) = ?1", {below, n}).empty())
      return "folder " + path + " holds folders: remove them first";
    // (Below it too: a device group of the config named like a folder below it is no row of `folders`.)
    if (!db_->query("SELECT 1 FROM devices WHERE folder = ?1 OR substr(folder, 1, ?3) = ?2", {path, below, n}).empty())
      return "folder " + path + " holds devices: move or remove them first";
    if (!db_->query("SELECT 1 FROM enrollment_keys WHERE (folder = ?1 OR substr(folder, 1, ?3) = ?2) AND used_by IS NULL", {path, below, n}).empty())
      return "unused enrollment keys enroll into folder " + path + ": delete them first";
    db_->run("DELETE FROM rights WHERE folder = ?1", {path});
    db_->run("DELETE FROM folders WHERE path = ?1", {path});
    return std::nullopt;
  });
}

std::variant<registry::moved, std::string> registry::move_device(const std::string& id, const std::string& folder, const std::string& from) {
  // (A device's folder decides who may reach it: the rules' revision counts the move.)
  auto why = change_rules([&]() -> std::optional<std::string> {
    const auto was = db_->query("SELECT folder FROM devices WHERE id = ?1", {id});
    if (was.empty()) return "no enrolled device " + id;
    if (was[0].text(0) != from) return "device " + id + " was moved meanwhile: look again";
    if (!folder.empty() && db_->query("SELECT 1 FROM folders WHERE path = ?1", {folder}).empty()) return "no folder " + folder;
    db_->run("UPDATE devices SET folder = ?2 WHERE id = ?1", {id, folder});
    return std::nullopt;
  });
  if (why) return *why;
  return moved{from};
}

std::optional<std::string> registry::put_rule(const folder_rule& r) {
  if (auto why = subject_error(r.subject)) return why;
  return change_rules([&]() -> std::optional<std::string> {
    if (!r.folder.empty() && db_->query("SELECT 1 FROM folders WHERE path = ?1", {r.folder}).empty()) return "no folder " + r.folder;
    db_->run("INSERT INTO rights (subject, folder, right_name, allow, granted_by, granted_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
             " ON CONFLICT (subject, folder, right_name) DO UPDATE SET allow = excluded.allow, granted_by = excluded.granted_by,"
             " granted_at = excluded.granted_at",
             {r.subject, r.folder, std::string(to_string(r.right)), std::int64_t{r.allow ? 1 : 0}, r.granted_by, r.granted_at});
    return std::nullopt;
  });
}

// (The boolean changes: false when nothing was there to change, and then nothing is counted.)
bool registry::remove_rule(const std::string& subject, const std::string& folder, folder_right r) {
  return !change_rules([&]() -> std::optional<std::string> {
    if (db_->run("DELETE FROM rights WHERE subject = ?1 AND folder = ?2 AND right_name = ?3", {subject, folder, std::string(to_string(r))}) == 0)
      return "none";
    return std::nullopt;
  });
}

bool registry::add_member(const std::string& group, const std::string& user) {
  return !change_rules([&]() -> std::optional<std::string> {
    if (db_->run("INSERT INTO admin_groups (name, member) VALUES (?1, ?2) ON CONFLICT (name, member) DO NOTHING", {group, user}) == 0) return "none";
    return std::nullopt;
  });
}

bool registry::remove_member(const std::string& group, const std::string& user) {
  return !change_rules([&]() -> std::optional<std::string> {
    if (db_->run("DELETE FROM admin_groups WHERE name = ?1 AND member = ?2", {group, user}) == 0) return "none";
    return std::nullopt;
  });
}

}  // namespace shadowlink::ums
