// Enrollment keys (README "Enrolling devices with a key"): an administrator makes a one-time key,
// optionally for a folder (a device group); a device agent that is not configured presents it
// once as its credential, over its own link or through a gateway, and is in the registry from
// then on — the key is its credential until it holds its certificate, and no other device's.
#include "framework/log.hpp"
#include "framework/offload.hpp"
#include "framework/token.hpp"
#include "services/ums/rest_helpers.hpp"
#include "services/ums/ums_service.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <functional>
#include <simdjson.h>

namespace shadowlink::ums {
namespace json = boost::json;

namespace {

// A device id an enrollment may create: what a log line, a file name and a URL take unescaped.
bool plausible_device_id(std::string_view id) {
  return !id.empty() && id.size() <= 64 &&
         id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == std::string_view::npos &&
         id.front() != '.' && id.front() != '-';
}

constexpr std::int64_t default_validity_s = 24 * 3600, max_validity_s = 30 * 24 * 3600;

}  // namespace

device_record ums_service::enrolled_record(const registry::device& d, const device_groups& groups) const {
  device_record r;
  r.id = d.id;
  r.name = d.name;
  r.credential_sha256 = d.key_sha256;
  apply_policy(r, d.folder, groups);
  r.reported = d.last;
  return r;
}

void ums_service::apply_policy(device_record& r, std::string_view folder, const device_groups& groups) const {
  const auto own = rules_.policy_of(folder);
  auto consent = groups.consent_of(r.id);
  if (own.consent) consent = consent ? up::strictest(*consent, *own.consent) : *own.consent;
  r.consent = consent.value_or(up::consent_policy::ask);
  r.record = groups.records(r.id) || own.record;
}

void ums_service::add_enrolled(std::map<std::string, device_record, std::less<>>& devices, device_groups& groups) const {
  for (const auto& [id, d] : enrolled_) {
    if (devices.contains(d.id)) continue;  // configured as well: the config's entry stands
    if (!d.folder.empty() && groups.exists(d.folder)) groups.add_member(d.folder, d.id);
    devices.emplace(d.id, enrolled_record(d, groups));
  }
}

awaitable<void> ums_service::learn_enrolled(std::string id) {
  if (!clustered() || devices_.contains(id) || !plausible_device_id(id)) co_return;
  const auto asked = clock::now();
  std::function<std::optional<registry::device>()> read = [this, id] { return registry_->enrolled(id); };
  std::optional<registry::device> d;
  try {
    d = co_await offload(registry_thread_, std::move(read));
  } catch (const std::exception& e) {
    log::warn(name_, "cannot look device ", id, " up in the registry: ", e.what());
  }
  if (d) know_enrolled(*d, asked);
}

void ums_service::know_enrolled(const registry::device& d, clock::time_point read_at) {
  if (devices_.contains(d.id)) return;  // (a reload or an enrollment here came first)
  // (Read before another node's word that it was removed came: that word is newer.)
  if (auto f = forgotten_.find(d.id); f != forgotten_.end() && f->second >= read_at) return;
  enrolled_.insert_or_assign(d.id, d);
  if (!d.folder.empty() && groups_.exists(d.folder)) groups_.add_member(d.folder, d.id);
  devices_.emplace(d.id, enrolled_record(d, groups_));
  log::info(name_, "device ", d.id, " is in the registry (enrolled through another node, or imported): known here from now on");
}

awaitable<void> ums_service::learn_all_enrolled(bool even_alone) {
  if (!registry_ || (!clustered() && !even_alone)) co_return;
  std::function<std::vector<registry::device>()> read = [this] { return registry_->devices(); };
  const auto asked = clock::now();
  std::vector<registry::device> all;
  try {
    all = co_await offload(registry_thread_, std::move(read));
  } catch (const std::exception& e) {
    log::warn(name_, "cannot read the registry's devices: ", e.what());
  }
  for (const auto& d : all) know_enrolled(d, asked);
}

void ums_service::forget_enrolled(const std::string& id, const std::string& why) {
  auto d = devices_.find(id);
  if (d == devices_.end() || !is_enrolled(d->second)) return;  // (a configured device stays)
  if (const auto& folder = enrolled_.at(id).folder; !folder.empty()) groups_.remove_member(folder, id);
  enrolled_.erase(id);
  devices_.erase(d);
  certs_->forget(id);
  // Remembered a while, so that a registry read begun before this does not bring it back.
  const auto now = clock::now();
  std::erase_if(forgotten_, [now](const auto& f) { return now - f.second > 5min; });
  forgotten_.insert_or_assign(id, now);
  for (auto& [sid, s] : sessions_)
    if (s->device_id == id) s->stop(why);
  log::info(name_, "device ", id, " forgotten: ", why);
}

bool ums_service::is_enrolled(const device_record& d) const {
  auto e = enrolled_.find(d.id);
  return e != enrolled_.end() && e->second.key_sha256 == d.credential_sha256;
}

awaitable<bool> ums_service::device_credential_accepted(const std::string& id, const std::string& credential, std::string_view from) {
  if (auto d = devices_.find(id); d != devices_.end()) {
    if (!d->second.accepts(credential)) co_return false;
    // An enrolled device's key opens its links only until it holds its certificate: a key file
    // read later must not let anyone else in as the device, nor get a certificate for their key.
    try {
      co_await refresh_certificate(id);
    } catch (const std::exception& e) {
      log::warn(name_, "device ", id, " from ", from, " refused: its certificate's record cannot be read: ", e.what());
      co_return false;
    }
    if (d = devices_.find(id); d != devices_.end() && is_enrolled(d->second) && clustered()) {
      // In a cluster another node may have removed it: its key opens nothing once it is gone.
      std::function<std::optional<registry::device>()> read = [this, id] { return registry_->enrolled(id); };
      std::optional<registry::device> now;
      bool read_failed = false;
      try {
        now = co_await offload(registry_thread_, std::move(read));
      } catch (const std::exception& e) {
        log::warn(name_, "device ", id, " from ", from, " refused: the registry cannot be read: ", e.what());
        read_failed = true;
      }
      if (read_failed) co_return false;
      if (d = devices_.find(id); d == devices_.end()) co_return false;
      if (!now || now->key_sha256 != d->second.credential_sha256) {
        forget_enrolled(id, "no longer in the registry");
        co_return false;
      }
    }
    if (d = devices_.find(id); d == devices_.end()) co_return false;
    if (is_enrolled(d->second) && certs_->current(id)) {
      log::warn(name_, "device ", id, " from ", from, " refused: its enrollment key is used up (the device holds a certificate)");
      co_return false;
    }
    co_return true;
  }
  if (!registry_ || credential.empty() || !plausible_device_id(id)) co_return false;
  using outcome = std::variant<registry::device, std::string>;
  outcome result;
  try {
    // (Named, not made inside the co_await expression: g++ 12 miscompiles such lambdas' captures.)
    // (The cluster's clock: check_links compares it with the time of its own reads.)
    std::function<outcome()> enroll = [this, credential, id] { return registry_->enroll(credential, id, id, cluster_now()); };
    result = co_await offload(registry_thread_, std::move(enroll));
  } catch (const std::exception& e) {
    log::error(name_, "cannot enroll device ", id, ": ", e.what());
    co_return false;
  }
  if (auto* why = std::get_if<std::string>(&result)) {
    log::warn(name_, "enrollment of device ", id, " from ", from, " refused: ", *why);
    co_return false;
  }
  const auto& d = std::get<registry::device>(result);
  // A certificate on record for this id (a device once configured under it) is not the new
  // device's: it is revoked, so that only the certificate the new device gets opens links.
  try {
    if (auto old = co_await revoke_certificate_of(d.id); !old.empty()) {
      drop_device(d.id, old, "device enrolled anew");
      log::warn(name_, "certificate ", old.substr(0, 16), "… on record for ", d.id, " revoked: the id is enrolled anew");
    }
  } catch (const std::runtime_error& e) {
    log::error(name_, "cannot revoke the old certificate of ", d.id, ": ", e.what());
  }
  enrolled_.insert_or_assign(d.id, d);
  if (!d.folder.empty() && groups_.exists(d.folder)) groups_.add_member(d.folder, d.id);
  // (A reload meanwhile may have configured the same id: the config's entry stands.)
  devices_.emplace(d.id, enrolled_record(d, groups_));
  audit_->registry_change({{"event", "device_enrolled"}, {"device", d.id}, {"key", d.key_sha256.substr(0, 12)}, {"folder", d.folder}, {"via", from}});
  log::info(name_, "device ", d.id, " enrolled from ", from, " with key ", d.key_sha256.substr(0, 12),
            d.folder.empty() ? std::string() : " into folder " + d.folder);
  co_return devices_.at(d.id).accepts(credential);
}

awaitable<http_response> ums_service::remove_enrolled(const http_request& req, std::string_view device, const std::string& user) {
  const std::string id(device);
  co_await learn_enrolled(id);
  co_await read_rules(false);  // (moved through another node a moment ago)
  if (!may(user, folder_right::manage, folder_of(id)))
    co_return error_response(req, http::status::forbidden, "removing a device needs the admin role or the manage right on its folder");
  auto e = enrolled_.find(id);
  if (e == enrolled_.end())
    co_return error_response(req, http::status::not_found, "no enrolled device with this id (configured devices are removed from the config file)");
  const std::string key_sha256 = e->second.key_sha256;
  try {
    std::function<bool()> remove = [this, id] { return registry_->remove_device(id); };
    co_await offload(registry_thread_, std::move(remove));
  } catch (const std::runtime_error& ex) {
    log::error(name_, "cannot remove device ", id, ": ", ex.what());
    co_return error_response(req, http::status::internal_server_error, "the registry could not be written");
  }
  // (Looked up again: the list may have changed while the registry was written.)
  std::string folder;
  if (auto gone = enrolled_.find(id); gone != enrolled_.end()) {
    folder = gone->second.folder;
    enrolled_.erase(gone);
  }
  // The config's own entry for the same id, if any, stays with its certificate, links and sessions.
  auto d = devices_.find(id);
  const bool configured = d == devices_.end() || d->second.credential_sha256 != key_sha256;
  std::string fingerprint;
  if (!configured) {
    devices_.erase(d);
    if (!folder.empty()) groups_.remove_member(folder, id);
    try {
      fingerprint = co_await revoke_certificate_of(id);
    } catch (const std::runtime_error& ex) {
      log::error(name_, "cannot revoke the certificate of removed device ", id, ": ", ex.what());
    }
    drop_device(id, fingerprint, "device removed");
    tell_other_nodes(id, "forget", fingerprint, "device removed");
    for (auto& [sid, s] : sessions_)
      if (s->device_id == id) s->stop("device removed");
    if (!fingerprint.empty()) audit_->certificate("certificate_revoked", id, fingerprint, user, "");
  }
  audit_->registry_change({{"event", "device_removed"}, {"device", id}, {"user", user}});
  log::warn(name_, "enrolled device ", id, " removed by ", user, configured ? " (the device configured under its id stays)" : "");
  co_return no_content(req);
}

// POST /api/v1/enrollment-keys {"folder": G, "valid_for_s": N}, GET /api/v1/enrollment-keys,
// DELETE /api/v1/enrollment-keys/ID: admins, and whoever has the manage right on the key's folder
// (the root's: keys for no folder).
awaitable<http_response> ums_service::enrollment_keys(const http_request& req, std::string_view path, const std::string& user) {
  if (auth_.rights_of(user).r != role::admin && !rules_.allows_somewhere(user, folder_right::manage))
    co_return error_response(req, http::status::forbidden, "enrollment keys need the admin role or the manage right on a folder");
  if (!registry_) co_return error_response(req, http::status::service_unavailable, "the registry is not open");
  constexpr std::string_view base = "/api/v1/enrollment-keys";
  const auto rest = path.substr(base.size());
  try {
    if (rest.empty() && req.method() == http::verb::get) {
      std::function<std::vector<registry::enrollment_key>()> read = [this] { return registry_->keys(); };
      auto keys = co_await offload(registry_thread_, std::move(read));
      json::array out;
      const auto now = unix_now();
      for (const auto& k : keys)
        if (may(user, folder_right::manage, k.folder))
          out.push_back(json::object{{"id", k.id},
                                   {"folder", k.folder},
                                   {"created_by", k.created_by},
                                   {"created_at", iso(k.created_at)},
                                   {"expires_at", iso(k.expires_at)},
                                   {"state", !k.used_by.empty() ? "used" : k.expires_at <= now ? "expired" : "unused"},
                                   {"used_by", k.used_by},
                                   {"used_at", k.used_at ? iso(k.used_at) : ""}});
      co_return json_response(req, http::status::ok, json::serialize(json::object{{"enrollment_keys", std::move(out)}}));
    }
    if (rest.empty() && req.method() == http::verb::post) {
      simdjson::dom::parser parser;
      simdjson::dom::element body;
      std::string_view folder;
      std::int64_t valid_for = default_validity_s;
      if (!req.body().empty()) {
        if (parser.parse(req.body()).get(body) || !body.is_object())
          co_return error_response(req, http::status::bad_request, "expected a JSON object");
        if (auto f = body["folder"]; !f.error() && f.get(folder))
          co_return error_response(req, http::status::bad_request, "folder must be a string");
        if (auto v = body["valid_for_s"]; !v.error() && v.get(valid_for))
          co_return error_response(req, http::status::bad_request, "valid_for_s must be a whole number of seconds");
      }
      if (valid_for < 1 || valid_for > max_validity_s)
        co_return error_response(req, http::status::bad_request, "valid_for_s must be 1 to " + std::to_string(max_validity_s) + " (30 days)");
      // (The right first: whoever may not make keys there learns nothing of what is there.)
      if (!may(user, folder_right::manage, folder))
        co_return error_response(req, http::status::forbidden, "enrollment keys for this folder need the manage right on it");
      // (A folder of the registry's tree, or a device group of the config.)
      if (!folder.empty() && !groups_.exists(folder) && !rules_.exists(folder))
        co_return error_response(req, http::status::bad_request, "no folder or device group named " + std::string(folder.substr(0, 64)));
      const auto now = unix_now();
      std::function<std::pair<std::string, registry::enrollment_key>()> create = [this, f = std::string(folder), user, now, valid_for] {
        return registry_->create_key(f, user, now, now + valid_for);
      };
      auto made = co_await offload(registry_thread_, std::move(create));
      audit_->registry_change({{"event", "enrollment_key_created"}, {"key", made.second.id}, {"user", user},
                               {"folder", made.second.folder}, {"expires_at", iso(made.second.expires_at)}});
      log::info(name_, "enrollment key ", made.second.id, " made by ", user, folder.empty() ? "" : " for folder ", folder,
                ", valid until ", iso(made.second.expires_at));
      co_return json_response(req, http::status::created,
                              json::serialize(json::object{{"key", made.first},
                                                           {"id", made.second.id},
                                                           {"folder", made.second.folder},
                                                           {"expires_at", iso(made.second.expires_at)}}));
    }
    if (rest.starts_with("/") && req.method() == http::verb::delete_) {
      const std::string id(rest.substr(1));
      if (auth_.rights_of(user).r != role::admin) {
        std::function<std::vector<registry::enrollment_key>()> read = [this] { return registry_->keys(); };
        const auto keys = co_await offload(registry_thread_, std::move(read));
        auto k = std::find_if(keys.begin(), keys.end(), [&id](const registry::enrollment_key& key) { return key.id == id; });
        if (k == keys.end() || !may(user, folder_right::manage, k->folder))
          co_return error_response(req, http::status::not_found, "no unused enrollment key with this id");
      }
      std::function<bool()> remove = [this, id] { return registry_->delete_key(id); };
      const bool gone = co_await offload(registry_thread_, std::move(remove));
      if (!gone) co_return error_response(req, http::status::not_found, "no unused enrollment key with this id");
      audit_->registry_change({{"event", "enrollment_key_deleted"}, {"key", id}, {"user", user}});
      log::info(name_, "enrollment key ", id, " deleted by ", user);
      co_return no_content(req);
    }
  } catch (const std::runtime_error& e) {
    log::error(name_, "registry: ", e.what());
    co_return error_response(req, http::status::internal_server_error, "the registry could not be read or written");
  }
  co_return error_response(req, http::status::method_not_allowed, "GET, POST or DELETE /api/v1/enrollment-keys[/ID]");
}

}  // namespace shadowlink::ums
