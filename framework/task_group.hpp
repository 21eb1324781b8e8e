#pragma once
// The owner of spawned coroutines. Every connection and session is spawned into a task_group so
// that shutdown can (1) ask each one to end politely, (2) after a bounded wait cancel the rest
// terminally, and (3) know when all are gone. Beast 1.81 has no task_group; this is the small one
// its later flex-awaitable example describes.
#include "framework/net.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include <cstddef>
#include <functional>
#include <list>
#include <string>

namespace shadowlink {

class task_group {
 public:
  explicit task_group(net::any_io_executor ex);
  task_group(const task_group&) = delete;
  task_group& operator=(const task_group&) = delete;

  // Spawns `task`; exceptions are logged under `scope` by the shared handler (errors.hpp).
  void spawn(awaitable<void> task, std::string scope);

  // Registers a polite-stop hook (e.g. a splice's stop()); the returned id unregisters it.
  std::size_t on_stop(std::function<void()> hook);
  void remove_stop_hook(std::size_t id);

  void request_stop();  // stage 1: run polite hooks
  void cancel();        // stage 2: terminal cancellation of every task
  bool stopping() const { return stopping_; }
  std::size_t size() const { return st_->tasks.size(); }
  const net::any_io_executor& executor() const { return ex_; }

  // Waits until all tasks are gone or the deadline passes; true if all are gone.
  awaitable<bool> wait_empty(clock::time_point deadline);

 private:
  struct task {
    net::cancellation_signal signal;
  };
  // Shared with every task's completion handler, so a task that outlives the group (a test that
  // forgot to wait) finds its bookkeeping still valid.
  struct state {
    std::list<task> tasks;
    std::unique_ptr<net::steady_timer> empty;
  };
  net::any_io_executor ex_;
  std::shared_ptr<state> st_;
  std::list<std::pair<std::size_t, std::function<void()>>> hooks_;
  std::size_t next_hook_ = 1;
  bool stopping_ = false;
};

// Registers a stop hook for the lifetime of a scope.
class stop_hook {
 public:
  stop_hook(task_group& g, std::function<void()> f) : g_(g), id_(g.on_stop(std::move(f))) {}
  ~stop_hook() { g_.remove_stop_hook(id_); }
  stop_hook(const stop_hook&) = delete;
  stop_hook& operator=(const stop_hook&) = delete;

 private:
  task_group& g_;
  std::size_t id_;
};

}  // namespace shadowlink
