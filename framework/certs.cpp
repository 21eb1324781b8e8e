#include "framework/certs.hpp"

#include "framework/pki.hpp"
#include "framework/token.hpp"

#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <arpa/inet.h>

#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>

namespace shadowlink {
namespace fs = std::filesystem;
namespace {
using namespace pki;

void make_ca(const fs::path& ca_dir, rng_guard& r) {
  ecc_guard k;
  check(wc_ecc_make_key_ex(&r.rng, 32, &k.key, ECC_SECP256R1), "make CA key");
  Cert c;
  check(wc_InitCert(&c), "init CA cert");
  std::strncpy(c.subject.commonName, "shadowlink installation CA", CTC_NAME_SIZE - 1);
  std::strncpy(c.subject.org, "shadowlink", CTC_NAME_SIZE - 1);
  c.isCA = 1;
  c.sigType = CTC_SHA256wECDSA;
  c.daysValid = 3650;
  unsigned char der[4096];
  check(wc_MakeCert(&c, der, sizeof der, nullptr, &k.key, &r.rng), "make CA cert");
  int n = wc_SignCert(c.bodySz, c.sigType, der, sizeof der, nullptr, &k.key, &r.rng);
  check(n, "sign CA cert");
  fs::create_directories(ca_dir);
  write_file_atomically(ca_dir / "ca.key", key_pem(k.key), true);
  write_file_atomically(ca_dir / "ca.pem", der_to_pem(der, n, CERT_TYPE), false);
}

void make_server(const fs::path& dir, const fs::path& ca_dir, const std::vector<std::string>& names, rng_guard& r) {
  auto ca_der = pem_to_der(read_file(ca_dir / "ca.pem"), CERT_TYPE);
  ecc_guard ca_key;
  load_key(read_file(ca_dir / "ca.key"), ca_key.key);
  ecc_guard k;
  check(wc_ecc_make_key_ex(&r.rng, 32, &k.key, ECC_SECP256R1), "make server key");
  Cert c;
  check(wc_InitCert(&c), "init server cert");
  std::strncpy(c.subject.commonName, names.empty() ? "localhost" : names.front().c_str(), CTC_NAME_SIZE - 1);
  c.isCA = 0;
  c.sigType = CTC_SHA256wECDSA;
  c.daysValid = server_certificate_days;
  set_alt_names(c, names);
  check(wc_SetIssuerBuffer(&c, ca_der.data(), static_cast<int>(ca_der.size())), "set issuer");
  unsigned char der[4096];
  check(wc_MakeCert(&c, der, sizeof der, nullptr, &k.key, &r.rng), "make server cert");
  int n = wc_SignCert(c.bodySz, c.sigType, der, sizeof der, nullptr, &ca_key.key, &r.rng);
  check(n, "sign server cert");
  fs::create_directories(dir);
  write_file_atomically(dir / "server.key", key_pem(k.key), true);
  write_file_atomically(dir / "server.pem", der_to_pem(der, n, CERT_TYPE) + read_file(ca_dir / "ca.pem"), false);
}

}  // namespace

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

std::string sha256_fingerprint(const unsigned char* der, std::size_t len) {
  unsigned char h[WC_SHA256_DIGEST_SIZE];
  check(wc_Sha256Hash(der, static_cast<word32>(len), h), "sha256");
  return to_hex(h, sizeof h);
}

std::string pem_fingerprint(std::string_view pem) {
  auto der = pem_to_der(pem, CERT_TYPE);
  return sha256_fingerprint(der.data(), der.size());
}

std::string normalize_fingerprint(std::string_view text) {
  std::string out;
  for (char ch : text) {
    if (ch == ':') continue;
    if (!std::isxdigit(static_cast<unsigned char>(ch))) return {};
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  return out.size() == 64 ? out : std::string{};
}

identity make_bootstrap_identity(const fs::path& dir, const std::vector<std::string>& names) {
  dir_lock lock(dir);
  identity id;
  rng_guard r;
  ecc_guard k;
  if (fs::exists(dir / "server.key")) {
    load_key(read_file(dir / "server.key"), k.key);
  } else {
    check(wc_ecc_make_key_ex(&r.rng, 32, &k.key, ECC_SECP256R1), "make server key");
    write_file_atomically(dir / "server.key", key_pem(k.key), true);
    id.created = true;
  }
  // A certificate left from another key (the key was deleted to make a new one) is made anew.
  if (id.created || !fs::exists(dir / "bootstrap.pem") || !key_matches_certificate(key_pem(k.key), read_file(dir / "bootstrap.pem"))) {
    Cert c;
    check(wc_InitCert(&c), "init bootstrap cert");
    std::strncpy(c.subject.commonName, names.empty() ? "localhost" : names.front().c_str(), CTC_NAME_SIZE - 1);
    std::strncpy(c.subject.org, "shadowlink gateway, not paired yet", CTC_NAME_SIZE - 1);
    c.isCA = 0;
    c.sigType = CTC_SHA256wECDSA;
    c.daysValid = 3650;
    set_alt_names(c, names);
    unsigned char der[4096];
    check(wc_MakeCert(&c, der, sizeof der, nullptr, &k.key, &r.rng), "make bootstrap cert");
    const int n = wc_SignCert(c.bodySz, c.sigType, der, sizeof der, nullptr, &k.key, &r.rng);
    check(n, "sign bootstrap cert");
    write_file_atomically(dir / "bootstrap.pem", der_to_pem(der, n, CERT_TYPE), false);
    id.created = true;
  }
  id.cert_chain_pem = read_file(dir / "bootstrap.pem");
  id.key_pem = read_file(dir / "server.key");
  id.server_fingerprint = pem_fingerprint(id.cert_chain_pem);
  return id;
}

std::string make_server_certificate_request(const std::string& key_pem_text, const std::vector<std::string>& names) {
  return make_certificate_request(key_pem_text, names.empty() ? "localhost" : names.front());
}

identity ensure_server_identity(const fs::path& dir, const fs::path& ca_dir, const std::vector<std::string>& names) {
  identity id;
  std::optional<dir_lock> locks[2];
  locks[0].emplace(ca_dir);
  if (fs::weakly_canonical(dir) != fs::weakly_canonical(ca_dir)) locks[1].emplace(dir);
  if (!fs::exists(dir / "server.pem") || !fs::exists(dir / "server.key")) {
    rng_guard r;
    const bool has_cert = fs::exists(ca_dir / "ca.pem"), has_key = fs::exists(ca_dir / "ca.key");
    // Half a CA is an operator's mistake (a key not copied, a file deleted): creating a new CA
    // would silently break every device and console that trusts the old one.
    if (has_cert != has_key)
      throw std::runtime_error((ca_dir / (has_cert ? "ca.pem" : "ca.key")).string() + " exists without " +
                               (ca_dir / (has_cert ? "ca.key" : "ca.pem")).string() +
                               ": restore the missing file, or remove both to create a new installation CA");
    if (!has_cert) make_ca(ca_dir, r);
    make_server(dir, ca_dir, names, r);
    id.created = true;
  }
  id.cert_chain_pem = read_file(dir / "server.pem");
  id.key_pem = read_file(dir / "server.key");
  id.server_fingerprint = pem_fingerprint(id.cert_chain_pem);
  if (fs::exists(ca_dir / "ca.pem")) {
    id.ca_pem = read_file(ca_dir / "ca.pem");
    id.ca_fingerprint = pem_fingerprint(id.ca_pem);
  }
  return id;
}

}  // namespace shadowlink
