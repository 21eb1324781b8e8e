#include "framework/token.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace shadowlink;

TEST_CASE("tokens carry 256 random bits and do not repeat") {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto t = random_token();
    CHECK(t.size() == 64);
    CHECK(t.find_first_not_of("0123456789abcdef") == std::string::npos);
    seen.insert(t);
  }
  CHECK(seen.size() == 1000);
}

TEST_CASE("token comparison accepts only the identical token") {
  auto t = random_token();
  CHECK(tokens_equal(t, t));
  auto other = t;
  other.back() = other.back() == 'a' ? 'b' : 'a';
  CHECK_FALSE(tokens_equal(t, other));
  CHECK_FALSE(tokens_equal(t, t.substr(1)));
  CHECK_FALSE(tokens_equal(t, ""));
}
