#pragma once
// CPU-heavy work (a slow password hash) run on a thread pool, so that the event loop and the
// sessions on it never wait for it; the calling coroutine resumes on its own executor with the
// result (or the exception) of `work`.
#include "framework/net.hpp"

#include <boost/asio/thread_pool.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <exception>
#include <functional>

namespace shadowlink {

// Lowers the calling thread's CPU priority (nice 10 by default), once per thread: work that anyone
// may cause (password checks for login attempts, TLS handshakes) then yields the CPU to the event
// loop's sessions instead of competing with them as equals.
inline void yield_to_the_event_loop(int nice = 10) {
  thread_local const bool lowered = [nice] {
    return ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), nice) == 0;
  }();
  (void)lowered;
}

template <class T>
awaitable<T> offload(net::thread_pool& pool, std::function<T()> work) {
  // (A named initiation: g++ 12 miscompiles lambdas created inside a co_await expression.)
  auto start = [&pool, &work](auto handler) {
    auto home = net::prefer(net::get_associated_executor(handler), net::execution::outstanding_work.tracked);
    net::post(pool, [work = std::move(work), handler = std::move(handler), home]() mutable {
      std::exception_ptr error;
      T result{};
      try {
        result = work();
      } catch (...) {
        error = std::current_exception();
      }
      net::post(home, [handler = std::move(handler), error, result = std::move(result)]() mutable {
        std::move(handler)(error, std::move(result));
      });
    });
  };
  co_return co_await net::async_initiate<decltype(use_awaitable), void(std::exception_ptr, T)>(start, use_awaitable);
}

}  // namespace shadowlink
