#include "framework/splice.hpp"
#include "framework/meeting_point.hpp"
#include "framework/service_host.hpp"
#include "framework/tcp_stream.hpp"
#include "support/async.hpp"

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

using namespace shadowlink;
using namespace shadowlink::testing;
using namespace net::experimental::awaitable_operators;

namespace {
// client_a <-> [stream a | splice | stream b] <-> client_b
struct spliced_pair {
  explicit spliced_pair(const net::any_io_executor& ex) : client_a(ex), client_b(ex) {}
  tcp::socket client_a, client_b;
  stream_ptr a, b;
};

awaitable<std::unique_ptr<spliced_pair>> make_pair() {
  auto ex = co_await net::this_coro::executor;
  auto p = std::make_unique<spliced_pair>(ex);
  tcp::socket sa(ex), sb(ex);
  co_await tcp_pair(p->client_a, sa);
  co_await tcp_pair(p->client_b, sb);
  p->a = make_tcp_stream(std::move(sa));
  p->b = make_tcp_stream(std::move(sb));
  co_return p;
}

awaitable<std::string> read_to_eof(tcp::socket& s) {
  std::string out;
  char buf[4096];
  for (;;) {
    auto [ec, n] = co_await s.async_read_some(net::buffer(buf), use_tuple);
    out.append(buf, n);
    if (ec) break;
  }
  co_return out;
}
}  // namespace

TEST_CASE("bytes flow both ways through a splice and are counted") {
  run_async([]() -> awaitable<void> {
    auto pp = co_await make_pair();
    auto& p = *pp;
    splicer sp(*p.a, *p.b);
    auto drive = [&]() -> awaitable<void> {
      co_await net::async_write(p.client_a, net::buffer(std::string("hello")), use_awaitable);
      char buf[5];
      co_await net::async_read(p.client_b, net::buffer(buf), use_awaitable);
      CHECK(std::string(buf, 5) == "hello");
      co_await net::async_write(p.client_b, net::buffer(std::string("world!")), use_awaitable);
      char buf2[6];
      co_await net::async_read(p.client_a, net::buffer(buf2), use_awaitable);
      CHECK(std::string(buf2, 6) == "world!");
      p.client_a.close();
    };
    auto reason = co_await (sp.run() && drive());
    CHECK(reason.words("a", "b") == "a closed");
    CHECK(sp.counters().bytes_ab == 5);
    CHECK(sp.counters().bytes_ba == 6);
    CHECK(sp.counters().buffered == 0);
  });
}

TEST_CASE("when one side ends, what it sent is delivered and then the other side is closed") {
  run_async([]() -> awaitable<void> {
    auto pp = co_await make_pair();
    auto& p = *pp;
    splicer sp(*p.a, *p.b);
    auto drive = [&]() -> awaitable<std::string> {
      std::string big(200000, 'x');
      co_await net::async_write(p.client_a, net::buffer(big), use_awaitable);
      p.client_a.shutdown(tcp::socket::shutdown_send);  // EOF right after the data
      co_return co_await read_to_eof(p.client_b);
    };
    auto [reason, got] = co_await (sp.run() && drive());
    CHECK(reason.words("a", "b") == "a closed");
    CHECK(got.size() == 200000);
    // The other client sees its end closed too.
    auto rest = co_await read_to_eof(p.client_a);
    CHECK(rest.empty());
  });
}

TEST_CASE("stop from outside ends the splice and closes both sides") {
  run_async([]() -> awaitable<void> {
    auto pp = co_await make_pair();
    auto& p = *pp;
    splicer sp(*p.a, *p.b);
    auto stopper = [&]() -> awaitable<void> {
      co_await sleep_for(50ms);
      sp.stop("administrator ended the session");
    };
    auto reason = co_await (sp.run() && stopper());
    CHECK(reason.words("a", "b") == "administrator ended the session");  // the reason says who
    auto rest_a = co_await read_to_eof(p.client_a);
    auto rest_b = co_await read_to_eof(p.client_b);
    CHECK(rest_a.empty());
    CHECK(rest_b.empty());
  });
}

TEST_CASE("an idle splice ends after its idle timeout") {
  run_async([]() -> awaitable<void> {
    auto pp = co_await make_pair();
    auto& p = *pp;
    splicer sp(*p.a, *p.b, splice_options{.idle_timeout = 200ms, .write_timeout = 30s, .close_deadline = 1s});
    auto started = clock::now();
    auto reason = co_await sp.run();
    CHECK(reason.words("a", "b") == "idle timeout");
    CHECK(clock::now() - started >= 200ms);
  });
}

