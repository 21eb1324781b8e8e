#include "framework/pki.hpp"

#include "framework/certs.hpp"

#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace shadowlink {
namespace fs = std::filesystem;

namespace pki {

void check(int rc, const char* what) {
  if (rc < 0) throw std::runtime_error(std::string("certificate generation: ") + what + ": " + wc_GetErrorString(rc));
}

rng_guard::rng_guard() { check(wc_InitRng(&rng), "init rng"); }
rng_guard::~rng_guard() { wc_FreeRng(&rng); }
ecc_guard::ecc_guard() { check(wc_ecc_init(&key), "init key"); }
ecc_guard::~ecc_guard() { wc_ecc_free(&key); }

// Two processes starting on one fresh data directory must end up with one CA, not each with its
// own half-overwritten one.
dir_lock::dir_lock(const fs::path& dir) {
  fs::create_directories(dir);
  auto p = dir / ".lock";
  fd_ = ::open(p.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd_ < 0) throw std::runtime_error("cannot open " + p.string() + ": " + std::strerror(errno));
  while (::flock(fd_, LOCK_EX) != 0)
    if (errno != EINTR) throw std::runtime_error("cannot lock " + p.string() + ": " + std::strerror(errno));
}
dir_lock::~dir_lock() { ::close(fd_); }  // closing releases the lock

std::vector<unsigned char> pem_to_der(std::string_view pem, int type) {
  std::vector<unsigned char> der(pem.size());
  int n = wc_CertPemToDer(reinterpret_cast<const unsigned char*>(pem.data()), static_cast<int>(pem.size()), der.data(),
                          static_cast<int>(der.size()), type);
  check(n, "decode PEM");
  der.resize(static_cast<std::size_t>(n));
  return der;
}

std::string der_to_pem(const unsigned char* der, int len, int type) {
  std::string pem(static_cast<std::size_t>(len) * 2 + 128, '\0');
  int n = wc_DerToPem(der, static_cast<unsigned>(len), reinterpret_cast<unsigned char*>(pem.data()),
                      static_cast<unsigned>(pem.size()), type);
  check(n, "encode PEM");
  pem.resize(static_cast<std::size_t>(n));
  return pem;
}

std::string key_pem(ecc_key& key) {
  unsigned char der[512];
  int n = wc_EccKeyToDer(&key, der, sizeof der);
  check(n, "encode key");
  return der_to_pem(der, n, ECC_PRIVATEKEY_TYPE);
}

void load_key(std::string_view pem, ecc_key& key) {
  std::vector<unsigned char> der(pem.size());
  int n = wc_KeyPemToDer(reinterpret_cast<const unsigned char*>(pem.data()), static_cast<int>(pem.size()), der.data(),
                         static_cast<int>(der.size()), nullptr);
  check(n, "decode key");
  word32 idx = 0;
  check(wc_EccPrivateKeyDecode(der.data(), &idx, &key, static_cast<word32>(n)), "load key");
}

namespace {
// subjectAltName as raw DER: a SEQUENCE of dNSName [2] / iPAddress [7] entries.
std::vector<unsigned char> alt_names(const std::vector<std::string>& names) {
  std::vector<unsigned char> body;
  for (const auto& n : names) {
    unsigned char ip[16];
    if (inet_pton(AF_INET, n.c_str(), ip) == 1) {
      body.insert(body.end(), {0x87, 4});
      body.insert(body.end(), ip, ip + 4);
    } else if (inet_pton(AF_INET6, n.c_str(), ip) == 1) {
      body.insert(body.end(), {0x87, 16});
      body.insert(body.end(), ip, ip + 16);
    } else {
      if (n.size() > 127) throw std::runtime_error("certificate name too long: " + n);
      body.push_back(0x82);
      body.push_back(static_cast<unsigned char>(n.size()));
      body.insert(body.end(), n.begin(), n.end());
    }
  }
  if (body.size() > 127) throw std::runtime_error("too many certificate names");
  // The SEQUENCE header goes in front of the body (copying the body after a two-byte vector
  // trips g++ 12's -Warray-bounds at -O3, a false positive).
  const auto length = static_cast<unsigned char>(body.size());
  body.insert(body.begin(), {0x30, length});
  return body;
}
}  // namespace

void set_alt_names(Cert& c, const std::vector<std::string>& names) {
  const auto san = alt_names(names);
  if (san.size() > sizeof c.altNames) throw std::runtime_error("too many certificate names");
  std::memcpy(c.altNames, san.data(), san.size());
  c.altNamesSz = static_cast<int>(san.size());
}

}  // namespace pki

namespace {
[[noreturn]] void fail_write(const fs::path& p, int err) {
  throw std::runtime_error("cannot write " + p.string() + ": " + std::strerror(err));
}
}  // namespace

// Whole or not at all: a new file (never following a link an attacker planted, never reusing a
// file someone else opened) is written, flushed to disk and renamed over the final name; a crash
// or a full disk leaves the old file or none, never a truncated key.
void write_file_atomically(const fs::path& p, std::string_view data, bool secret) {
  auto tmp = p;
  tmp += ".tmp-" + std::to_string(::getpid());
  ::unlink(tmp.c_str());  // a leftover of a crashed run with our pid (O_NOFOLLOW: a link is removed, not followed)
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, secret ? 0600 : 0644);
  if (fd < 0) fail_write(tmp, errno);
  std::size_t done = 0;
  int err = 0;
  while (done < data.size()) {
    auto n = ::write(fd, data.data() + done, data.size() - done);
    if (n <= 0) {
      err = n < 0 ? errno : ENOSPC;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  if (!err && ::fsync(fd) != 0) err = errno;
  ::close(fd);
  if (!err && ::rename(tmp.c_str(), p.c_str()) != 0) err = errno;
  if (err) {
    ::unlink(tmp.c_str());
    fail_write(p, err);
  }
  if (int dir = ::open(p.parent_path().empty() ? "." : p.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
    ::fsync(dir);  // the rename itself survives a crash
    ::close(dir);
  }
}

}  // namespace shadowlink
