#pragma once
// The end of a benchmark tool's main(): its coroutine on one thread; the exit code it sets, or 1
// (with the reason on stderr) if it throws.
#include "framework/net.hpp"

#include <cstdio>
#include <exception>

namespace shadowlink::bench {

template <class Start>  // Start: awaitable<void>(int& rc)
int run_tool(const char* tool, Start start) {
  net::io_context ioc(1);
  int rc = 1;
  net::co_spawn(ioc, start(rc), [&](std::exception_ptr ep) {
    // Connections still open (a stream that ignores cancellation) end with the process.
    ioc.stop();
    if (!ep) return;
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: %s\n", tool, e.what());
    }
    rc = 1;
  });
  ioc.run();
  return rc;
}

}  // namespace shadowlink::bench
