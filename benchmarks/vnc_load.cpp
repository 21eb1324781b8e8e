#include "benchmarks/vnc_load.hpp"

#include "benchmarks/measure.hpp"
#include "framework/deadline.hpp"

#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>

#include <cstring>
#include <variant>
#include <random>

namespace shadowlink::bench {
namespace {

using namespace net::experimental::awaitable_operators;

// An update's header: magic, total size (header included), the time it was due (steady clock, ns).
constexpr std::uint32_t update_magic = 0x53464255;  // "UBFS"
constexpr std::size_t header_size = 16;
constexpr std::size_t smallest_update = 256, largest_small_update = 64 * 1024;

std::int64_t now_ns() { return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch()).count(); }

void put_header(char* h, std::uint32_t size, std::int64_t due_ns) {
  std::memcpy(h, &update_magic, 4);
  std::memcpy(h + 4, &size, 4);
  std::memcpy(h + 8, &due_ns, 8);
}

}  // namespace

vnc_screen_server::vnc_screen_server(unsigned short port, vnc_profile profile)
    : profile_(profile), payload_(std::max(profile.big_update, largest_small_update), 'f') {
  tcp::acceptor acceptor(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  net::co_spawn(ioc_, accept_loop(std::move(acceptor)), net::detached);
  thread_ = std::thread([this] { ioc_.run(); });
}

vnc_screen_server::~vnc_screen_server() {
  ioc_.stop();
  if (thread_.joinable()) thread_.join();
}

awaitable<void> vnc_screen_server::accept_loop(tcp::acceptor acceptor) {
  for (std::uint32_t n = 0;; ++n) {
    // (A failed accept, e.g. out of descriptors, must not end the server for every later session.)
    auto [ec, s] = co_await acceptor.async_accept(use_tuple);
    if (ec) continue;
    s.set_option(tcp::no_delay(true), ec);  // as VNC servers do: an update's last segment must not wait for an ACK
    ++connections;
    net::co_spawn(ioc_, screen(std::move(s), n), net::detached);  // owned by ioc_, ended by its stop()
  }
}

awaitable<void> vnc_screen_server::drain_input(tcp::socket& s) {
  char buf[512];
  for (;;) input_bytes += co_await s.async_read_some(net::buffer(buf), use_awaitable);
}

// Updates on a schedule fixed in advance: each is stamped with the time it was due, not the time
// it was written, so a relay that falls behind shows as latency instead of fewer updates.
awaitable<void> vnc_screen_server::screen(tcp::socket s, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::exponential_distribution<double> size_of(1.0 / static_cast<double>(profile_.mean_update));
  std::exponential_distribution<double> gap_s(profile_.updates_per_s);
  const auto big_every = std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(profile_.big_every_s));
  net::steady_timer t(co_await net::this_coro::executor);
  auto send = [&]() -> awaitable<void> {
    while (!moving) {
      t.expires_after(10ms);
      co_await t.async_wait(use_awaitable);
    }
    auto next_big = clock::now() + big_every * std::uniform_real_distribution<double>(0, 1)(rng);
    auto due = clock::now();
    for (;;) {
      due += std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(gap_s(rng)));
      std::size_t size = std::clamp<std::size_t>(static_cast<std::size_t>(size_of(rng)), smallest_update, largest_small_update);
      if (due >= next_big) {
        size = profile_.big_update;
        next_big += big_every;
      }
      t.expires_at(due);
      co_await t.async_wait(use_awaitable);
      char header[header_size];
      put_header(header, static_cast<std::uint32_t>(size), std::chrono::duration_cast<std::chrono::nanoseconds>(due.time_since_epoch()).count());
      const std::array<net::const_buffer, 2> parts{net::buffer(header), net::buffer(payload_.data(), size - header_size)};
      co_await net::async_write(s, parts, use_awaitable);
      ++updates_sent;
      bytes_sent += size;
    }
  };
  // Whichever side ends first (the viewer's session ended: the device's VNC connection closes
  // with it) ends the other.
  co_await (settle(send()) || settle(drain_input(s)));
}

awaitable<void> watch_screen(stream& s, vnc_profile profile, std::uint32_t seed, vnc_viewer_stats& stats) {
  auto read_updates = [&]() -> awaitable<void> {
    std::vector<char> buf(16 * 1024);
    char header[header_size];
    for (;;) {
      co_await read_exact(s, header, header_size);
      std::uint32_t magic = 0, size = 0;
      std::int64_t due_ns = 0;
      std::memcpy(&magic, header, 4);
      std::memcpy(&size, header + 4, 4);
      std::memcpy(&due_ns, header + 8, 8);
      if (magic != update_magic || size < header_size || size > std::max(profile.big_update, largest_small_update))
        throw std::runtime_error("the screen stream is out of step (a byte lost or added on the path)");
      for (std::size_t left = size - header_size; left > 0;) {
        const auto take = std::min(left, buf.size());
        co_await read_exact(s, buf.data(), take);
        left -= take;
      }
      ++stats.updates;
      stats.bytes += size;
      if (stats.measuring && stats.latency_us.size() < 5'000'000)
        stats.latency_us.push_back(static_cast<double>(now_ns() - due_ns) / 1000.0);
    }
  };
  // Pointer moves (6 bytes, as RFB's PointerEvent) and now and then a key (8, KeyEvent).
  auto send_input = [&]() -> awaitable<void> {
    std::mt19937 rng(seed ^ 0x9e3779b9u);
    std::exponential_distribution<double> gap_s(profile.input_events_per_s);
    net::steady_timer t(co_await net::this_coro::executor);
    const char pointer[6] = {5, 0, 1, 0, 2, 0}, key[8] = {4, 1, 0, 0, 0, 0, 0, 'a'};
    for (std::uint64_t n = 0;; ++n) {
      t.expires_after(std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(gap_s(rng))));
      co_await t.async_wait(use_awaitable);
      error_code ec;
      if (n % 8 == 7)
        co_await s.write(net::buffer(key), ec);
      else
        co_await s.write(net::buffer(pointer), ec);
      if (ec) throw system_error(ec);
      ++stats.input_events;
    }
  };
  auto ended = co_await (settle(read_updates()) || settle(send_input()));
  std::visit([](const std::exception_ptr& e) { if (e) std::rethrow_exception(e); }, ended);
}

}  // namespace shadowlink::bench
