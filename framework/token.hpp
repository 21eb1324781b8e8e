#pragma once
// One-time secrets: 256 bits from wolfCrypt's CSPRNG, hex encoded; compared in constant time.
#include <string>
#include <string_view>

namespace shadowlink {

std::string random_token(std::size_t bytes = 32);
std::string random_id(std::size_t bytes = 8);  // short non-secret identifiers (session ids)
bool tokens_equal(std::string_view a, std::string_view b);
std::string to_hex(const unsigned char* bytes, std::size_t n);  // lowercase
// What servers keep of long random secrets (API tokens, device credentials): a fast hash is enough.
std::string sha256_hex(std::string_view text);
// HMAC-SHA-256 of `text` under `key`, hex: a message only the key's holders can have made.
std::string hmac_sha256_hex(std::string_view key, std::string_view text);

}  // namespace shadowlink
