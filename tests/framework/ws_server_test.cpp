#include "framework/https_server.hpp"
#include "framework/meeting_point.hpp"
#include "framework/splice.hpp"
#include "framework/tcp_stream.hpp"
#include "support/async.hpp"

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <wolfssl/wolfcrypt/ecc.h>

#include <cstdio>
#include <thread>

using namespace shadowlink;
using namespace shadowlink::testing;
using namespace net::experimental::awaitable_operators;

namespace {
// A plain TCP echo server: the far end of the tunnel under test.
awaitable<void> echo_server(tcp::acceptor& acc) {
  auto s = co_await acc.async_accept(use_awaitable);
  char buf[8192];
  for (;;) {
    auto [ec, n] = co_await s.async_read_some(net::buffer(buf), use_tuple);
    if (ec) break;
    co_await net::async_write(s, net::buffer(buf, n), use_tuple);
  }
}

struct fixture {
  task_group tasks;
  https_server server;
  tcp::acceptor echo;
  std::string last_reason;
  explicit fixture(net::any_io_executor ex, server_limits limits = {})
      : tasks(ex), server(tasks, make_server_tls(test_identity().cert_chain_pem, test_identity().key_pem), "test", limits),
        echo(ex, {net::ip::make_address("127.0.0.1"), 0}) {
    // WebSocket over TLS spliced to TCP: the shape of a device agent's tunnel.
    server.add_ws("/echo", [this](ws_upgrade& up) -> awaitable<void> {
      if (up.request()["X-Token"] != "let-me-in") {
        co_await up.reject(http::status::forbidden, "invalid token");
        co_return;
      }
      const ws_options opts;
      auto ws = co_await up.accept(opts);
      auto sock = co_await connect_tcp("127.0.0.1", std::to_string(echo.local_endpoint().port()), 2s);
      auto tcp_end = make_tcp_stream(std::move(sock));
      splicer sp(*ws, *tcp_end);
      last_reason = (co_await sp.run()).words("a", "b");
    });
    server.add_http("/hello", [](const http_request& req, const std::string&) -> awaitable<http_response> {
      co_return json_response(req, http::status::ok, R"({"hello":"world"})");
    });
    server.listen("127.0.0.1", 0);
  }
  // Stops accepting and waits for every connection task, so nothing outlives the fixture.
  awaitable<void> shutdown() {
    server.stop();
    tasks.cancel();
    co_await tasks.wait_empty(clock::now() + 5s);
  }
  ws_target target(std::string path) { return {true, "127.0.0.1", std::to_string(server.port()), std::move(path)}; }
};
}  // namespace

TEST_CASE("a WebSocket over TLS is spliced to a TCP echo server and echoes every message") {
  run_async([]() -> awaitable<void> {
    fixture f(co_await net::this_coro::executor);
    tls_client client(client_trust{test_identity().ca_pem, {}});
    const ws_options opts;
    auto client_side = [&]() -> awaitable<void> {
      std::map<std::string, std::string> headers{{"X-Token", "let-me-in"}};
      auto ws = co_await connect_ws(&client, f.target("/echo"), headers, opts);
      for (int i = 0; i < 50; ++i) {
        std::string msg = "message " + std::to_string(i) + std::string(static_cast<std::size_t>(i) * 100, '.');
        error_code ec;
        co_await ws->write(net::buffer(msg), ec);
        REQUIRE(!ec);
        std::string got;
        std::vector<char> buf(65536);
        while (got.size() < msg.size()) {
          auto n = co_await ws->read_some(net::buffer(buf), ec);
          REQUIRE(!ec);
          got.append(buf.data(), n);
        }
        CHECK(got == msg);
      }
      co_await close_stream(*ws, "bye");
    };
    co_await (client_side() && echo_server(f.echo));
    // The server's side of the connection ends on its own once the client closed; the accept loop
    // stays (so the group is never empty): wait for that state, at most 3 s.
    for (auto deadline = clock::now() + 3s; (f.tasks.size() > 1 || f.last_reason.empty()) && clock::now() < deadline;)
      co_await sleep_for(10ms);
    CHECK(f.last_reason == "a closed");
    CHECK(f.tasks.size() == 1);  // only the accept loop is left
    co_await f.shutdown();
  });
}

