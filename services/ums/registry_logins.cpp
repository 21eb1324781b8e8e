// The registry's administrators made at run time, and every node's logins (registry.hpp).
#include "services/ums/registry.hpp"

namespace shadowlink::ums {

std::vector<registry::administrator> registry::administrators() const {
  std::lock_guard lock(m_);
  std::vector<administrator> out;
  for (const auto& r : db_->query("SELECT name, role, password_hash, created_by, created_at FROM administrators"))
    out.push_back({r.text(0), r.text(1), r.text(2), r.text(3), r.integer(4)});
  return out;
}

std::optional<std::string> registry::add_administrator(const administrator& a) {
  return change_rules([&]() -> std::optional<std::string> {
    if (db_->run("INSERT INTO administrators (name, role, password_hash, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5)"
                 " ON CONFLICT (name) DO NOTHING",
                 {a.name, a.role, a.password_hash, a.created_by, a.created_at}) != 1)
      return "administrator " + a.name + " exists already";
    return std::nullopt;
  });
}

bool registry::remove_administrator(const std::string& name) {
  return !change_rules([&]() -> std::optional<std::string> {
    if (db_->run("DELETE FROM administrators WHERE name = ?1", {name}) == 0) return "none";
    db_->run("DELETE FROM logins WHERE user_name = ?1", {name});
    db_->run("DELETE FROM api_tokens WHERE user_name = ?1", {name});
    // (Its rights, memberships and tokens go with it: another administrator made later under the name starts with none.)
    db_->run("DELETE FROM rights WHERE subject = ?1", {"user:" + name});
    db_->run("DELETE FROM admin_groups WHERE member = ?1", {name});
    return std::nullopt;
  });
}

std::vector<registry::api_token> registry::api_tokens() const {
  std::lock_guard lock(m_);
  std::vector<api_token> out;
  for (const auto& r : db_->query("SELECT token_sha256, user_name, created_by, created_at, expires_at FROM api_tokens"))
    out.push_back({r.text(0), r.text(1), r.text(2), r.integer(3), r.integer(4)});
  return out;
}

std::optional<std::string> registry::add_api_token(const api_token& t) {
  return change_rules([&]() -> std::optional<std::string> {
    // (Two tokens whose hashes share an id would make `delete ID` ambiguous: the second is refused.)
    if (!db_->query("SELECT 1 FROM api_tokens WHERE substr(token_sha256, 1, 12) = ?1", {t.id()}).empty()) return "an API token with that id exists already";
    db_->run("INSERT INTO api_tokens (token_sha256, user_name, created_by, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
             {t.sha256, t.user, t.created_by, t.created_at, t.expires_at});
    return std::nullopt;
  });
}

bool registry::remove_api_token(const std::string& id) {
  return !change_rules([&]() -> std::optional<std::string> {
    if (id.size() != 12 || db_->run("DELETE FROM api_tokens WHERE substr(token_sha256, 1, 12) = ?1", {id}) == 0) return "none";
    return std::nullopt;
  });
}

bool registry::set_password(const std::string& name, const std::string& password_hash) {
  return !change_rules([&]() -> std::optional<std::string> {
    if (db_->run("UPDATE administrators SET password_hash = ?2 WHERE name = ?1", {name, password_hash}) == 0) return "none";
    db_->run("DELETE FROM logins WHERE user_name = ?1", {name});
    return std::nullopt;
  });
}

void registry::add_login(const std::string& token_sha256, const login& l, std::int64_t now) {
  std::lock_guard lock(m_);
  db_->run("DELETE FROM logins WHERE expires <= ?1", {now});
  db_->run("INSERT INTO logins (token_sha256, user_name, password, expires, last_used) VALUES (?1, ?2, ?3, ?4, ?5)",
           {token_sha256, l.user, l.password, l.expires, now});
}

std::optional<registry::login> registry::check_login(const std::string& token_sha256, std::int64_t used_here, std::int64_t now,
                                                     std::int64_t idle_s) {
  std::lock_guard lock(m_);
  const auto rows = db_->query("SELECT user_name, expires, last_used, password FROM logins WHERE token_sha256 = ?1", {token_sha256});
  if (rows.empty()) return std::nullopt;
  login l{rows[0].text(0), rows[0].integer(1), std::max(rows[0].integer(2), used_here), rows[0].text(3)};
  if (l.expires <= now || now - l.last_used > idle_s) {
    db_->run("DELETE FROM logins WHERE token_sha256 = ?1", {token_sha256});
    return std::nullopt;
  }
  // (Used now: a login in use at any node is not idle at the others.)
  db_->run("UPDATE logins SET last_used = ?2 WHERE token_sha256 = ?1", {token_sha256, now});
  l.last_used = now;
  return l;
}

void registry::remove_login(const std::string& token_sha256) {
  std::lock_guard lock(m_);
  db_->run("DELETE FROM logins WHERE token_sha256 = ?1", {token_sha256});
}

void registry::remove_logins_of(const std::vector<std::string>& users) {
  std::lock_guard lock(m_);
  for (const auto& u : users) db_->run("DELETE FROM logins WHERE user_name = ?1", {u});
}

}  // namespace shadowlink::ums
