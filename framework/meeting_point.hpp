#pragma once
// Meeting points: how a session coroutine awaits an event produced by another connection (a UP
// answer, a tunnel end reaching the rendezvous, the session's result awaited by a REST handler).
// Single-threaded by design (one io_context thread, see README "Runtime"), so no locks.
#include "framework/net.hpp"

#include <boost/asio/error.hpp>

#include <deque>
#include <optional>
#include <utility>

namespace shadowlink {

// A value delivered once by one party and awaited, with a deadline, by another.
template <class T>
class meeting_point {
 public:
  explicit meeting_point(net::any_io_executor ex) : wake_(std::move(ex), clock::time_point::max()) {}

  bool ready() const { return value_.has_value(); }

  // Returns false if a value was already delivered (the first one wins).
  bool deliver(T v) {
    if (value_ || closed_) return false;
    value_.emplace(std::move(v));
    wake_.cancel();
    return true;
  }

  // Takes a delivered value without waiting (e.g. to close an end nobody came for).
  std::optional<T> take() {
    auto v = std::move(value_);
    value_.reset();
    return v;
  }

  // Makes waiters give up (e.g. the session ended); later deliveries are refused.
  void close() {
    closed_ = true;
    wake_.cancel();
  }

  // Waits until delivered; throws system_error(timed_out) at the deadline,
  // operation_aborted if closed or cancelled.
  awaitable<T> wait(clock::time_point deadline) {
    while (!value_) {
      if (closed_) throw system_error(net::error::operation_aborted);
      if (clock::now() >= deadline) throw system_error(net::error::timed_out);
      wake_.expires_at(deadline);
      auto [ec] = co_await wake_.async_wait(use_tuple);
      if (ec && !value_ && !closed_) {
        auto cs = co_await net::this_coro::cancellation_state;
        if (cs.cancelled() != net::cancellation_type::none) throw system_error(net::error::operation_aborted);
      }
    }
    T v = std::move(*value_);
    value_.reset();
    co_return v;
  }

  awaitable<T> wait_for(clock::duration d) { return wait(clock::now() + d); }

 private:
  std::optional<T> value_;
  bool closed_ = false;
  net::steady_timer wake_;
};

// A bounded queue of events for one waiting coroutine (e.g. a gateway's reports about a session,
// which may arrive faster than the session coroutine takes them).
template <class T>
class mailbox {
 public:
  explicit mailbox(net::any_io_executor ex, std::size_t capacity = 16) : cap_(capacity), wake_(std::move(ex), clock::time_point::max()) {}

  bool post(T v) {
    if (closed_ || q_.size() >= cap_) return false;
    q_.push_back(std::move(v));
    wake_.cancel();
    return true;
  }
  void close() {
    closed_ = true;
    wake_.cancel();
  }
  // The next event; throws system_error(timed_out) at the deadline, operation_aborted if closed.
  awaitable<T> next(clock::time_point deadline) {
    while (q_.empty()) {
      if (closed_) throw system_error(net::error::operation_aborted);
      if (clock::now() >= deadline) throw system_error(net::error::timed_out);
      wake_.expires_at(deadline);
      auto [ec] = co_await wake_.async_wait(use_tuple);
      if (ec && q_.empty() && !closed_) {
        auto cs = co_await net::this_coro::cancellation_state;
        if (cs.cancelled() != net::cancellation_type::none) throw system_error(net::error::operation_aborted);
      }
    }
    T v = std::move(q_.front());
    q_.pop_front();
    co_return v;
  }

 private:
  std::deque<T> q_;
  std::size_t cap_;
  bool closed_ = false;
  net::steady_timer wake_;
};

// Sleeps until the deadline; returns early (without throwing) when cancelled.
inline awaitable<void> sleep_for(clock::duration d) {
  net::steady_timer t(co_await net::this_coro::executor, d);
  co_await t.async_wait(use_tuple);
}

}  // namespace shadowlink
