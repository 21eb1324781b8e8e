#pragma once
// The client certificate each device holds, as the UMS issued it: <data_dir>/device-certificates.json.
// A device that presents a certificate is accepted only if it is the one on record for it (or the
// one it replaced, until the new one is first presented: a renewal whose answer was lost does not
// lock the device out). Revoking removes both and remembers the key, which is never certified
// again for that device. The file is written whole (framework/certs.hpp) after every change,
// before the change is acted on.
#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace shadowlink::ums {

struct issued_certificate {
  std::string fingerprint;  // SHA-256 of the DER certificate (hex); empty after a revocation
  std::string previous;     // the certificate it replaced, still accepted until this one is presented
  std::string key;          // SHA-256 of its public key (SubjectPublicKeyInfo)
  std::string not_after;    // ISO 8601 UTC
  std::chrono::system_clock::time_point issued;
  std::vector<std::string> revoked_keys;  // never certified again (the latest 16)
};

class device_certificates {
 public:
  // Reads the file if it exists; throws std::runtime_error naming it if it cannot be read.
  explicit device_certificates(std::filesystem::path file);

  // The device's current certificate, or nullptr (none issued, or revoked).
  const issued_certificate* current(std::string_view device) const;
  bool accepts(std::string_view device, std::string_view fingerprint) const;
  bool key_revoked(std::string_view device, std::string_view key) const;
  // The current certificate was presented: the one it replaced is accepted no more.
  void presented(std::string_view device, std::string_view fingerprint);
  // Throws std::runtime_error if the record cannot be written (nothing changes then).
  void issue(const std::string& device, const std::string& fingerprint, const std::string& key, const std::string& not_after);
  // The revoked fingerprint (empty if there was nothing to revoke).
  std::string revoke(std::string_view device);

 private:
  using records = std::map<std::string, issued_certificate, std::less<>>;
  void commit(records next);
  std::filesystem::path file_;
  records records_;
};

}  // namespace shadowlink::ums
