#include "framework/rendezvous.hpp"
#include "framework/tcp_stream.hpp"
#include "framework/token.hpp"
#include "support/async.hpp"

using namespace shadowlink;
using namespace shadowlink::testing;

namespace {
awaitable<stream_ptr> some_end(std::vector<tcp::socket>& keep) {
  auto ex = co_await net::this_coro::executor;
  tcp::socket a(ex), b(ex);
  co_await tcp_pair(a, b);
  keep.push_back(std::move(a));
  co_return make_tcp_stream(std::move(b));
}
}  // namespace

TEST_CASE("a device end that arrives before the session waits for it is matched when the session asks") {
  run_async([]() -> awaitable<void> {
    rendezvous rv(co_await net::this_coro::executor);
    std::vector<tcp::socket> keep;
    auto t = rv.open("s1", clock::now() + 5s);
    auto c = rv.claim("s1", t.device_token);
    REQUIRE(c.who == side::device);
    REQUIRE(rv.deliver("s1", side::device, co_await some_end(keep)));
    auto end = co_await rv.wait("s1", side::device, clock::now() + 1s);
    CHECK(end != nullptr);
    co_await rv.finish("s1", "done");
    CHECK(rv.size() == 0);
  });
}

TEST_CASE("a session that waits first receives the end when it arrives later") {
  run_async([]() -> awaitable<void> {
    using namespace net::experimental::awaitable_operators;
    rendezvous rv(co_await net::this_coro::executor);
    std::vector<tcp::socket> keep;
    auto t = rv.open("s2", clock::now() + 5s);
    auto arrive = [&]() -> awaitable<void> {
      net::steady_timer delay(co_await net::this_coro::executor, 50ms);
      co_await delay.async_wait(use_awaitable);
      auto c = rv.claim("s2", t.viewer_token);
      REQUIRE(c.who == side::viewer);
      rv.deliver("s2", side::viewer, co_await some_end(keep));
    };
    auto end = co_await (rv.wait("s2", side::viewer, clock::now() + 2s) && arrive());
    CHECK(end != nullptr);
  });
}

TEST_CASE("tokens are per side, single use, and refused after expiry") {
  run_async([]() -> awaitable<void> {
    rendezvous rv(co_await net::this_coro::executor);
    auto t = rv.open("s3", clock::now() + 5s);
    CHECK(rv.claim("nope", t.viewer_token).error == "unknown session");
    CHECK(rv.claim("s3", random_token()).error == "invalid token");
    CHECK(rv.claim("s3", t.viewer_token).who == side::viewer);
    CHECK(rv.claim("s3", t.viewer_token).error == "token already used");
    CHECK(rv.claim("s3", t.device_token).who == side::device);

    auto old = rv.open("s4", clock::now() - 1ms);
    CHECK(rv.claim("s4", old.device_token).error == "expired");
    co_return;
  });
}

TEST_CASE("a session that waits longer than its deadline gets timed_out and the late end is closed") {
  run_async([]() -> awaitable<void> {
    rendezvous rv(co_await net::this_coro::executor);
    std::vector<tcp::socket> keep;
    rv.open("s5", clock::now() + 5s);
    auto started = clock::now();
    CHECK_THROWS_AS(co_await rv.wait("s5", side::device, clock::now() + 100ms), system_error);
    CHECK(clock::now() - started >= 100ms);
    // An end that arrived but was never taken is closed when the session finishes.
    rv.deliver("s5", side::viewer, co_await some_end(keep));
    co_await rv.finish("s5", "expired");
    char byte;
    auto [ec, n] = co_await keep.back().async_read_some(net::buffer(&byte, 1), use_tuple);
    CHECK(ec == net::error::eof);
    CHECK(!rv.deliver("s5", side::viewer, nullptr));
  });
}

TEST_CASE("after 16 wrong tokens for a session nothing more is compared for it, and up to then the genuine token still works") {
  run_async([]() -> awaitable<void> {
    rendezvous rv(co_await net::this_coro::executor);
    auto almost = rv.open("s-almost", clock::now() + 5s);
    auto guessed = rv.open("s-guessed", clock::now() + 5s);
    const auto wrong = random_token(16);
    REQUIRE(wrong != almost.viewer_token);
    REQUIRE(wrong != guessed.viewer_token);
    for (int i = 0; i < rendezvous::max_wrong_tokens - 1; ++i) CHECK(rv.claim("s-almost", wrong).error == "invalid token");
    CHECK(rv.claim("s-almost", almost.viewer_token).who == side::viewer);  // 15 wrong: still open
    for (int i = 0; i < rendezvous::max_wrong_tokens; ++i) CHECK(rv.claim("s-guessed", wrong).error == "invalid token");
    auto after = rv.claim("s-guessed", guessed.viewer_token);
    CHECK_FALSE(after.who.has_value());
    CHECK(after.error == "too many wrong tokens for this session");
    co_await rv.finish("s-almost", "done");
    co_await rv.finish("s-guessed", "done");
  });
}
