#include "framework/failure_penalty.hpp"
#include "framework/tcp_stream.hpp"

#include <catch2/catch.hpp>

#include <thread>

using namespace shadowlink;

TEST_CASE("failure penalties double with each failure up to their maximum, and a success forgives them") {
  failure_penalty p({.first = 500ms, .max = 8s, .forget_after = 10min, .max_keys = 16});
  CHECK(p.delay("admin") == clock::duration::zero());
  CHECK(p.retry_after("admin") == clock::duration::zero());
  CHECK(p.failed("admin") == 1);
  CHECK(p.delay("admin") == 500ms);
  CHECK(p.retry_after("admin") > clock::duration::zero());
  CHECK(p.retry_after("admin") <= 500ms);
  CHECK(p.delay("someone else") == clock::duration::zero());
  for (int i = 0; i < 3; ++i) p.failed("admin");
  CHECK(p.delay("admin") == 4s);
  for (int i = 0; i < 10; ++i) p.failed("admin");
  CHECK(p.count("admin") == 14);
  CHECK(p.delay("admin") == 8s);
  p.forgive("admin");
  CHECK(p.count("admin") == 0);
  CHECK(p.retry_after("admin") == clock::duration::zero());
}

TEST_CASE("failure penalties forget old failures, and a flood of distinct keys keeps the table at its bound") {
  failure_penalty forgetful({.first = 1s, .max = 8s, .forget_after = clock::duration::zero(), .max_keys = 16});
  forgetful.failed("10.0.0.1");
  CHECK(forgetful.count("10.0.0.1") == 0);  // older than forget_after (zero) at once
  CHECK(forgetful.failed("10.0.0.1") == 1);  // and counting starts again

  failure_penalty small({.first = 1s, .max = 8s, .forget_after = 10min, .max_keys = 3});
  for (const char* k : {"a", "b", "c", "d", "e"}) small.failed(k);
  CHECK(small.size() == 3);
  CHECK(small.count("a") == 0);  // the stalest went first
  CHECK(small.count("e") == 1);
}

TEST_CASE("the address of a peer is its host part, for IPv4 and IPv6") {
  CHECK(address_of("192.0.2.7:51000") == "192.0.2.7");
  CHECK(address_of("2001:db8::1:51000") == "2001:db8::1");
  CHECK(address_of("[2001:db8::1]:51000") == "2001:db8::1");
}

TEST_CASE("a full failure-penalty table drops forgiven entries before live ones") {
  failure_penalty expiring({.first = 1s, .max = 8s, .forget_after = 50ms, .max_keys = 2});
  expiring.failed("old");
  std::this_thread::sleep_for(60ms);  // "old" is forgiven now
  expiring.failed("live");
  expiring.failed("new");  // the table is full: the forgiven entry goes, not the live one
  CHECK(expiring.count("live") == 1);
  CHECK(expiring.count("new") == 1);
  CHECK(expiring.size() == 2);
}
