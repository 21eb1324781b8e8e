#pragma once
// Growing delays for repeated failures, so that guessing (passwords, credentials, tokens, session
// passwords) costs time: the n-th failure from a key (a user name, a source address, a device id)
// makes the next answer to that key wait first * 2^(n-1), at most `max`. Failures older than
// `forget_after` are forgiven; the table holds at most `max_keys` keys (forgiven ones go first,
// then the stalest), so a flood of distinct keys cannot grow memory. One instance per event loop: no locks.
#include "framework/net.hpp"

#include <map>
#include <string>
#include <string_view>

namespace shadowlink {

class failure_penalty {
 public:
  struct policy {
    clock::duration first = 500ms;
    clock::duration max = 8s;
    clock::duration forget_after = 10min;
    std::size_t max_keys = 4096;
  };
  failure_penalty() = default;
  explicit failure_penalty(policy p) : p_(p) {}

  // Unforgiven failures from `key`.
  int count(std::string_view key) const;
  // The delay `failures` earn.
  clock::duration delay_for(int failures) const;
  clock::duration delay(std::string_view key) const { return delay_for(count(key)); }
  // How long `key` must still wait since its last failure before its next attempt is heard (zero:
  // now). Refusing early attempts outright, rather than making each wait, means parallel guesses
  // gain nothing: one is heard per window.
  clock::duration retry_after(std::string_view key) const;
  // Records a failure; returns the key's count with it.
  int failed(std::string_view key);
  // A success forgives the key's failures.
  void forgive(std::string_view key);
  std::size_t size() const { return entries_.size(); }

 private:
  struct entry {
    int count = 0;
    clock::time_point last;
  };
  policy p_;
  std::map<std::string, entry, std::less<>> entries_;
};

}  // namespace shadowlink
