// The registry's cluster tables: nodes and device presence (registry.hpp).
#include "services/ums/registry.hpp"

#include <stdexcept>

namespace shadowlink::ums {

namespace {
constexpr const char* present =
    "SELECT p.device, p.node, n.url, p.via, p.os FROM presence p JOIN nodes n ON n.name = p.node WHERE n.seen >= ?1";

registry::presence presence_of_row(const sql_row& r) { return {r.text(1), r.text(2), r.text(3), r.text(4)}; }
}  // namespace

void registry::node_alive(const std::string& node, const std::string& url, std::int64_t now) {
  std::lock_guard lock(m_);
  db_->run("INSERT INTO nodes (name, url, seen) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO UPDATE SET url = excluded.url, seen = excluded.seen",
           {node, url, now});
}

std::int64_t registry::database_time_ms() const {
  std::lock_guard lock(m_);
  const auto rows = db_->query(db_->engine() == sql_engine::kind::postgresql ? "SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT"
                                                                            : "SELECT CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)");
  return rows.at(0).integer(0);
}

void registry::forget_nodes(std::int64_t before) {
  std::lock_guard lock(m_);
  db_->run("DELETE FROM nodes WHERE seen < ?1", {before});
}

void registry::clear_presence(const std::string& node) {
  std::lock_guard lock(m_);
  db_->run("DELETE FROM presence WHERE node = ?1", {node});
  db_->run("DELETE FROM sessions WHERE node = ?1", {node});
}

void registry::change_sessions(const std::string& node, const std::vector<std::pair<std::string, std::optional<session_row>>>& changes) {
  std::lock_guard lock(m_);
  write_transaction t(*db_);
  for (const auto& [id, row] : changes) {
    if (row)
      db_->run("INSERT INTO sessions (id, node, device, user_name, via, view_only, state, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
               " ON CONFLICT (id) DO UPDATE SET state = excluded.state",
               {id, node, row->device, row->user, row->via, std::int64_t{row->view_only}, row->state, row->created});
    else
      db_->run("DELETE FROM sessions WHERE id = ?1 AND node = ?2", {id, node});
  }
  t.commit();
}

std::vector<registry::session_row> registry::sessions(std::int64_t alive_since) const {
  std::lock_guard lock(m_);
  std::vector<session_row> out;
  for (const auto& r : db_->query("SELECT s.id, s.node, s.device, s.user_name, s.via, s.view_only, s.state, s.created FROM sessions s"
                                  " JOIN nodes n ON n.name = s.node WHERE n.seen >= ?1 ORDER BY s.created, s.id",
                                  {alive_since}))
    out.push_back({r.text(0), r.text(1), r.text(2), r.text(3), r.text(4), r.integer(5) != 0, r.text(6), r.integer(7)});
  return out;
}

void registry::set_presence(const std::string& device, const presence& where, std::int64_t now) {
  std::lock_guard lock(m_);
  db_->run("INSERT INTO presence (device, node, via, os, since) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (device) DO UPDATE SET"
           " node = excluded.node, via = excluded.via, os = excluded.os, since = excluded.since",
           {device, where.node, where.via, where.os, now});
}

void registry::drop_presence(const std::string& device, const std::string& node) {
  std::lock_guard lock(m_);
  db_->run("DELETE FROM presence WHERE device = ?1 AND node = ?2", {device, node});
}

void registry::change_presence(const std::string& node, const std::vector<std::pair<std::string, std::optional<presence>>>& changes,
                               std::int64_t now) {
  std::lock_guard lock(m_);
  write_transaction t(*db_);
  for (const auto& [device, where] : changes) {
    if (where)
      db_->run("INSERT INTO presence (device, node, via, os, since) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (device) DO UPDATE SET"
               " node = excluded.node, via = excluded.via, os = excluded.os, since = excluded.since",
               {device, where->node, where->via, where->os, now});
    else
      db_->run("DELETE FROM presence WHERE device = ?1 AND node = ?2", {device, node});
  }
  t.commit();
}

std::optional<registry::presence> registry::presence_of(const std::string& device, std::int64_t alive_since) const {
  std::lock_guard lock(m_);
  const auto rows = db_->query(std::string(present) + " AND p.device = ?2", {alive_since, device});
  if (rows.empty()) return std::nullopt;
  return presence_of_row(rows[0]);
}

std::map<std::string, registry::presence, std::less<>> registry::presences(std::int64_t alive_since) const {
  std::lock_guard lock(m_);
  std::map<std::string, presence, std::less<>> out;
  for (const auto& r : db_->query(present, {alive_since})) out.emplace(r.text(0), presence_of_row(r));
  return out;
}

std::map<std::string, std::string, std::less<>> registry::nodes(std::int64_t alive_since) const {
  std::lock_guard lock(m_);
  std::map<std::string, std::string, std::less<>> out;
  for (const auto& r : db_->query("SELECT name, url FROM nodes WHERE seen >= ?1", {alive_since})) out.emplace(r.text(0), r.text(1));
  return out;
}

void registry::notify(const std::string& channel, const std::string& payload) {
  if (db_->engine() != sql_engine::kind::postgresql) throw std::logic_error("notifications need the PostgreSQL registry");
  std::lock_guard lock(m_);
  db_->query("SELECT pg_notify(?1, ?2)", {channel, payload});
}

}  // namespace shadowlink::ums