TEST_CASE("with the reading side stopped, the splice's buffered bytes stay bounded while the writer keeps sending") {
  run_async([]() -> awaitable<void> {
    auto pp = co_await make_pair();
    auto& p = *pp;
    // Small kernel buffers so the stall shows quickly; client_b never reads.
    p.client_b.set_option(net::socket_base::receive_buffer_size(8192));
    splicer sp(*p.a, *p.b, splice_options{.idle_timeout = 10s, .write_timeout = 1500ms, .close_deadline = 1s});
    std::size_t sent = 0;
    auto writer = [&]() -> awaitable<void> {
      std::string chunk(16384, 'y');
      net::steady_timer t(co_await net::this_coro::executor);
      // Keep writing for a while; the writes stall once every buffer on the way is full.
      auto deadline = clock::now() + 1s;
      while (clock::now() < deadline) {
        t.expires_after(50ms);
        auto r = co_await (net::async_write(p.client_a, net::buffer(chunk), use_tuple) || t.async_wait(use_awaitable));
        if (r.index() == 1) continue;
        auto [ec, n] = std::get<0>(r);
        if (ec) break;
        sent += n;
      }
      CHECK(sp.counters().buffered <= splicer::buffer_size);
    };
    auto reason = co_await (sp.run() && writer());
    // The writer was pushed back: far less was accepted than a second of loopback could carry.
    CHECK(sent < 16 * 1024 * 1024);
    CHECK(sp.counters().max_buffered <= splicer::buffer_size);
    CHECK(reason.words("a", "b") == "write timeout");
  });
}

TEST_CASE("a thousand spliced pairs run concurrently and all close without leaking") {
  raise_open_file_limit();
  run_async(
      []() -> awaitable<void> {
        constexpr int pairs = 1000;
        std::vector<std::unique_ptr<spliced_pair>> ps;
        std::vector<std::unique_ptr<splicer>> splices;
        for (int i = 0; i < pairs; ++i) ps.push_back(co_await make_pair());
        std::size_t peak = 0;
        int finished = 0;
        net::steady_timer all_done(co_await net::this_coro::executor, clock::time_point::max());
        auto ex = co_await net::this_coro::executor;
        for (auto& p : ps) {
          splices.push_back(std::make_unique<splicer>(*p->a, *p->b));
          net::co_spawn(ex, splices.back()->run(), [&](std::exception_ptr, splice_end) {
            if (++finished == pairs) all_done.cancel();
          });
        }
        // Let every splice start, then send one message through each while all are live.
        co_await sleep_for(100ms);
        peak = splice_stats::live;
        CHECK(peak == pairs);
        for (auto& p : ps) co_await net::async_write(p->client_a, net::buffer("ping", 4), use_awaitable);
        for (auto& p : ps) {
          char buf[4];
          co_await net::async_read(p->client_b, net::buffer(buf), use_awaitable);
        }
        CHECK(splice_stats::live == pairs);
        for (auto& p : ps) p->client_a.close();
        co_await all_done.async_wait(use_tuple);
        CHECK(finished == pairs);
        CHECK(splice_stats::live == 0);
      },
      std::chrono::seconds(60));
}

TEST_CASE("a splice direction reads into its small buffer while reads are small, into the big one while they fill what they get, and gives the big one back after a run of small reads") {
  splice_buffer b;
  CHECK(b.space().size() == splice_buffer::small_size);
  b.after_read(100);  // a keystroke
  CHECK_FALSE(b.holds_big());
  b.after_read(splice_buffer::small_size);  // filled: more is coming
  REQUIRE(b.holds_big());
  CHECK(b.space().size() == splice_buffer::big_size);
  b.after_read(splice_buffer::big_size);
  for (int i = 0; i < 7; ++i) b.after_read(10);
  CHECK(b.holds_big());  // seven small reads: kept (a screen update may follow)
  b.after_read(splice_buffer::small_size + 1);  // a bigger one starts the count again
  for (int i = 0; i < 7; ++i) b.after_read(10);
  CHECK(b.holds_big());
  b.after_read(10);  // the eighth in a row
  CHECK_FALSE(b.holds_big());
  CHECK(b.space().size() == splice_buffer::small_size);
}
