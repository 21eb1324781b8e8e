// Device certificates (SECURITY.md, "Device identity"): a device that has proven itself with its
// bootstrap credential sends a certificate request over its link (directly or relayed by its
// gateway); the UMS signs a client certificate naming the device and keeps its fingerprint as the
// only one that device may present. Revocation removes the record and closes the links it opened.
#include "framework/log.hpp"
#include "framework/offload.hpp"
#include "framework/on_exit.hpp"
#include "services/ums/ums_service.hpp"

#include <boost/json.hpp>

#include <ctime>

namespace shadowlink::ums {
namespace json = boost::json;

namespace {
// Signing costs a CA-key operation and a disk write: one certificate a minute per device is plenty
// (a device asks once at enrollment and again when a third of its validity is left).
constexpr auto reissue_after = std::chrono::minutes(1);
}  // namespace

// (A revocation waits for the change under way; the device's own requests never wait: one that
// finds a change under way, or a revocation waiting, is refused at once. So a device flooding
// requests cannot hold its revocation off.)
awaitable<void> ums_service::certificate_turn(std::string device) {
  ++certificates_revoking_[device];
  on_exit not_waiting([this, device] {
    if (auto w = certificates_revoking_.find(device); w != certificates_revoking_.end() && --w->second == 0) certificates_revoking_.erase(w);
  });
  const auto until = clock::now() + 10s;
  while (certificates_pending_.contains(device)) {
    if (clock::now() > until) throw std::runtime_error("another change of this device's certificate takes too long");
    co_await sleep_for(20ms);
  }
  certificates_pending_.insert(device);
}

awaitable<void> ums_service::store_certificate(std::string device, std::optional<issued_certificate> expected, issued_certificate c) {
  std::function<bool()> write = [this, device, expected, c] { return registry_->replace_certificate(device, expected, c); };
  if (!co_await offload(registry_thread_, std::move(write))) {
    co_await reread_certificate(device);
    throw std::runtime_error("the device's certificate record changed meanwhile (another request, or another node)");
  }
  certs_->apply(device, std::move(c));
}

awaitable<void> ums_service::reread_certificate(std::string device) {
  std::function<std::optional<issued_certificate>()> read = [this, device] { return registry_->certificate(device); };
  auto now = co_await offload(registry_thread_, std::move(read));
  if (now) certs_->apply(device, std::move(*now));
  else certs_->forget(device);
}

awaitable<void> ums_service::refresh_certificate(std::string device) {
  if (clustered()) co_await reread_certificate(std::move(device));  // (a single UMS's view is the registry's)
}

awaitable<bool> ums_service::certificate_accepted(std::string device, std::string common_name, std::string fingerprint) {
  if (common_name != device) co_return false;
  co_await learn_enrolled(device);
  if (!devices_.contains(device)) co_return false;
  try {
    co_await refresh_certificate(device);
  } catch (const std::exception& e) {
    log::warn(name_, "device ", device, ": cannot read its certificate's record: ", e.what());
    co_return false;
  }
  if (!certs_->accepts(device, fingerprint) || !devices_.contains(device)) co_return false;  // (a reload may have removed it meanwhile)
  if (auto next = certs_->next_presented(device, fingerprint)) {
    try {
      co_await store_certificate(device, certs_->record(device), std::move(*next));
    } catch (const std::exception& e) {
      log::warn(name_, "device ", device, ": ", e.what());  // (the previous certificate just stays accepted a while longer)
    }
    co_return certs_->accepts(device, fingerprint) && devices_.contains(device);  // (unless revoked meanwhile)
  }
  co_return true;
}

awaitable<void> ums_service::answer_certificate_request(std::string device, std::string csr) {
  auto* live = online_.find(device);
  if (!live || live->info.gw) co_return;
  const auto link = live->id;
  auto answer = co_await issue_certificate(device, std::move(csr), "direct", !live->info.fingerprint.empty());
  // (Only to the link that asked: the device may have reconnected meanwhile.)
  if (live = online_.find(device); live && live->id == link) live->l->send(answer);
}

awaitable<up::message> ums_service::issue_certificate(std::string device, std::string csr, std::string via, bool opened_by_certificate) {
  up::message out;
  out.type = up::kind::error;
  const auto refuse = [&](std::string why) {
    out.reason = "certificate request refused: " + why;
    log::warn(name_, "device ", device, " (", via, "): ", out.reason);
    return out;
  };
  // One change of a device's record at a time here: each decides from the record the one before
  // wrote (and writes only over the record it decided from: another node may change it too).
  std::string why;
  if (certificates_pending_.contains(device) || certificates_revoking_.contains(device))
    co_return refuse("a change of this device's certificate is under way");
  certificates_pending_.insert(device);
  on_exit done([this, device] { certificates_pending_.erase(device); });
  try {
    co_await refresh_certificate(device);
    const auto key = request_key_fingerprint(csr);
    auto* c = certs_->current(device);
    // A link its certificate opened renews that certificate's key, nothing else: knowing a
    // certificate (public) is not holding its key, and a gateway could claim any fingerprint.
    if (opened_by_certificate && (!c || key != c->key)) co_return refuse("a link opened by a certificate renews only that certificate's key");
    if (certs_->key_revoked(device, key)) co_return refuse("this key was revoked; the device must make a new one");
    if (c && std::chrono::system_clock::now() - c->issued < reissue_after) co_return refuse("this device got one less than a minute ago");
    auto pem = sign_client_certificate(env_.shared_dir, csr, device, certificate_days_);
    auto info = inspect_certificate(pem);
    const auto not_after = log::utc_iso(info.not_after);
    auto next = certs_->next_issued(device, info.fingerprint, info.key_fingerprint, not_after);
    co_await store_certificate(device, certs_->record(device), std::move(next));
    audit_->certificate("certificate_issued", device, info.fingerprint, "", via);
    log::info(name_, "device ", device, " enrolled (", via, "): certificate ", info.fingerprint.substr(0, 16), "… valid until ",
              log::utc_iso(info.not_after));
    out.type = up::kind::certificate;
    out.certificate = std::move(pem);
  } catch (const std::runtime_error& e) {
    why = e.what();
  }
  if (!why.empty()) co_return refuse(why);
  co_return out;
}

awaitable<std::string> ums_service::revoke_certificate_of(std::string device) {
  co_await certificate_turn(device);
  on_exit done([this, device] { certificates_pending_.erase(device); });
  // (Another node may change the record between our read and our write: read again and retry. A
  // write whose answer was lost, or another node's revocation meanwhile, leaves it revoked: the
  // certificate first found is the one revoked, and its links are dropped all the same.)
  std::string first;
  for (int attempt = 1;; ++attempt) {
    if (attempt == 1) co_await refresh_certificate(device);
    else co_await reread_certificate(device);  // (whatever failed: the registry's word now)
    auto next = certs_->next_revoked(device);
    if (!next) co_return first;
    const auto fingerprint = certs_->current(device)->fingerprint;
    if (first.empty()) first = fingerprint;
    bool written = true;
    try {
      co_await store_certificate(device, certs_->record(device), std::move(*next));
    } catch (const std::runtime_error&) {  // (changed meanwhile, or the database: a lost answer too)
      if (attempt == 3) throw;
      written = false;
    }
    if (written) co_return fingerprint;
  }
}

// DELETE /api/v1/devices/ID/certificate (admins, and managers of its folder): the device's certificate stops opening anything
// now; its links that it opened are closed, here and at every gateway.
awaitable<http_response> ums_service::revoke_certificate(const http_request& req, std::string_view device, const std::string& user) {
  const std::string id(device);
  co_await learn_enrolled(id);
  co_await read_rules(false);  // (moved through another node a moment ago)
  if (!may(user, folder_right::manage, folder_of(id)))
    co_return error_response(req, http::status::forbidden, "revoking a device certificate needs the admin role or the manage right on its folder");
  std::string fingerprint;
  try {
    fingerprint = co_await revoke_certificate_of(id);
  } catch (const std::runtime_error& e) {
    log::error(name_, "cannot revoke the certificate of ", id, ": ", e.what());
    co_return error_response(req, http::status::internal_server_error, "the revocation could not be recorded");
  }
  if (fingerprint.empty()) co_return error_response(req, http::status::not_found, "no certificate on record for this device");
  audit_->certificate("certificate_revoked", id, fingerprint, user, "");
  log::warn(name_, "certificate ", fingerprint.substr(0, 16), "… of device ", id, " revoked by ", user);
  drop_device(id, fingerprint, "device certificate revoked");
  co_return json_response(req, http::status::ok, json::serialize(json::object{{"device", id}, {"revoked", fingerprint}}));
}

void ums_service::drop_device(const std::string& id, const std::string& fingerprint, const std::string& why, bool from_node) {
  if (!from_node) tell_other_nodes(id, "drop", fingerprint, why);
  // Whatever opened the device's link goes: it comes back with what it still holds and is checked
  // anew. At its gateway by link id (a verdict, applied in whichever order it meets the gateway's
  // own), and every gateway by fingerprint.
  if (auto* e = online_.find(id)) {
    if (!e->info.gw) e->l->close(why);
    else if (e->info.gw->link) {
      up::message no;
      no.type = up::kind::device_rejected;
      no.device_id = id;
      no.link = e->info.remote;
      no.reason = why;
      e->info.gw->link->send(no);
    }
  }
  if (fingerprint.empty()) return;
  up::message m;
  m.type = up::kind::device_revoked;
  m.device_id = id;
  m.fingerprint = fingerprint;
  m.reason = why;
  for (auto& gw : gateways_)
    if (gw->link) gw->link->send(m);
}

}  // namespace shadowlink::ums
