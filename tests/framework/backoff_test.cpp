#include "framework/backoff.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace shadowlink;
using std::chrono::milliseconds;

TEST_CASE("reconnect delays double from the minimum to the maximum, each somewhere in the upper half of its step") {
  backoff b(milliseconds(100), milliseconds(1000));
  const milliseconds steps[] = {milliseconds(100), milliseconds(200), milliseconds(400), milliseconds(800),
                                milliseconds(1000), milliseconds(1000)};
  for (auto step : steps) {
    const auto wait = b.next();
    CHECK(wait >= step / 2);
    CHECK(wait <= step);
  }
}

TEST_CASE("after a working link the delays start from the minimum again") {
  backoff b(milliseconds(100), milliseconds(10000));
  for (int i = 0; i < 6; ++i) b.next();
  CHECK(b.next() > milliseconds(100));  // 3.2 s .. 6.4 s by now
  b.reset();
  CHECK(b.next() <= milliseconds(100));
}

TEST_CASE("clients that lost the same server do not come back in the same instant") {
  std::set<clock::rep> first_waits;
  for (int i = 0; i < 50; ++i) first_waits.insert(backoff(std::chrono::seconds(1), std::chrono::seconds(30)).next().count());
  CHECK(first_waits.size() > 40);  // 50 draws from 500 million values: a repeat is all but impossible
}
