#include "services/ums/node_seal.hpp"

#include <catch2/catch.hpp>

using shadowlink::ums::node_seal;

namespace {
constexpr std::int64_t now = 1'800'000'000'000;
const std::string message = R"({"from":"a","what":"drop","device":"tc-1"})";
}  // namespace

TEST_CASE("a node's sealed message is taken once by a node with the same key, and changed or replayed it is refused") {
  node_seal a("cluster-key"), b("cluster-key");
  const auto sealed = a.seal(message, now);
  auto got = b.open(sealed, now + 500);
  REQUIRE(got.message);
  CHECK(*got.message == message);
  CHECK(b.open(sealed, now + 600).refusal == "a seal already taken (a replay)");
  // One character of the message changed: the seal no longer matches.
  std::string changed = a.seal(message, now);
  changed[changed.size() - 3] = 'X';
  CHECK(changed != a.seal(message, now));
  CHECK_FALSE(b.open(changed, now).message);
  CHECK(b.open(changed, now).refusal.starts_with("a seal that does not match"));
}

TEST_CASE("a message sealed with another key, or not sealed, or sealed long ago, is refused with the reason") {
  node_seal a("cluster-key"), other("another-key"), b("cluster-key");
  CHECK(b.open(other.seal(message, now), now).refusal.starts_with("a seal that does not match"));
  CHECK(b.open(message, now).refusal == "not sealed by a node");
  CHECK(b.open("v1 12 34 56 " + message, now).refusal == "a malformed seal");
  CHECK(b.open(a.seal(message, now - 61'000), now).refusal.starts_with("a seal more than a minute"));
  CHECK(b.open(a.seal(message, now + 61'000), now).refusal.starts_with("a seal more than a minute"));
  // (The positive control: the same key and time is taken.)
  CHECK(b.open(a.seal(message, now), now).message);
}

TEST_CASE("nonces are forgotten once their seals could no longer be taken anyway, so the memory of them stays bounded") {
  node_seal a("k"), b("k");
  for (int i = 0; i < 1000; ++i) REQUIRE(b.open(a.seal(message, now + i), now + i).message);
  // A minute and more later, the old ones are gone and new ones are still taken.
  REQUIRE(b.open(a.seal(message, now + 200'000), now + 200'000).message);
}

TEST_CASE("an OS 11 session's password is the same at both nodes for the nonce sent, and another nonce, session or key gives another") {
  node_seal a("cluster-key"), b("cluster-key"), other("another-key");
  const auto password = a.session_password("s-0123456789ab", "nonce-1");
  CHECK(password.size() == 64);  // 256 bits, hex
  CHECK(b.session_password("s-0123456789ab", "nonce-1") == password);
  CHECK(a.session_password("s-0123456789ab", "nonce-2") != password);
  CHECK(a.session_password("s-0123456789ac", "nonce-1") != password);
  CHECK(other.session_password("s-0123456789ab", "nonce-1") != password);
  // Never what was sent, nor a seal's MAC of the same words.
  CHECK(password.find("nonce-1") == std::string::npos);
  CHECK(a.seal("s-0123456789ab nonce-1", now).find(password) == std::string::npos);
}
