#include "framework/token.hpp"

#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/hmac.h>

#include <stdexcept>
#include <vector>

namespace shadowlink {

std::string random_token(std::size_t bytes) {
  static thread_local struct rng_holder {
    WC_RNG rng{};
    rng_holder() {
      if (wc_InitRng(&rng) != 0) throw std::runtime_error("cannot initialise the random generator");
    }
    ~rng_holder() { wc_FreeRng(&rng); }
  } holder;
  std::vector<unsigned char> raw(bytes);
  if (wc_RNG_GenerateBlock(&holder.rng, raw.data(), static_cast<word32>(bytes)) != 0)
    throw std::runtime_error("random generator failed");
  return to_hex(raw.data(), raw.size());
}

std::string to_hex(const unsigned char* bytes, std::size_t n) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out += hex[bytes[i] >> 4];
    out += hex[bytes[i] & 15];
  }
  return out;
}

std::string sha256_hex(std::string_view text) {
  unsigned char h[WC_SHA256_DIGEST_SIZE];
  if (wc_Sha256Hash(reinterpret_cast<const unsigned char*>(text.data()), static_cast<word32>(text.size()), h) != 0)
    throw std::runtime_error("sha256 failed");
  return to_hex(h, sizeof h);
}

std::string hmac_sha256_hex(std::string_view key, std::string_view text) {
  Hmac h;
  unsigned char out[WC_SHA256_DIGEST_SIZE];
  const bool ok = wc_HmacInit(&h, nullptr, INVALID_DEVID) == 0 &&
                  wc_HmacSetKey(&h, WC_SHA256, reinterpret_cast<const byte*>(key.data()), static_cast<word32>(key.size())) == 0 &&
                  wc_HmacUpdate(&h, reinterpret_cast<const byte*>(text.data()), static_cast<word32>(text.size())) == 0 &&
                  wc_HmacFinal(&h, out) == 0;
  wc_HmacFree(&h);
  if (!ok) throw std::runtime_error("HMAC-SHA-256 failed");
  return to_hex(out, sizeof out);
}

std::string random_id(std::size_t bytes) { return random_token(bytes); }

bool tokens_equal(std::string_view a, std::string_view b) {
  // The length of our tokens is public; the content is compared without early exit.
  if (a.size() != b.size()) return false;
  volatile unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff = diff | static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace shadowlink
