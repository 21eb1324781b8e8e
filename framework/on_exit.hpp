#pragma once
// Runs a cleanup when a scope ends, however it ends (a coroutine's frame included): what a device
// link or a gateway link undoes when it goes, written next to what it set up.
#include <utility>

namespace shadowlink {

template <class F>
class on_exit {
 public:
  explicit on_exit(F f) : f_(std::move(f)) {}
  on_exit(const on_exit&) = delete;
  on_exit& operator=(const on_exit&) = delete;
  ~on_exit() { run(); }
  // Runs the cleanup now (once).
  void run() {
    if (armed_) {
      armed_ = false;
      f_();
    }
  }

 private:
  F f_;
  bool armed_ = true;
};

}  // namespace shadowlink
