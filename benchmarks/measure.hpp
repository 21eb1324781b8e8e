#pragma once
// Shared by the benchmark programs: exact reads and percentiles over round-trip samples.
#include "framework/stream.hpp"

#include <algorithm>
#include <vector>

namespace shadowlink::bench {

inline double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

inline awaitable<void> read_exact(stream& s, char* p, std::size_t n) {
  while (n > 0) {
    error_code ec;
    auto got = co_await s.read_some(net::buffer(p, n), ec);
    if (ec && got == 0) throw system_error(ec);
    p += got;
    n -= got;
  }
}

}  // namespace shadowlink::bench
