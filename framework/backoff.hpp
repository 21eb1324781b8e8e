#pragma once
// Reconnect delays for clients that keep a link open (the device agent to its connectors, the UMS
// to its gateways): exponential from `min` up to `max`, each wait a random point in the upper half
// of the current step ("equal jitter"), so thousands of clients that lost one server do not all
// come back in the same instant, and none retries faster than `min / 2`.
#include "framework/net.hpp"

#include <algorithm>
#include <random>

namespace shadowlink {

class backoff {
 public:
  backoff(clock::duration min, clock::duration max) : min_(min), max_(std::max(min, max)) {}

  clock::duration next() {
    step_ = step_ == clock::duration{} ? min_ : std::min(step_ * 2, max_);
    std::uniform_int_distribution<clock::rep> pick(step_.count() / 2, step_.count());
    return clock::duration(pick(jitter_));
  }
  // The link worked: the next failure starts from `min` again.
  void reset() { step_ = {}; }

 private:
  clock::duration min_, max_, step_{};
  std::mt19937_64 jitter_{std::random_device{}()};
};

}  // namespace shadowlink
