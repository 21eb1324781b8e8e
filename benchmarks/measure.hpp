#pragma once
// Shared by the benchmark programs: exact reads, percentiles over round-trip samples, CPU time.
#include "framework/stream.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace shadowlink::bench {

// A process's CPU time (user + system, seconds) and its parent's PID, from /proc.
inline double cpu_of(int pid, int& parent) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), {});
  auto close = s.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream in(s.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 4) parent = std::stoi(field);
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

inline double percentile_of_sorted(const std::vector<double>& v, double p) {
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

inline double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return percentile_of_sorted(v, p);
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
