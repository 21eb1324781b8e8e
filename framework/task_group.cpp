#include "framework/task_group.hpp"

#include "framework/errors.hpp"

namespace shadowlink {

task_group::task_group(net::any_io_executor ex) : ex_(ex), st_(std::make_shared<state>()) {
  st_->empty = std::make_unique<net::steady_timer>(ex, clock::time_point::max());
}

void task_group::spawn(awaitable<void> t, std::string scope) {
  auto it = st_->tasks.emplace(st_->tasks.end());
  net::co_spawn(ex_, std::move(t),
                net::bind_cancellation_slot(it->signal.slot(), [st = st_, it, scope = std::move(scope)](std::exception_ptr ep) {
                  log_exceptions{scope}(ep);
                  st->tasks.erase(it);
                  if (st->tasks.empty()) st->empty->cancel();
                }));
}

std::size_t task_group::on_stop(std::function<void()> hook) {
  auto id = next_hook_++;
  hooks_.emplace_back(id, std::move(hook));
  if (stopping_) hooks_.back().second();
  return id;
}

void task_group::remove_stop_hook(std::size_t id) {
  hooks_.remove_if([id](const auto& h) { return h.first == id; });
}

void task_group::request_stop() {
  stopping_ = true;
  // Hooks may unregister themselves or others while running: iterate over a snapshot of ids.
  std::vector<std::size_t> ids;
  for (auto& h : hooks_) ids.push_back(h.first);
  for (auto id : ids)
    for (auto& h : hooks_)
      if (h.first == id) {
        auto f = h.second;
        f();
        break;
      }
}

void task_group::cancel() {
  stopping_ = true;
  for (auto& t : st_->tasks) t.signal.emit(net::cancellation_type::terminal);
}

awaitable<bool> task_group::wait_empty(clock::time_point deadline) {
  auto st = st_;
  while (!st->tasks.empty() && clock::now() < deadline) {
    st->empty->expires_at(deadline);
    co_await st->empty->async_wait(use_tuple);
  }
  co_return st->tasks.empty();
}

}  // namespace shadowlink
