// The console's snapshot reads a VNC server the device chose: the screen size it announces
// decides what the console allocates, so a size beyond the documented maximum is refused.
#include "framework/tcp_stream.hpp"
#include "protocol/rfb_client.hpp"
#include "support/async.hpp"

#include <boost/asio/write.hpp>

using namespace shadowlink;
using shadowlink::testing::run_async;
using shadowlink::testing::tcp_pair;

namespace {
std::string u16(unsigned x) { return {static_cast<char>(x >> 8), static_cast<char>(x & 0xff)}; }

// A VNC server (RFB 3.8, no security) whose screen is width x height and whose one update paints
// its first pixel red; serves one snapshot over a real TCP connection and returns the console's result.
rfb::framebuffer snapshot_of(unsigned width, unsigned height) {
  rfb::framebuffer fb;
  run_async([&]() -> awaitable<void> {
    auto ex = co_await net::this_coro::executor;
    tcp::socket viewer(ex), server(ex);
    co_await tcp_pair(viewer, server);
    std::string greeting = "RFB 003.008\n" + std::string("\x01\x01", 2) + std::string(4, '\0');
    std::string init = u16(width) + u16(height) + std::string("\x20\x18\x00\x01\x00\xff\x00\xff\x00\xff\x10\x08\x00\x00\x00\x00", 16) +
                       std::string("\0\0\0\4", 4) + "test";
    std::string update = std::string("\0\0", 2) + u16(1) + u16(0) + u16(0) + u16(1) + u16(1) + std::string(4, '\0') + std::string("\0\0\xff\0", 4);
    std::string all = greeting + init + update;
    co_await net::async_write(server, net::buffer(all), use_awaitable);
    auto console = make_tcp_stream(std::move(viewer));
    fb = co_await rfb::capture(*console, 10s);
  });
  return fb;
}
}  // namespace

TEST_CASE("a snapshot of a small screen has the size the VNC server announced and its pixels") {
  auto fb = snapshot_of(4, 2);
  CHECK(fb.width == 4);
  CHECK(fb.height == 2);
  REQUIRE(fb.rgb.size() == 4 * 2 * 3);
  CHECK(fb.rgb[0] == 255);  // the red pixel the update painted
  CHECK(fb.rgb[3] == 0);    // and the one it did not
}

TEST_CASE("a screen of exactly the largest size a snapshot takes, 8192 on a side and as many pixels as 8K UHD, is taken") {
  REQUIRE(std::size_t{8192} * 4050 == rfb::max_screen_pixels);
  auto fb = snapshot_of(8192, 4050);
  CHECK(fb.rgb.size() == rfb::max_screen_pixels * 3);
  CHECK(fb.rgb[0] == 255);
}

TEST_CASE("a VNC server announcing a screen beyond 8K UHD or 8192 on a side is refused with the size it asked for") {
  REQUIRE(std::size_t{7681} * 4320 > rfb::max_screen_pixels);
  CHECK_THROWS_WITH(snapshot_of(7681, 4320), Catch::Contains("7681x4320, larger than a snapshot takes"));
  CHECK_THROWS_WITH(snapshot_of(8193, 16), Catch::Contains("8193x16"));
  CHECK_THROWS_WITH(snapshot_of(8192, 4051), Catch::Contains("8192x4051"));  // one row over the boundary case above
  CHECK_THROWS_WITH(snapshot_of(65535, 65535), Catch::Contains("65535x65535"));
  CHECK_THROWS_WITH(snapshot_of(0, 10), Catch::Contains("invalid screen size"));
}
