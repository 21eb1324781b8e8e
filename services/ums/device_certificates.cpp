#include "services/ums/device_certificates.hpp"

#include "framework/certs.hpp"
#include "framework/token.hpp"

#include <boost/json.hpp>
#include <simdjson.h>

#include <algorithm>
#include <stdexcept>

namespace shadowlink::ums {
namespace json = boost::json;

namespace {
constexpr std::size_t revoked_keys_kept = 16;
}

device_certificates::device_certificates(std::filesystem::path file) : file_(std::move(file)) {
  if (!std::filesystem::exists(file_)) return;
  const auto text = read_file(file_);
  simdjson::dom::parser p;
  simdjson::dom::object devices;
  if (p.parse(text).get_object()["devices"].get(devices))
    throw std::runtime_error(file_.string() + ": expected {\"devices\": {ID: {\"fingerprint\": ..., ...}}}");
  for (auto [id, v] : devices) {
    issued_certificate c;
    std::string_view fp, previous, key, not_after;
    std::int64_t issued = 0;
    simdjson::dom::array revoked;
    if (v["fingerprint"].get(fp) || v["issued"].get(issued))
      throw std::runtime_error(file_.string() + ": the record of device " + std::string(id) + " has no fingerprint or issue time");
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
        if (k.get(s)) throw std::runtime_error(file_.string() + ": device " + std::string(id) + ": revoked_keys must be strings");
        c.revoked_keys.emplace_back(s);
      }
    records_.emplace(std::string(id), std::move(c));
  }
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

void device_certificates::presented(std::string_view device, std::string_view fingerprint) {
  auto* c = current(device);
  if (!c || c->previous.empty() || c->fingerprint != fingerprint) return;
  auto next = records_;
  next.find(device)->second.previous.clear();
  commit(std::move(next));
}

void device_certificates::issue(const std::string& device, const std::string& fingerprint, const std::string& key,
                                const std::string& not_after) {
  auto next = records_;
  auto& c = next[device];
  // The certificate being replaced stays accepted until the new one is presented; one that was
  // itself never presented is dropped (at most one older certificate is ever accepted).
  c.previous = c.previous.empty() ? c.fingerprint : c.previous;
  c.fingerprint = fingerprint;
  c.key = key;
  c.not_after = not_after;
  c.issued = std::chrono::system_clock::now();
  commit(std::move(next));
}

std::string device_certificates::revoke(std::string_view device) {
  auto* c = current(device);
  if (!c) return {};
  auto next = records_;
  auto& r = next.find(device)->second;
  const std::string fingerprint = r.fingerprint;
  if (!r.key.empty() && std::find(r.revoked_keys.begin(), r.revoked_keys.end(), r.key) == r.revoked_keys.end()) r.revoked_keys.push_back(r.key);
  if (r.revoked_keys.size() > revoked_keys_kept) r.revoked_keys.erase(r.revoked_keys.begin());
  r.fingerprint.clear();
  r.previous.clear();
  r.key.clear();
  r.not_after.clear();
  commit(std::move(next));
  return fingerprint;
}

void device_certificates::commit(records next) {
  json::object devices;
  for (auto& [id, c] : next) {
    json::array revoked;
    for (auto& k : c.revoked_keys) revoked.emplace_back(k);
    devices[id] = json::object{{"fingerprint", c.fingerprint},
                               {"previous", c.previous},
                               {"key", c.key},
                               {"not_after", c.not_after},
                               {"issued", std::chrono::duration_cast<std::chrono::seconds>(c.issued.time_since_epoch()).count()},
                               {"revoked_keys", std::move(revoked)}};
  }
  write_file_atomically(file_, json::serialize(json::object{{"devices", devices}}) + "\n", true);
  records_ = std::move(next);
}

}  // namespace shadowlink::ums
