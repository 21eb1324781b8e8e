// The registry's device certificates (registry.hpp): one row per device, revoked keys as one
// space-separated column (a short list, always read and written whole).
#include "services/ums/registry.hpp"

#include <sstream>

namespace shadowlink::ums {

namespace {
constexpr const char* columns = "SELECT device, fingerprint, previous, key, not_after, issued, revoked_keys FROM device_certificates";

issued_certificate certificate_of(const sql_row& r) {
  issued_certificate c{r.text(1), r.text(2), r.text(3), r.text(4), std::chrono::system_clock::time_point(std::chrono::seconds(r.integer(5))), {}};
  std::istringstream keys(r.text(6));
  for (std::string k; keys >> k;) c.revoked_keys.push_back(k);
  return c;
}
}  // namespace

std::map<std::string, issued_certificate, std::less<>> registry::certificates() const {
  std::lock_guard lock(m_);
  std::map<std::string, issued_certificate, std::less<>> out;
  for (const auto& r : db_->query(columns)) out.emplace(r.text(0), certificate_of(r));
  return out;
}

std::optional<issued_certificate> registry::certificate(const std::string& device) const {
  std::lock_guard lock(m_);
  return certificate_unlocked(device);
}

std::optional<issued_certificate> registry::certificate_unlocked(const std::string& device) const {
  const auto rows = db_->query(std::string(columns) + " WHERE device = ?1", {device});
  if (rows.empty()) return std::nullopt;
  return certificate_of(rows[0]);
}

namespace {
bool same_record(const issued_certificate& a, const issued_certificate& b) {
  return a.fingerprint == b.fingerprint && a.previous == b.previous && a.key == b.key && a.revoked_keys == b.revoked_keys &&
         std::chrono::floor<std::chrono::seconds>(a.issued) == std::chrono::floor<std::chrono::seconds>(b.issued);
}
}  // namespace

bool registry::replace_certificate(const std::string& device, const std::optional<issued_certificate>& expected, const issued_certificate& c) {
  std::lock_guard lock(m_);
  write_transaction t(*db_);
  const auto now = certificate_unlocked(device);
  if (now.has_value() != expected.has_value() || (now && !same_record(*now, *expected))) return false;
  put_certificate_unlocked(device, c);
  t.commit();
  return true;
}

void registry::put_certificate(const std::string& device, const issued_certificate& c) {
  std::lock_guard lock(m_);
  put_certificate_unlocked(device, c);
}

void registry::put_certificate_unlocked(const std::string& device, const issued_certificate& c) {
  std::string keys;
  for (const auto& k : c.revoked_keys) keys += (keys.empty() ? "" : " ") + k;
  const std::int64_t issued = std::chrono::duration_cast<std::chrono::seconds>(c.issued.time_since_epoch()).count();
  db_->run("INSERT INTO device_certificates (device, fingerprint, previous, key, not_after, issued, revoked_keys)"
           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (device) DO UPDATE SET fingerprint = excluded.fingerprint,"
           " previous = excluded.previous, key = excluded.key, not_after = excluded.not_after, issued = excluded.issued,"
           " revoked_keys = excluded.revoked_keys",
           {device, c.fingerprint, c.previous, c.key, c.not_after, issued, keys});
}

}  // namespace shadowlink::ums
