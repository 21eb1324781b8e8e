// Device keys, certificate requests and the client certificates the UMS signs for them.
#include "framework/certs.hpp"
#include "framework/pki.hpp"

#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>

#include <cstring>
#include <ctime>
#include <memory>
#include <stdexcept>

namespace shadowlink {
namespace {
using namespace pki;

struct x509_free {
  void operator()(WOLFSSL_X509* x) const { wolfSSL_X509_free(x); }
};
struct pkey_free {
  void operator()(WOLFSSL_EVP_PKEY* k) const { wolfSSL_EVP_PKEY_free(k); }
};
using x509_ptr = std::unique_ptr<WOLFSSL_X509, x509_free>;
using pkey_ptr = std::unique_ptr<WOLFSSL_EVP_PKEY, pkey_free>;

x509_ptr load_certificate(std::string_view pem) {
  x509_ptr x(wolfSSL_X509_load_certificate_buffer(reinterpret_cast<const unsigned char*>(pem.data()),
                                                  static_cast<int>(pem.size()), WOLFSSL_FILETYPE_PEM));
  if (!x) throw std::runtime_error("not a PEM certificate");
  return x;
}

std::chrono::system_clock::time_point to_time(const WOLFSSL_ASN1_TIME* t) {
  std::tm tm{};
  if (!t || wolfSSL_ASN1_TIME_to_tm(t, &tm) != WOLFSSL_SUCCESS) throw std::runtime_error("certificate has an unreadable date");
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

// The SubjectPublicKeyInfo of `pkey` (DER).
std::vector<unsigned char> spki(WOLFSSL_EVP_PKEY* pkey) {
  if (!pkey) throw std::runtime_error("no public key");
  unsigned char* der = nullptr;
  const int n = wolfSSL_i2d_PUBKEY(pkey, &der);
  if (n <= 0) throw std::runtime_error("cannot encode the public key");
  std::unique_ptr<unsigned char, void (*)(unsigned char*)> owned(der, [](unsigned char* p) { XFREE(p, nullptr, DYNAMIC_TYPE_OPENSSL); });
  return std::vector<unsigned char>(der, der + n);
}

// The public key of `pkey` (an ECDSA P-256 key, else std::runtime_error) into `out`.
void public_key(WOLFSSL_EVP_PKEY* pkey, ecc_key& out) {
  if (!pkey || wolfSSL_EVP_PKEY_id(pkey) != EVP_PKEY_EC) throw std::runtime_error("the key is not an ECDSA key");
  auto der = spki(pkey);
  word32 idx = 0;
  check(wc_EccPublicKeyDecode(der.data(), &idx, &out, static_cast<word32>(der.size())), "decode public key");
  // (Explicit curve parameters decode too: only the named curve we make keys on is accepted.)
  if (wc_ecc_get_curve_id(out.idx) != ECC_SECP256R1) throw std::runtime_error("the key is not on curve P-256");
}

std::string key_fingerprint(WOLFSSL_EVP_PKEY* pkey) {
  auto der = spki(pkey);
  return sha256_fingerprint(der.data(), der.size());
}

// A certificate request whose signature proves its requester holds its key.
struct verified_request {
  x509_ptr req;
  pkey_ptr key;
};
verified_request verify_request(std::string_view csr_pem) {
  std::vector<unsigned char> csr_der;
  try {
    csr_der = pem_to_der(csr_pem, CERTREQ_TYPE);
  } catch (const std::runtime_error&) {
    throw std::runtime_error("not a PEM certificate request");
  }
  verified_request r;
  r.req.reset(wolfSSL_X509_REQ_d2i(nullptr, csr_der.data(), static_cast<int>(csr_der.size())));
  if (!r.req) throw std::runtime_error("not a certificate request");
  r.key.reset(wolfSSL_X509_get_pubkey(r.req.get()));
  // Proof of possession: the request is signed with the key it asks a certificate for.
  if (!r.key || wolfSSL_X509_REQ_verify(r.req.get(), r.key.get()) != WOLFSSL_SUCCESS)
    throw std::runtime_error("the certificate request's signature does not verify");
  return r;
}

std::string x963(ecc_key& k) {
  unsigned char buf[160];
  word32 len = sizeof buf;
  check(wc_ecc_export_x963(&k, buf, &len), "export public key");
  return std::string(reinterpret_cast<char*>(buf), len);
}

}  // namespace

std::string make_private_key_pem() {
  rng_guard r;
  ecc_guard k;
  check(wc_ecc_make_key_ex(&r.rng, 32, &k.key, ECC_SECP256R1), "make key");
  return key_pem(k.key);
}

std::string make_certificate_request(const std::string& key_pem_text, const std::string& common_name) {
  rng_guard r;
  ecc_guard k;
  load_key(key_pem_text, k.key);
  Cert c;
  check(wc_InitCert(&c), "init request");
  std::strncpy(c.subject.commonName, common_name.c_str(), CTC_NAME_SIZE - 1);
  c.sigType = CTC_SHA256wECDSA;
  unsigned char der[2048];
  check(wc_MakeCertReq(&c, der, sizeof der, nullptr, &k.key), "make request");
  const int n = wc_SignCert(c.bodySz, c.sigType, der, sizeof der, nullptr, &k.key, &r.rng);
  check(n, "sign request");
  return der_to_pem(der, n, CERTREQ_TYPE);
}

certificate_info inspect_certificate(std::string_view pem) {
  auto x = load_certificate(pem);
  certificate_info info;
  char cn[256] = {};
  if (wolfSSL_X509_NAME_get_text_by_NID(wolfSSL_X509_get_subject_name(x.get()), NID_commonName, cn, sizeof cn) > 0)
    info.common_name = cn;
  int len = 0;
  const unsigned char* der = wolfSSL_X509_get_der(x.get(), &len);
  if (!der || len <= 0) throw std::runtime_error("cannot encode the certificate");
  info.fingerprint = sha256_fingerprint(der, static_cast<std::size_t>(len));
  pkey_ptr pkey(wolfSSL_X509_get_pubkey(x.get()));
  info.key_fingerprint = key_fingerprint(pkey.get());
  info.not_before = to_time(wolfSSL_X509_get_notBefore(x.get()));
  info.not_after = to_time(wolfSSL_X509_get_notAfter(x.get()));
  return info;
}

bool signed_by(const std::string& cert_pem, const std::string& ca_pem) {
  try {
    auto cert = load_certificate(cert_pem), ca = load_certificate(ca_pem);
    pkey_ptr key(wolfSSL_X509_get_pubkey(ca.get()));
    return key && wolfSSL_X509_verify(cert.get(), key.get()) == WOLFSSL_SUCCESS;
  } catch (const std::runtime_error&) {
    return false;
  }
}

bool key_matches_certificate(const std::string& key_pem_text, const std::string& cert_pem) {
  try {
    auto x = load_certificate(cert_pem);
    pkey_ptr pkey(wolfSSL_X509_get_pubkey(x.get()));
    ecc_guard cert_key, own;
    public_key(pkey.get(), cert_key.key);
    load_key(key_pem_text, own.key);
    return x963(cert_key.key) == x963(own.key);
  } catch (const std::runtime_error&) {
    return false;
  }
}

std::string request_key_fingerprint(std::string_view csr_pem) {
  auto request = verify_request(csr_pem);
  ecc_guard k;
  public_key(request.key.get(), k.key);
  return key_fingerprint(request.key.get());
}

namespace {
// Signs a certificate for the request's (verified, P-256) key with the CA in `ca_dir`; `shape`
// sets the subject and extensions.
template <class Shape>
std::string sign_for_request(const std::filesystem::path& ca_dir, std::string_view csr_pem, int days, Shape shape) {
  auto request = verify_request(csr_pem);
  ecc_guard subject_key;
  public_key(request.key.get(), subject_key.key);
  auto ca_der = pem_to_der(read_file(ca_dir / "ca.pem"), CERT_TYPE);
  ecc_guard ca_key;
  load_key(read_file(ca_dir / "ca.key"), ca_key.key);
  rng_guard r;
  Cert c;
  check(wc_InitCert(&c), "init cert");
  c.isCA = 0;
  c.sigType = CTC_SHA256wECDSA;
  c.daysValid = days;
  check(wc_SetIssuerBuffer(&c, ca_der.data(), static_cast<int>(ca_der.size())), "set issuer");
  shape(c);
  unsigned char der[4096];
  check(wc_MakeCert(&c, der, sizeof der, nullptr, &subject_key.key, &r.rng), "make cert");
  const int n = wc_SignCert(c.bodySz, c.sigType, der, sizeof der, nullptr, &ca_key.key, &r.rng);
  check(n, "sign cert");
  return der_to_pem(der, n, CERT_TYPE);
}
}  // namespace

std::string sign_server_certificate(const std::filesystem::path& ca_dir, std::string_view csr_pem,
                                    const std::vector<std::string>& names, int days) {
  if (names.empty() || names.front().size() >= CTC_NAME_SIZE) throw std::runtime_error("a server certificate needs a name of 1 to 63 characters");
  return sign_for_request(ca_dir, csr_pem, days, [&](Cert& c) {
    std::strncpy(c.subject.commonName, names.front().c_str(), CTC_NAME_SIZE - 1);
    std::strncpy(c.subject.org, "shadowlink gateway", CTC_NAME_SIZE - 1);
    set_alt_names(c, names);
    check(wc_SetExtKeyUsage(&c, "serverAuth"), "set extended key usage");
  });
}

std::string sign_client_certificate(const std::filesystem::path& ca_dir, std::string_view csr_pem,
                                    const std::string& common_name, int days) {
  if (common_name.empty() || common_name.size() >= CTC_NAME_SIZE) throw std::runtime_error("a device id must have 1 to 63 characters");
  return sign_for_request(ca_dir, csr_pem, days, [&](Cert& c) {
    std::strncpy(c.subject.commonName, common_name.c_str(), CTC_NAME_SIZE - 1);
    std::strncpy(c.subject.org, "shadowlink device", CTC_NAME_SIZE - 1);
    check(wc_SetKeyUsage(&c, "digitalSignature"), "set key usage");
    check(wc_SetExtKeyUsage(&c, "clientAuth"), "set extended key usage");  // never usable as a server's certificate
  });
}

}  // namespace shadowlink
