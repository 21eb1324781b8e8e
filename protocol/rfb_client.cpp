#include "protocol/rfb_client.hpp"

#include "framework/deadline.hpp"
#include "framework/errors.hpp"

#include <boost/asio/error.hpp>

#include <algorithm>
#include <array>
#include <cstring>

namespace shadowlink::rfb {
namespace {

// Buffered exact reads over a stream (WebSocket messages do not align with RFB messages).
class reader {
 public:
  explicit reader(stream& s) : s_(s) {}
  awaitable<void> read(void* out, std::size_t n) {
    auto* dst = static_cast<std::uint8_t*>(out);
    while (n > 0) {
      if (pos_ == buf_.size()) {
        buf_.resize(64 * 1024);
        error_code ec;
        auto got = co_await s_.read_some(net::buffer(buf_), ec);
        buf_.resize(got);
        pos_ = 0;
        if (got == 0 && ec) throw system_error(ec, "VNC connection ended");
      }
      auto take = std::min(n, buf_.size() - pos_);
      std::memcpy(dst, buf_.data() + pos_, take);
      pos_ += take;
      dst += take;
      n -= take;
    }
  }
  awaitable<std::uint32_t> u32() {
    std::array<std::uint8_t, 4> b;
    co_await read(b.data(), 4);
    co_return (std::uint32_t(b[0]) << 24) | (std::uint32_t(b[1]) << 16) | (std::uint32_t(b[2]) << 8) | b[3];
  }
  awaitable<std::uint16_t> u16() {
    std::array<std::uint8_t, 2> b;
    co_await read(b.data(), 2);
    co_return static_cast<std::uint16_t>((b[0] << 8) | b[1]);
  }
  awaitable<std::uint8_t> u8() {
    std::uint8_t b;
    co_await read(&b, 1);
    co_return b;
  }
  awaitable<void> skip(std::size_t n) {
    std::vector<std::uint8_t> junk(std::min<std::size_t>(n, 64 * 1024));
    while (n > 0) {
      auto k = std::min(n, junk.size());
      co_await read(junk.data(), k);
      n -= k;
    }
  }

