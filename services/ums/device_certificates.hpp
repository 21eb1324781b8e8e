#pragma once
// The client certificate each device holds, as the UMS issued it, kept in the registry (a cluster's
// nodes share it). A device that presents a certificate is accepted only if it is the one on
// record for it (or the one it replaced, until the new one is first presented: a renewal whose
// answer was lost does not lock the device out). Revoking removes both and remembers the key,
// which is never certified again for that device.
//
// This is the UMS's view of those records: it decides what a change makes of a record (next_*),
// the UMS writes that to the registry off the event loop, and only then applies it here: nothing
// is acted on before it is durable. In a cluster the UMS reads a device's record again before it
// decides anything about it (another node may have issued or revoked meanwhile).
#include "services/ums/registry.hpp"

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace shadowlink::ums {

class device_certificates {
 public:
  // The registry's records (start-up: on the calling thread). Records of the file an earlier
  // version kept (<data_dir>/device-certificates.json) that the registry lacks are moved into it,
  // and the file renamed to *.imported; throws std::runtime_error naming it if it cannot be read.
  device_certificates(registry& r, const std::filesystem::path& earlier_file);
  std::size_t imported() const { return imported_; }

  // The device's current certificate, or nullptr (none issued, or revoked).
  const issued_certificate* current(std::string_view device) const;
  // The whole record, revoked keys included (nothing: none), as a change expects to find it.
  std::optional<issued_certificate> record(std::string_view device) const {
    auto it = records_.find(device);
    return it == records_.end() ? std::nullopt : std::optional(it->second);
  }
  bool accepts(std::string_view device, std::string_view fingerprint) const;
  bool key_revoked(std::string_view device, std::string_view key) const;

  // What the record becomes when the current certificate is presented (the one it replaced is
  // accepted no more); nothing if that changes nothing.
  std::optional<issued_certificate> next_presented(std::string_view device, std::string_view fingerprint) const;
  issued_certificate next_issued(std::string_view device, const std::string& fingerprint, const std::string& key, const std::string& not_after) const;
  // Nothing if there is no certificate to revoke.
  std::optional<issued_certificate> next_revoked(std::string_view device) const;
  // A record as written to (or read from) the registry.
  void apply(const std::string& device, issued_certificate c) { records_.insert_or_assign(device, std::move(c)); }
  void forget(std::string_view device);

 private:
  std::map<std::string, issued_certificate, std::less<>> records_;
  std::size_t imported_ = 0;
};

}  // namespace shadowlink::ums
