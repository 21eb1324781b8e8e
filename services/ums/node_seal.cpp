#include "services/ums/node_seal.hpp"

#include "framework/token.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace shadowlink::ums {

node_seal node_seal::from_ca_key(const std::filesystem::path& ca_key) {
  std::ifstream in(ca_key, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in || text.str().empty()) throw std::runtime_error("cannot read " + ca_key.string() + " (the nodes' messages are sealed with a key derived from it)");
  // (Derived, not the CA key itself: a seal's key that leaked would sign no certificate.)
  return node_seal(sha256_hex("shadowlink node messages, version 1\n" + text.str()));
}

std::string node_seal::mac(std::string_view sent, std::string_view nonce, std::string_view message) const {
  std::string text;
  text.append(sent).append(" ").append(nonce).append(" ").append(message);
  return hmac_sha256_hex(key_, text);
}

// (Its text begins with a word, a seal's with a time: no seal's MAC is ever a password.)
std::string node_seal::session_password(std::string_view session_id, std::string_view nonce) const {
  std::string text("os11-session-password ");
  text.append(session_id).append(" ").append(nonce);
  return hmac_sha256_hex(key_, text);
}

// "v1 TIME NONCE MAC MESSAGE"
std::string node_seal::seal(std::string_view message, std::int64_t now_ms) const {
  const auto sent = std::to_string(now_ms);
  const auto nonce = random_token(16);
  return "v1 " + sent + " " + nonce + " " + mac(sent, nonce, message) + " " + std::string(message);
}

node_seal::opened node_seal::open(std::string_view sealed, std::int64_t now_ms) {
  std::string_view parts[4];
  std::string_view rest = sealed;
  for (auto& p : parts) {
    const auto space = rest.find(' ');
    if (space == std::string_view::npos) return {std::nullopt, "not sealed by a node"};
    p = rest.substr(0, space);
    rest.remove_prefix(space + 1);
  }
  const auto [version, sent, nonce, given] = parts;
  if (version != "v1") return {std::nullopt, "not sealed by a node"};
  if (sent.empty() || sent.size() > 15 || sent.find_first_not_of("0123456789") != std::string_view::npos || nonce.size() != 32)
    return {std::nullopt, "a malformed seal"};
  if (!tokens_equal(given, mac(sent, nonce, rest))) return {std::nullopt, "a seal that does not match (not a node's, or changed on the way)"};
  const auto at = std::stoll(std::string(sent));
  if (at < now_ms - window_ms || at > now_ms + window_ms) return {std::nullopt, "a seal more than a minute from this node's time (a replay, or the clocks disagree)"};
  while (!order_.empty() && order_.front().first < now_ms - window_ms) {
    seen_.erase(order_.front().second);
    order_.pop_front();
  }
  if (seen_.contains(nonce)) return {std::nullopt, "a seal already taken (a replay)"};
  if (seen_.size() >= max_remembered) return {std::nullopt, "too many node messages within a minute"};
  seen_.emplace(nonce);
  order_.emplace_back(at, std::string(nonce));
  return {std::string(rest), {}};
}

}  // namespace shadowlink::ums
