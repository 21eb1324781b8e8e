#include "support/async.hpp"

#include <filesystem>
#include <vector>



#include <cstdlib>

namespace shadowlink::testing {

void run_async(std::function<awaitable<void>()> body, std::chrono::seconds limit) {
  net::io_context ioc(1);
  std::exception_ptr error;
  bool done = false;
  net::co_spawn(ioc, body(), [&](std::exception_ptr e) {
    error = e;
    done = true;
  });
  ioc.run_for(limit);
  if (!done) FAIL("the test body did not finish within " << limit.count() << " s");
  if (error) std::rethrow_exception(error);
}

awaitable<void> tcp_pair(tcp::socket& client, tcp::socket& server) {
  auto ex = co_await net::this_coro::executor;
  tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
  tcp::acceptor acc(ex, ep);
  co_await client.async_connect(acc.local_endpoint(), use_awaitable);
  co_await acc.async_accept(server, use_awaitable);
}

std::string temp_dir() {
  // Removed when the test process exits (normally).
  static struct cleanup {
    std::vector<std::string> dirs;
    ~cleanup() {
      for (auto& d : dirs) {
        std::error_code ec;
        std::filesystem::remove_all(d, ec);
      }
    }
  } made;
  std::string tmpl = "/tmp/shadowlink-test-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  made.dirs.push_back(tmpl);
  return tmpl;
}

const identity& test_identity() {
  static identity id = [] {
    auto dir = temp_dir();
    return ensure_server_identity(dir + "/server", dir + "/ca", {"localhost", "127.0.0.1"});
  }();
  return id;
}

}  // namespace shadowlink::testing
