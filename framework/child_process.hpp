#pragma once
// Programs a service starts and waits for without blocking its thread: a device's consent dialog
// and its "you are being shadowed" indicator. Started with posix_spawn (no shell), reaped by
// polling waitpid; every wait has a deadline, and a child that outlives it is terminated.
#include "framework/net.hpp"

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace shadowlink {

class child_process {
 public:
  // Starts argv[0] (searched in PATH) with the environment plus `env`, and the service's
  // descriptors `redirect[i].first` as its standard streams `redirect[i].second` (0, 1 or 2); throws
  // std::runtime_error naming the program if it cannot be started.
  child_process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                const std::vector<std::pair<int, int>>& redirect = {});
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process();  // terminates (SIGTERM, then SIGKILL) and reaps a child still running

  // Its exit code once it exits, or nothing at the deadline (it keeps running) or when cancelled.
  // A child killed by a signal yields 128 + the signal number.
  awaitable<std::optional<int>> wait(clock::time_point deadline);
  bool running() const { return !code_; }
  // Its exit code if it has exited (as wait's), without waiting: for a thread of its own that
  // learnt otherwise (its output ended) that the child is ending.
  std::optional<int> exited();
  void terminate();
  // Terminates it and waits (without blocking the thread) until it is gone or `grace` has passed;
  // the destructor then only has a dead child to reap.
  awaitable<void> stop(clock::duration grace);

 private:
  bool reap();
  pid_t pid_ = -1;
  std::optional<int> code_;
};

}  // namespace shadowlink
