#pragma once
// What the UMS checks administrators against, never in plain text: passwords as salted
// PBKDF2-HMAC-SHA256 hashes ("pbkdf2-sha256$<iterations>$<salt>$<hash>", salt and hash in hex),
// API tokens as SHA-256 hashes (long random tokens need no slow hash). PBKDF2 rather than argon2id:
// wolfCrypt, already linked for TLS, has it; libargon2 would be one more library for the same job.
#include <optional>
#include <string>
#include <string_view>

namespace shadowlink::ums {

inline constexpr int default_iterations = 600'000;  // OWASP's figure for PBKDF2-HMAC-SHA256

struct password_hash {
  int iterations = 0;
  std::string salt;  // hex text, used as the salt bytes
  std::string hash;  // hex of the 32-byte derived key
};

std::optional<password_hash> parse_password_hash(std::string_view text);  // nothing if malformed
std::string to_string(const password_hash& h);
password_hash hash_password(std::string_view password, int iterations);   // with a new random salt
bool verify_password(std::string_view password, const password_hash& h);  // slow; compares in constant time

// `shadowlinkd hash-password [--iterations N]`: reads a password from standard input (one line)
// and prints its hash for the config's "password_hash". Returns the exit code.
int hash_password_main(int argc, char** argv);

}  // namespace shadowlink::ums
