#pragma once
// wolfCrypt pieces shared by the files that make keys and certificates (certs.cpp,
// device_certs.cpp); not for use elsewhere.
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/random.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace shadowlink::pki {

// Throws std::runtime_error "certificate generation: WHAT: wolfCrypt's reason" for rc < 0.
void check(int rc, const char* what);

struct rng_guard {
  WC_RNG rng{};
  rng_guard();
  ~rng_guard();
  rng_guard(const rng_guard&) = delete;
  rng_guard& operator=(const rng_guard&) = delete;
};
struct ecc_guard {
  ecc_key key{};
  ecc_guard();
  ~ecc_guard();
  ecc_guard(const ecc_guard&) = delete;
  ecc_guard& operator=(const ecc_guard&) = delete;
};

// An exclusive lock on <dir>/.lock for as long as it lives.
class dir_lock {
 public:
  explicit dir_lock(const std::filesystem::path& dir);
  dir_lock(const dir_lock&) = delete;
  dir_lock& operator=(const dir_lock&) = delete;
  ~dir_lock();

 private:
  int fd_ = -1;
};

std::vector<unsigned char> pem_to_der(std::string_view pem, int type);
std::string der_to_pem(const unsigned char* der, int len, int type);
std::string key_pem(ecc_key& key);
void load_key(std::string_view pem, ecc_key& key);
// The certificate's subjectAltName: dNSName / iPAddress entries for `names` (throws
// std::runtime_error if they do not fit).
void set_alt_names(Cert& c, const std::vector<std::string>& names);

}  // namespace shadowlink::pki
