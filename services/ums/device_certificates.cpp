#include "services/ums/device_certificates.hpp"

#include "framework/certs.hpp"
#include "framework/token.hpp"

#include <simdjson.h>

#include <algorithm>
#include <stdexcept>

namespace shadowlink::ums {

namespace {
constexpr std::size_t revoked_keys_kept = 16;
}

namespace {
// The file an earlier version kept the records in.
std::map<std::string, issued_certificate, std::less<>> read_earlier_file(const std::filesystem::path& file) {
  std::map<std::string, issued_certificate, std::less<>> out;
  const auto text = read_file(file);
  simdjson::dom::parser p;
  simdjson::dom::object devices;
  if (p.parse(text).get_object()["devices"].get(devices))
    throw std::runtime_error(file.string() + ": expected {\"devices\": {ID: {\"fingerprint\": ..., ...}}}");
  for (auto [id, v] : devices) {
    issued_certificate c;
    std::string_view fp, previous, key, not_after;
    std::int64_t issued = 0;
    simdjson::dom::array revoked;
    if (v["fingerprint"].get(fp) || v["issued"].get(issued))
      throw std::runtime_error(file.string() + ": the record of device " + std::string(id) + " has no fingerprint or issue time");
    // Fields a record may lack (written by an earlier version): their defaults.
    auto optional = [&](const char* field, std::string_view& out) {
      if (v[field].get(out)) out = {};
    };
    optional("previous", previous);
    optional("key", key);
    optional("not_after", not_after);
    c.fingerprint = fp;
    c.previous = previous;
    c.key = key;
    c.not_after = not_after;
    c.issued = std::chrono::system_clock::time_point(std::chrono::seconds(issued));
    if (!v["revoked_keys"].get(revoked))
      for (auto k : revoked) {
        std::string_view s;
        if (k.get(s)) throw std::runtime_error(file.string() + ": device " + std::string(id) + ": revoked_keys must be strings");
        c.revoked_keys.emplace_back(s);
      }
    out.emplace(std::string(id), std::move(c));
  }
  return out;
}
}  // namespace

device_certificates::device_certificates(registry& r, const std::filesystem::path& earlier_file) : records_(r.certificates()) {
  if (!std::filesystem::exists(earlier_file)) return;
  for (auto& [id, c] : read_earlier_file(earlier_file)) {
    if (records_.contains(id)) continue;  // (the registry's word is newer)
    r.put_certificate(id, c);
    records_.emplace(id, std::move(c));
    ++imported_;
  }
  auto moved = earlier_file;
  moved += ".imported";
  std::filesystem::rename(earlier_file, moved);
}

const issued_certificate* device_certificates::current(std::string_view device) const {
  auto it = records_.find(device);
  return it == records_.end() || it->second.fingerprint.empty() ? nullptr : &it->second;
}

bool device_certificates::accepts(std::string_view device, std::string_view fingerprint) const {
  auto* c = current(device);
  return c && !fingerprint.empty() &&
         (tokens_equal(c->fingerprint, fingerprint) || (!c->previous.empty() && tokens_equal(c->previous, fingerprint)));
}

bool device_certificates::key_revoked(std::string_view device, std::string_view key) const {
  auto it = records_.find(device);
  return it != records_.end() && std::find(it->second.revoked_keys.begin(), it->second.revoked_keys.end(), key) != it->second.revoked_keys.end();
}

std::optional<issued_certificate> device_certificates::next_presented(std::string_view device, std::string_view fingerprint) const {
  auto* c = current(device);
  if (!c || c->previous.empty() || c->fingerprint != fingerprint) return std::nullopt;
  auto next = *c;
  next.previous.clear();
  return next;
}

issued_certificate device_certificates::next_issued(std::string_view device, const std::string& fingerprint, const std::string& key,
                                                    const std::string& not_after) const {
  auto it = records_.find(device);
  auto c = it == records_.end() ? issued_certificate{} : it->second;
  // The certificate being replaced stays accepted until the new one is presented; one that was
  // itself never presented is dropped (at most one older certificate is ever accepted).
  c.previous = c.previous.empty() ? c.fingerprint : c.previous;
  c.fingerprint = fingerprint;
  c.key = key;
  c.not_after = not_after;
  c.issued = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());  // (as the registry keeps it)
  return c;
}

std::optional<issued_certificate> device_certificates::next_revoked(std::string_view device) const {
  auto* c = current(device);
  if (!c) return std::nullopt;
  auto r = *c;
  if (!r.key.empty() && std::find(r.revoked_keys.begin(), r.revoked_keys.end(), r.key) == r.revoked_keys.end()) r.revoked_keys.push_back(r.key);
  if (r.revoked_keys.size() > revoked_keys_kept) r.revoked_keys.erase(r.revoked_keys.begin());
  r.fingerprint.clear();
  r.previous.clear();
  r.key.clear();
  r.not_after.clear();
  return r;
}

void device_certificates::forget(std::string_view device) {
  if (auto it = records_.find(device); it != records_.end()) records_.erase(it);
}

}  // namespace shadowlink::ums
