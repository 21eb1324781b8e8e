// The device's own client certificate (SECURITY.md, "Device identity"). The key is made here and
// never leaves the device; the request goes over a link the credential has opened; the UMS signs.
// From then on the device presents the certificate in the TLS handshake and never sends its
// credential again (not even when a server says the certificate is refused), so nothing secret
// passes through a gateway. Renewed when a third of its validity is left.
#include "framework/certs.hpp"
#include "framework/log.hpp"
#include "services/device/agent.hpp"

#include <filesystem>

namespace shadowlink::device {
namespace fs = std::filesystem;

void agent::make_tls_client(bool with_certificate) {
  // Built whole before it replaces the current one: a failure leaves the agent as it was.
  std::unique_ptr<tls_client> fresh;
  std::optional<validity> presented;
  try {
    fresh = std::make_unique<tls_client>(make_trust(ca_file_, pin_));
    fresh->set_proxy(proxy_);
  } catch (const std::exception& e) {
    if (!tls_) throw;  // at start: the agent cannot work without it
    log::error(name_, "cannot renew the TLS settings: ", e.what());
    return;
  }
  std::error_code ec;
  if (with_certificate && fs::exists(cert_file(), ec) && fs::exists(key_file(), ec)) {
    try {
      const auto cert = read_file(cert_file()), key = read_file(key_file());
      const auto info = inspect_certificate(cert);
      std::string unusable;
      if (info.common_name != cfg_.device_id) unusable = "it names device " + info.common_name;
      else if (!key_matches_certificate(key, cert)) unusable = "it does not match device.key";
      else if (info.not_after <= std::chrono::system_clock::now()) unusable = "it has expired";
      if (unusable.empty()) {
        fresh->set_identity(cert, key);
        presented = validity{info.not_before, info.not_after};
      } else {
        log::warn(name_, "not presenting ", cert_file().string(), ": ", unusable, "; the credential is used instead");
      }
    } catch (const std::exception& e) {
      log::warn(name_, "not presenting ", cert_file().string(), ": ", e.what(), "; the credential is used instead");
    }
  }
  tls_ = std::move(fresh);
  certificate_ = presented;
}

void agent::request_certificate_if_due(up::link& link) {
  if (!cfg_.enroll || certificate_asked_) return;
  if (certificate_ && !renewal_due(certificate_->not_before, certificate_->not_after, std::chrono::system_clock::now())) return;
  certificate_asked_ = true;
  try {
    // A key made earlier (a request that got no answer) is used again: the device keeps one key
    // until a refusal of its certificate makes it start over.
    if (fs::exists(key_file())) pending_key_ = read_file(key_file());
    else {
      pending_key_ = make_private_key_pem();
      fs::create_directories(env_.data_dir);
      write_file_atomically(key_file(), pending_key_, true);
    }
    up::message m;
    m.type = up::kind::certificate_request;
    m.csr = make_certificate_request(pending_key_, cfg_.device_id);
    link.send(m);
    log::info(name_, certificate_ ? "renewing" : "requesting", " the device certificate");
  } catch (const std::exception& e) {
    log::error(name_, "cannot make a certificate request: ", e.what());
    pending_key_.clear();
  }
}

void agent::store_certificate(const up::message& m) {
  if (pending_key_.empty()) return;  // nothing asked for
  try {
    const auto info = inspect_certificate(m.certificate);
    if (info.common_name != cfg_.device_id || !key_matches_certificate(pending_key_, m.certificate))
      throw std::runtime_error("the certificate is not for this device's key");
    write_file_atomically(cert_file(), m.certificate, false);
    log::info(name_, "device certificate ", info.fingerprint.substr(0, 16), "… stored in ", cert_file().string(),
              "; it replaces the credential from the next connection on");
  } catch (const std::exception& e) {
    log::error(name_, "certificate from ", current_, " not stored: ", e.what());
    return;
  }
  pending_key_.clear();
  // From the next connection on (this link stays: nobody is cut off, no session is at risk).
  make_tls_client(true);
}

// A compromised gateway could claim that the certificate was refused, to make the device send its
// credential through it: so a refusal never brings the credential back. A revoked device stays out
// until someone who may touch it enrolls it again, with a new key (the revoked one may have leaked).
void agent::certificate_refused(std::string_view why) {
  if (told_certificate_refused_) return;  // the agent keeps trying (an administrator may undo a revocation), quietly
  told_certificate_refused_ = true;
  log::error(name_, current_, " refused the device certificate (", why,
             "); the device keeps presenting it and does not fall back to its credential. To enroll it again, move ",
             cert_file().string(), " and ", key_file().string(), " away and restart the agent with its credential");
}

}  // namespace shadowlink::device
