// The registry's audit table: every node's audit records, for the cluster-wide trail (registry.hpp).
#include "services/ums/registry.hpp"

#include "framework/certs.hpp"

#include <boost/json.hpp>

#include <algorithm>

namespace shadowlink::ums {
namespace json = boost::json;

namespace {
std::string text_of(const json::object& r, std::string_view key) {
  const auto* v = r.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}
}  // namespace

std::string registry::add_audit(const std::string& node, const std::vector<std::string>& lines) {
  std::lock_guard lock(m_);
  std::string latest;
  for (const auto& line : lines) {
    json::error_code ec;
    auto v = json::parse(line, ec);
    if (ec || !v.is_object()) continue;  // (a line the journal did not write)
    // The same record always has the same digest, however often it is shipped.
    const auto record = json::serialize(v);
    const auto digest = sha256_fingerprint(reinterpret_cast<const unsigned char*>(record.data()), record.size());
    const auto& o = v.as_object();
    latest = std::max(latest, text_of(o, "time"));
    db_->run("INSERT INTO audit (node, digest, time, device, user_name, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
             " ON CONFLICT (node, digest) DO NOTHING",
             {node, digest, text_of(o, "time"), text_of(o, "device"), text_of(o, "user"), record});
  }
  return latest;
}

std::string registry::audit_latest(const std::string& node) const {
  std::lock_guard lock(m_);
  const auto rows = db_->query("SELECT time FROM audit WHERE node = ?1 ORDER BY time DESC LIMIT 1", {node});
  return rows.empty() ? std::string() : rows[0].text(0);
}

std::vector<std::string> registry::audit(const std::string& device, const std::string& user, const std::string& since,
                                         const std::string& until, std::size_t limit) const {
  std::lock_guard lock(m_);
  const auto rows = db_->query("SELECT node, record FROM audit WHERE (?1 = '' OR device = ?1) AND (?2 = '' OR user_name = ?2)"
                               " AND (?3 = '' OR time >= ?3) AND (?4 = '' OR time <= ?4) ORDER BY time DESC, node DESC, digest DESC LIMIT ?5",
                               {device, user, since, until, static_cast<std::int64_t>(limit)});
  std::vector<std::string> out;
  out.reserve(rows.size());
  for (auto it = rows.rbegin(); it != rows.rend(); ++it) {
    json::error_code ec;
    auto v = json::parse(it->text(1), ec);
    if (ec || !v.is_object()) continue;
    v.as_object()["node"] = it->text(0);
    out.push_back(json::serialize(v));
  }
  return out;
}

}  // namespace shadowlink::ums
