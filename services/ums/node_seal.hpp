#pragma once
// Seals on the messages UMS nodes send one another through the database (cluster_bus.hpp), so that
// only a node can send one: whoever else may NOTIFY in the database (another role, a leaked
// password) can neither forge a node's message (a device's session step 2, "drop this device's
// link", "end this session") nor replay one it saw. The key is derived from the installation CA's
// private key, which every node holds already (it signs the devices' certificates) and nothing
// else does. A seal carries the time it was made and a nonce: a message is taken once, within a
// minute of being sealed (the nodes' clocks must agree to within that, as their liveness needs).
#include <cstdint>
#include <deque>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

namespace shadowlink::ums {

class node_seal {
 public:
  explicit node_seal(std::string key) : key_(std::move(key)) {}
  // The key of the installation CA whose private key is `ca_key`; throws std::runtime_error if it
  // cannot be read.
  static node_seal from_ca_key(const std::filesystem::path& ca_key);

  static constexpr std::int64_t window_ms = 60'000;  // a seal is taken this long before and after its time
  static constexpr std::size_t max_remembered = 100'000;  // nonces within the window

  std::string seal(std::string_view message, std::int64_t now_ms) const;
  struct opened {
    std::optional<std::string> message;
    std::string refusal;  // why not, when there is no message
  };
  // The message, the first time its seal is shown within the window; else why it is refused.
  opened open(std::string_view sealed, std::int64_t now_ms);
  // An OS 11 session's password, for the session node and the device's node alike, from the nonce
  // the session node sends: the password itself never passes through the database.
  std::string session_password(std::string_view session_id, std::string_view nonce) const;

 private:
  std::string mac(std::string_view sent, std::string_view nonce, std::string_view message) const;
  std::string key_;
  std::set<std::string, std::less<>> seen_;                // nonces taken within the window
  std::deque<std::pair<std::int64_t, std::string>> order_;  // (time, nonce), oldest first
};

}  // namespace shadowlink::ums
