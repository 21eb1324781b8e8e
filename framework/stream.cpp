#include "framework/stream.hpp"

namespace shadowlink {

awaitable<void> close_stream(stream& s, std::string_view reason, clock::duration deadline) {
  using namespace net::experimental::awaitable_operators;
  try {
    net::steady_timer t(co_await net::this_coro::executor, deadline);
    co_await (s.close(reason) || t.async_wait(use_awaitable));
  } catch (const std::exception&) {
    // Polite close failed or was cancelled: the forcible close below is the answer either way.
  }
  s.abort();
}

}  // namespace shadowlink