TEST_CASE("a refused WebSocket upgrade reports the HTTP status and reason to the client") {
  run_async([]() -> awaitable<void> {
    fixture f(co_await net::this_coro::executor);
    tls_client client(client_trust{test_identity().ca_pem, {}});
    const ws_options opts;
    try {
      std::map<std::string, std::string> headers{{"X-Token", "wrong"}};
      co_await connect_ws(&client, f.target("/echo"), headers, opts);
      FAIL("the upgrade should have been refused");
    } catch (const system_error& e) {
      CHECK_THAT(e.what(), Catch::Contains("server answered 403 Forbidden"));
    }
    try {
      std::map<std::string, std::string> none;
      co_await connect_ws(&client, f.target("/nowhere"), none, opts);
      FAIL("the upgrade should have been refused");
    } catch (const system_error& e) {
      CHECK_THAT(e.what(), Catch::Contains("404"));
    }
    co_await f.shutdown();
  });
}

TEST_CASE("openssl s_client, a TLS stack we did not build, gets a verified TLS 1.3 session and an HTTP answer") {
  net::io_context ioc(1);
  fixture f(ioc.get_executor());
  auto dir = temp_dir();
  {
    std::FILE* ca = std::fopen((dir + "/ca.pem").c_str(), "w");
    std::fputs(test_identity().ca_pem.c_str(), ca);
    std::fclose(ca);
  }
  std::thread runner([&] {
    ioc.run_for(std::chrono::seconds(20));
    wc_ecc_fp_free();  // wolfSSL's ECC point cache is per thread: release it before the thread ends
  });
  std::string cmd = "printf 'GET /hello HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' | timeout 15 "
                    "openssl s_client -connect 127.0.0.1:" + std::to_string(f.server.port()) + " -CAfile " + dir +
                    "/ca.pem -verify_return_error -verify_hostname localhost -tls1_3 -ign_eof 2>&1";
  std::string out;
  if (std::FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    while (auto n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    pclose(p);
  }
  net::post(ioc, [&] { f.server.stop(); });
  ioc.stop();
  runner.join();
  CHECK_THAT(out, Catch::Contains("Verify return code: 0 (ok)"));
  CHECK_THAT(out, Catch::Contains("TLSv1.3"));
  CHECK_THAT(out, Catch::Contains("HTTP/1.1 200 OK"));
  CHECK_THAT(out, Catch::Contains(R"({"hello":"world"})"));
}

TEST_CASE("a URL that will carry a token or a screen must be wss://, and a plain ws:// one is refused with the reason") {
  CHECK(parse_wss_url("wss://gw.example:9443/tunnel/s-1").host == "gw.example");
  CHECK(parse_ws_url("ws://gw.example:9443/tunnel/s-1").tls == false);  // the general parser still reads it...
  CHECK_THROWS_WITH(parse_wss_url("ws://gw.example:9443/tunnel/s-1"),  // ...but clients of tunnels refuse it
                    "refusing ws://gw.example:9443/tunnel/s-1: tokens and screens travel only over wss://");
  CHECK_THROWS_WITH(parse_wss_url("gopher://x"), Catch::StartsWith("expected a ws:// or wss:// URL"));
}

namespace {
// Waits (at most 3 s) until `value()` equals `want`; returns the last value seen.
template <class F>
awaitable<std::size_t> settle(F value, std::size_t want) {
  for (auto deadline = clock::now() + 3s; value() != want && clock::now() < deadline;) co_await sleep_for(10ms);
  co_return value();
}

// Whether the server closed `s` (read end or reset) within 3 s, without a byte.
awaitable<bool> closed_by_server(tcp::socket& s) {
  char byte;
  net::steady_timer t(s.get_executor(), 3s);
  auto r = co_await (s.async_read_some(net::buffer(&byte, 1), use_tuple) || t.async_wait(use_tuple));
  co_return r.index() == 0 && std::get<0>(std::get<0>(r)) != error_code{};
}

// An upgrade refused with 403 proves the server did the TLS handshake and read the request.
awaitable<bool> served(fixture& f) {
  tls_client client(client_trust{test_identity().ca_pem, {}});
  const ws_options opts;
  std::map<std::string, std::string> headers{{"X-Token", "wrong"}};
  try {
    co_await connect_ws(&client, f.target("/echo"), headers, opts);
  } catch (const system_error& e) {
    co_return std::string(e.what()).find("403") != std::string::npos;
  }
  co_return false;
}
}  // namespace

TEST_CASE("a listener closes a connection beyond its limit of TLS handshakes from one address at once, and serves again once they are done") {
  run_async([]() -> awaitable<void> {
    server_limits limits;
    limits.max_handshakes_per_address = 2;
    fixture f(co_await net::this_coro::executor, limits);
    const auto port = std::to_string(f.server.port());
    // Two connections that never say hello: handshakes in progress (the live counter says so).
    auto silent1 = co_await connect_tcp("127.0.0.1", port, 2s);
    auto silent2 = co_await connect_tcp("127.0.0.1", port, 2s);
    CHECK(co_await settle([&] { return f.server.handshakes(); }, 2) == 2);
    auto third = co_await connect_tcp("127.0.0.1", port, 2s);
    const bool third_closed = co_await closed_by_server(third);
    CHECK(third_closed);
    CHECK(f.server.refused() == 1);
    silent1.close();
    silent2.close();
    CHECK(co_await settle([&] { return f.server.handshakes(); }, 0) == 0);
    const bool serves = co_await served(f);
    CHECK(serves);
    CHECK(f.server.refused() == 1);
    co_await f.shutdown();
  });
}

TEST_CASE("a listener at its limit of TLS handshakes still lets in a first one from an address that has none in progress, up to twice the limit") {
  run_async([]() -> awaitable<void> {
    server_limits limits;
    limits.max_handshakes = 2;
    fixture f(co_await net::this_coro::executor, limits);
    const auto port = std::to_string(f.server.port());
    auto a1 = co_await connect_tcp("127.0.0.1", port, 2s, "127.0.0.1");
    auto a2 = co_await connect_tcp("127.0.0.1", port, 2s, "127.0.0.1");
    CHECK(co_await settle([&] { return f.server.handshakes(); }, 2) == 2);
    auto a3 = co_await connect_tcp("127.0.0.1", port, 2s, "127.0.0.1");  // the cap, from a busy address
    const bool a3_closed = co_await closed_by_server(a3);
    CHECK(a3_closed);
    CHECK(f.server.refused() == 1);
    auto b1 = co_await connect_tcp("127.0.0.1", port, 2s, "127.0.0.2");  // an address with none: let in
    CHECK(co_await settle([&] { return f.server.handshakes(); }, 3) == 3);
    auto b2 = co_await connect_tcp("127.0.0.1", port, 2s, "127.0.0.2");  // ...but only one
    const bool b2_closed = co_await closed_by_server(b2);
    CHECK(b2_closed);
    CHECK(f.server.refused() == 2);
    auto c1 = co_await connect_tcp("127.0.0.1", port, 2s, "127.0.0.3");
    CHECK(co_await settle([&] { return f.server.handshakes(); }, 4) == 4);
    auto d1 = co_await connect_tcp("127.0.0.1", port, 2s, "127.0.0.4");  // twice the cap: nobody
    const bool d1_closed = co_await closed_by_server(d1);
    CHECK(d1_closed);
    CHECK(f.server.refused() == 3);
    co_await f.shutdown();
  });
}

TEST_CASE("a listener closes connections beyond its limit from one address, and a connection that was let in is served") {
  run_async([]() -> awaitable<void> {
    server_limits limits;
    limits.max_connections_per_address = 1;
    fixture f(co_await net::this_coro::executor, limits);
    const auto port = std::to_string(f.server.port());
    auto first = co_await connect_tcp("127.0.0.1", port, 2s);
    CHECK(co_await settle([&] { return f.server.connections(); }, 1) == 1);
    auto second = co_await connect_tcp("127.0.0.1", port, 2s);
    const bool second_closed = co_await closed_by_server(second);
    CHECK(second_closed);
    CHECK(f.server.refused() == 1);
    first.close();
    CHECK(co_await settle([&] { return f.server.connections(); }, 0) == 0);
    const bool serves = co_await served(f);  // the positive control: one at a time is let in
    CHECK(serves);
    co_await f.shutdown();
  });
}

TEST_CASE("a keep-alive HTTP connection is closed after the answer that ends its lifetime, however often it asks") {
  run_async([]() -> awaitable<void> {
    server_limits limits;
    limits.keep_alive_lifetime = 300ms;
    fixture f(co_await net::this_coro::executor, limits);
    tls_client client(client_trust{test_identity().ca_pem, {}});
    auto s = co_await connect_tls(client, "127.0.0.1", std::to_string(f.server.port()), 2s);
    boost::beast::flat_buffer buf;
    int answered = 0;
    error_code ec;
    // Well within the idle limit (30 s) each time: only the lifetime can end the connection.
    for (int i = 0; i < 20 && !ec; ++i) {
      http_request req{http::verb::get, "/hello", 11};
      req.set(http::field::host, "127.0.0.1");
      req.keep_alive(true);
      auto [wec, wn] = co_await http::async_write(*s, req, use_tuple);
      if (wec) break;
      http_response res;
      auto [rec, rn] = co_await http::async_read(*s, buf, res, use_tuple);
      ec = rec;
      if (!ec) ++answered;
      co_await sleep_for(100ms);
    }
    CHECK(answered >= 2);   // kept alive at first
    CHECK(answered < 20);   // and closed once its lifetime was over
    co_await f.shutdown();
  });
}
