// Device certificates (SECURITY.md, "Device identity"): a device that has proven itself with its
// bootstrap credential sends a certificate request over its link (directly or relayed by its
// gateway); the UMS signs a client certificate naming the device and keeps its fingerprint as the
// only one that device may present. Revocation removes the record and closes the links it opened.
#include "framework/log.hpp"
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

bool ums_service::certificate_accepted(std::string_view device, std::string_view common_name, std::string_view fingerprint) {
  if (common_name != device || !devices_.contains(device) || !certs_->accepts(device, fingerprint)) return false;
  try {
    certs_->presented(device, fingerprint);
  } catch (const std::runtime_error& e) {
    log::warn(name_, "device ", device, ": ", e.what());  // (the previous certificate just stays accepted a while longer)
  }
  return true;
}

up::message ums_service::issue_certificate(const std::string& device, const std::string& csr, std::string_view via,
                                           bool opened_by_certificate) {
  up::message out;
  out.type = up::kind::error;
  const auto refuse = [&](std::string why) {
    out.reason = "certificate request refused: " + why;
    log::warn(name_, "device ", device, " (", via, "): ", out.reason);
    return out;
  };
  try {
    const auto key = request_key_fingerprint(csr);
    auto* c = certs_->current(device);
    // A link its certificate opened renews that certificate's key, nothing else: knowing a
    // certificate (public) is not holding its key, and a gateway could claim any fingerprint.
    if (opened_by_certificate && (!c || key != c->key)) return refuse("a link opened by a certificate renews only that certificate's key");
    if (certs_->key_revoked(device, key)) return refuse("this key was revoked; the device must make a new one");
    if (c && std::chrono::system_clock::now() - c->issued < reissue_after) return refuse("this device got one less than a minute ago");
    auto pem = sign_client_certificate(env_.shared_dir, csr, device, certificate_days_);
    auto info = inspect_certificate(pem);
    certs_->issue(device, info.fingerprint, info.key_fingerprint, log::utc_iso(info.not_after));
    audit_->certificate("certificate_issued", device, info.fingerprint, "", via);
    log::info(name_, "device ", device, " enrolled (", via, "): certificate ", info.fingerprint.substr(0, 16), "… valid until ",
              log::utc_iso(info.not_after));
    out.type = up::kind::certificate;
    out.certificate = std::move(pem);
  } catch (const std::runtime_error& e) {
    return refuse(e.what());
  }
  return out;
}

// DELETE /api/v1/devices/ID/certificate (admins): the device's certificate stops opening anything
// now; its links that it opened are closed, here and at every gateway.
awaitable<http_response> ums_service::revoke_certificate(const http_request& req, std::string_view device, const std::string& user) {
  if (auth_.rights_of(user).r != role::admin)
    co_return error_response(req, http::status::forbidden, "revoking a device certificate needs the admin role");
  const std::string id(device);
  std::string fingerprint;
  try {
    fingerprint = certs_->revoke(id);
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

void ums_service::drop_device(const std::string& id, const std::string& fingerprint, const std::string& why) {
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
