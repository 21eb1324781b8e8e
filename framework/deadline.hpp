#pragma once
// Racing an operation against a deadline. Asio's `a || b` waits for the first branch to
// *succeed*: a branch that fails early would otherwise wait for its rival (a refused connect
// would sit out the whole timeout). settle() turns an exception into a value so that `||` ends
// when the operation ends, however it ends.
#include "framework/net.hpp"

#include <boost/asio/error.hpp>

#include <exception>
#include <optional>
#include <string>
#include <variant>

namespace shadowlink {

// A struct, not a variant: Asio's `||` flattens variant results.
template <class T>
struct settled {
  std::optional<T> value;
  std::exception_ptr error;
};

template <class T>
awaitable<settled<T>> settle(awaitable<T> op) {
  settled<T> r;
  try {
    r.value.emplace(co_await std::move(op));
  } catch (...) {
    r.error = std::current_exception();
  }
  co_return r;
}

inline awaitable<std::exception_ptr> settle(awaitable<void> op) {
  try {
    co_await std::move(op);
  } catch (...) {
    co_return std::current_exception();
  }
  co_return nullptr;
}

// The operation's result, its exception, or system_error(timed_out, what) after `d`.
template <class T>
awaitable<T> with_deadline(awaitable<T> op, clock::duration d, std::string what) {
  using namespace net::experimental::awaitable_operators;
  net::steady_timer timer(co_await net::this_coro::executor, d);
  auto r = co_await (settle(std::move(op)) || timer.async_wait(use_awaitable));
  if (r.index() == 1) throw system_error(net::error::timed_out, what);
  auto& v = std::get<0>(r);
  if (v.error) std::rethrow_exception(v.error);
  co_return std::move(*v.value);
}

inline awaitable<void> with_deadline(awaitable<void> op, clock::duration d, std::string what) {
  using namespace net::experimental::awaitable_operators;
  net::steady_timer timer(co_await net::this_coro::executor, d);
  auto r = co_await (settle(std::move(op)) || timer.async_wait(use_awaitable));
  if (r.index() == 1) throw system_error(net::error::timed_out, what);
  if (auto ep = std::get<0>(r)) std::rethrow_exception(ep);
}

}  // namespace shadowlink
