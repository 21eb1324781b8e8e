#include "framework/failure_penalty.hpp"

#include <algorithm>

namespace shadowlink {

int failure_penalty::count(std::string_view key) const {
  auto it = entries_.find(key);
  if (it == entries_.end() || clock::now() - it->second.last >= p_.forget_after) return 0;
  return it->second.count;
}

clock::duration failure_penalty::delay_for(int failures) const {
  if (failures <= 0) return {};
  auto d = p_.first;
  for (int i = 1; i < failures && d < p_.max; ++i) d *= 2;
  return std::min(d, p_.max);
}

clock::duration failure_penalty::retry_after(std::string_view key) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) return {};
  const auto left = it->second.last + delay(key) - clock::now();
  return std::max(left, clock::duration::zero());
}

int failure_penalty::failed(std::string_view key) {
  const auto now = clock::now();
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= p_.max_keys) {
      std::erase_if(entries_, [&](auto& e) { return now - e.second.last >= p_.forget_after; });
      if (entries_.size() >= p_.max_keys)
        entries_.erase(std::min_element(entries_.begin(), entries_.end(),
                                        [](auto& a, auto& b) { return a.second.last < b.second.last; }));
    }
    it = entries_.emplace(std::string(key), entry{}).first;
  }
  auto& e = it->second;
  if (now - e.last >= p_.forget_after) e.count = 0;
  ++e.count;
  e.last = now;
  return e.count;
}

void failure_penalty::forgive(std::string_view key) {
  if (auto it = entries_.find(key); it != entries_.end()) entries_.erase(it);
}

}  // namespace shadowlink