 private:
  stream& s_;
  std::vector<std::uint8_t> buf_;
  std::size_t pos_ = 0;
};

awaitable<void> send(stream& s, const std::vector<std::uint8_t>& bytes) {
  error_code ec;
  co_await s.write(net::buffer(bytes), ec);
  if (ec) throw system_error(ec, "VNC connection ended");
}

void put16(std::vector<std::uint8_t>& v, unsigned x) {
  v.push_back(static_cast<std::uint8_t>(x >> 8));
  v.push_back(static_cast<std::uint8_t>(x));
}
void put32(std::vector<std::uint8_t>& v, std::uint32_t x) {
  put16(v, x >> 16);
  put16(v, x & 0xffff);
}

awaitable<std::string> read_reason(reader& r) {
  auto len = co_await r.u32();
  std::string why(std::min<std::uint32_t>(len, 1024), '\0');
  co_await r.read(why.data(), why.size());
  if (len > why.size()) co_await r.skip(len - why.size());
  co_return why;
}

awaitable<void> handshake(stream& s, reader& r) {
  std::string version(12, '\0');
  co_await r.read(version.data(), 12);
  if (version.compare(0, 8, "RFB 003.") != 0) fail("not a VNC server (no RFB greeting)");
  int minor = std::atoi(version.substr(8, 3).c_str());
  if (minor < 7) fail("VNC server speaks RFB 3." + std::to_string(minor) + "; 3.7 or later is required");
  std::string ours = minor >= 8 ? "RFB 003.008\n" : "RFB 003.007\n";
  co_await send(s, std::vector<std::uint8_t>(ours.begin(), ours.end()));
  auto count = co_await r.u8();
  if (count == 0) fail("VNC server refused: " + co_await read_reason(r));
  std::vector<std::uint8_t> types(count);
  co_await r.read(types.data(), count);
  if (std::find(types.begin(), types.end(), 1) == types.end()) fail("VNC server requires a password (only security type None is supported)");
  const std::vector<std::uint8_t> security_none{1};
  co_await send(s, security_none);
  if (minor >= 8 && co_await r.u32() != 0) fail("VNC server refused: " + co_await read_reason(r));
}

}  // namespace

awaitable<framebuffer> capture(stream& s, clock::duration deadline) {
  using namespace net::experimental::awaitable_operators;
  auto work = [&]() -> awaitable<framebuffer> {
    reader r(s);
    co_await handshake(s, r);
    const std::vector<std::uint8_t> client_init{1};  // shared: do not disconnect other viewers
    co_await send(s, client_init);
    framebuffer fb;
    fb.width = co_await r.u16();
    fb.height = co_await r.u16();
    co_await r.skip(16);  // the server's pixel format: we set our own below
    fb.name = co_await read_reason(r);
    if (fb.width <= 0 || fb.height <= 0) fail("VNC server sent an invalid screen size");
    const auto pixels = static_cast<std::size_t>(fb.width) * fb.height;
    if (fb.width > max_screen_side || fb.height > max_screen_side || pixels > max_screen_pixels)
      fail("VNC server's screen is " + std::to_string(fb.width) + "x" + std::to_string(fb.height) +
           ", larger than a snapshot takes (8K UHD, 7680x4320 pixels, at most 8192 on a side)");
    // SetPixelFormat: 32 bpp, depth 24, little endian, true colour, 8 bits per channel at 16/8/0.
    std::vector<std::uint8_t> spf{0, 0, 0, 0, 32, 24, 0, 1};
    put16(spf, 255), put16(spf, 255), put16(spf, 255);
    spf.insert(spf.end(), {16, 8, 0, 0, 0, 0});
    co_await send(s, spf);
    std::vector<std::uint8_t> enc{2, 0};
    put16(enc, 1);
    put32(enc, 0);  // raw
    co_await send(s, enc);
    std::vector<std::uint8_t> req{3, 0};
    put16(req, 0), put16(req, 0), put16(req, static_cast<unsigned>(fb.width)), put16(req, static_cast<unsigned>(fb.height));
    co_await send(s, req);
    for (;;) {
      auto type = co_await r.u8();
      if (type == 0) {  // FramebufferUpdate
        // Allocated once the screen is coming, not for a server that only said how large it is.
        fb.rgb.allocate_zeroed(pixels * 3);
        co_await r.u8();
        auto rects = co_await r.u16();
        std::vector<std::uint8_t> row;
        for (unsigned i = 0; i < rects; ++i) {
          int x = co_await r.u16(), y = co_await r.u16(), w = co_await r.u16(), h = co_await r.u16();
          auto encoding = co_await r.u32();
          if (encoding != 0) fail("VNC server sent an encoding we did not ask for");
          if (x + w > fb.width || y + h > fb.height) fail("VNC server sent a rectangle outside the screen");
          row.resize(static_cast<std::size_t>(w) * 4);
          for (int yy = 0; yy < h; ++yy) {
            co_await r.read(row.data(), row.size());
            for (int xx = 0; xx < w; ++xx) {
              auto* px = &fb.rgb[(static_cast<std::size_t>(y + yy) * fb.width + x + xx) * 3];
              px[0] = row[xx * 4 + 2];
              px[1] = row[xx * 4 + 1];
              px[2] = row[xx * 4 + 0];
            }
          }
        }
        co_return fb;
      } else if (type == 1) {  // SetColourMapEntries
        co_await r.skip(3);
        auto n = co_await r.u16();
        co_await r.skip(static_cast<std::size_t>(n) * 6);
      } else if (type == 2) {  // Bell
      } else if (type == 3) {  // ServerCutText
        co_await r.skip(3);
        co_await r.skip(co_await r.u32());
      } else {
        fail("VNC server sent an unknown message type " + std::to_string(type));
      }
    }
  };
  co_return co_await with_deadline(work(), deadline, "no complete VNC screen within the deadline");
}

}  // namespace shadowlink::rfb
