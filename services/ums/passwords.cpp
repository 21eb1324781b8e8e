#include "services/ums/passwords.hpp"

#include "framework/certs.hpp"
#include "framework/token.hpp"

#include <boost/program_options.hpp>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/pwdbased.h>

#include <charconv>
#include <iostream>
#include <stdexcept>
#include <vector>

namespace shadowlink::ums {

namespace {
constexpr std::string_view scheme = "pbkdf2-sha256";

std::string derive(std::string_view password, std::string_view salt, int iterations) {
  unsigned char key[32];
  int rc = wc_PBKDF2(key, reinterpret_cast<const byte*>(password.data()), static_cast<int>(password.size()),
                     reinterpret_cast<const byte*>(salt.data()), static_cast<int>(salt.size()), iterations, sizeof key, WC_SHA256);
  if (rc != 0) throw std::runtime_error("PBKDF2 failed (" + std::to_string(rc) + ")");
  return to_hex(key, sizeof key);
}

bool is_hex(std::string_view s) { return s.find_first_not_of("0123456789abcdef") == std::string_view::npos; }
}  // namespace

std::optional<password_hash> parse_password_hash(std::string_view text) {
  std::vector<std::string_view> parts;
  for (std::size_t at = 0;;) {
    auto end = text.find('$', at);
    parts.push_back(text.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at));
    if (end == std::string_view::npos) break;
    at = end + 1;
  }
  if (parts.size() != 4 || parts[0] != scheme) return std::nullopt;
  password_hash h;
  auto [p, ec] = std::from_chars(parts[1].data(), parts[1].data() + parts[1].size(), h.iterations);
  if (ec != std::errc{} || p != parts[1].data() + parts[1].size() || h.iterations < 1000) return std::nullopt;
  if (parts[2].size() < 16 || !is_hex(parts[2]) || parts[3].size() != 64 || !is_hex(parts[3])) return std::nullopt;
  h.salt = parts[2];
  h.hash = parts[3];
  return h;
}

std::string to_string(const password_hash& h) {
  return std::string(scheme) + "$" + std::to_string(h.iterations) + "$" + h.salt + "$" + h.hash;
}

password_hash hash_password(std::string_view password, int iterations) {
  password_hash h;
  h.iterations = iterations;
  h.salt = random_token(16);
  h.hash = derive(password, h.salt, iterations);
  return h;
}

bool verify_password(std::string_view password, const password_hash& h) {
  return tokens_equal(derive(password, h.salt, h.iterations), h.hash);
}

int hash_password_main(int argc, char** argv) {
  namespace po = boost::program_options;
  int iterations = default_iterations;
  po::options_description desc(
      "Usage: shadowlinkd hash-password [--iterations N] < password\n"
      "Prints the hash to put in a UMS user's \"password_hash\".\nOptions");
  desc.add_options()("help,h", "show this help")(
      "iterations", po::value(&iterations)->default_value(iterations), "PBKDF2 iterations (at least 1000; keep the default outside tests)");
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
    if (vm.count("help")) {
      std::cout << desc;
      return 0;
    }
  } catch (const po::error& e) {
    std::cerr << "shadowlinkd hash-password: " << e.what() << "\n";
    return 2;
  }
  if (iterations < 1000) {
    std::cerr << "shadowlinkd hash-password: --iterations must be at least 1000\n";
    return 2;
  }
  std::string password;
  if (!std::getline(std::cin, password) || password.empty()) {
    std::cerr << "shadowlinkd hash-password: give the password on standard input\n";
    return 2;
  }
  std::cout << to_string(hash_password(password, iterations)) << "\n";
  return 0;
}

}  // namespace shadowlink::ums
