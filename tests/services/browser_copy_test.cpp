// The browser copy of a recording made for a viewer with another pixel format: replayed by
// libvncclient and written again as noVNC reads it (services/ums/browser_copy.hpp).
#include "services/ums/browser_copy.hpp"

#include <catch2/catch.hpp>

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

using namespace shadowlink::ums;
namespace fs = std::filesystem;
using bytes = std::vector<std::uint8_t>;

namespace {

void put16(bytes& v, unsigned x) { v.insert(v.end(), {std::uint8_t(x >> 8), std::uint8_t(x)}); }
void put32(bytes& v, std::uint32_t x) {
  put16(v, x >> 16);
  put16(v, x & 0xffff);
}
std::uint32_t be32(const std::uint8_t* p) { return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3]; }
unsigned be16(const std::uint8_t* p) { return unsigned(p[0]) << 8 | p[1]; }

// The pixel format TigerVNC's vncviewer asks for: 32 bits, depth 24, little-endian, red shifted
// by 16 (noVNC's has red in the lowest byte).
const std::array<std::uint8_t, 16> tiger_format{32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0};
const std::array<std::uint8_t, 16> novnc_format{32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 0, 8, 16, 0, 0, 0};

struct block {
  bytes data;
  std::uint32_t ms;
};

void write_fbs(const fs::path& p, const std::vector<block>& blocks) {
  std::ofstream out(p, std::ios::binary);
  out << "FBS 001.000\n";
  for (auto& b : blocks) {
    bytes framed;
    put32(framed, std::uint32_t(b.data.size()));
    framed.insert(framed.end(), b.data.begin(), b.data.end());
    framed.resize(4 + (b.data.size() + 3) / 4 * 4, 0);
    put32(framed, b.ms);
    out.write(reinterpret_cast<const char*>(framed.data()), std::streamsize(framed.size()));
  }
}

std::vector<block> read_fbs(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  bytes b{std::istreambuf_iterator<char>(in), {}};
  REQUIRE(b.size() >= 12);
  REQUIRE(std::string(b.begin(), b.begin() + 12) == "FBS 001.000\n");
  std::vector<block> out;
  for (std::size_t i = 12; i < b.size();) {
    REQUIRE(i + 4 <= b.size());
    const auto n = be32(&b[i]);
    const auto padded = (n + 3) / 4 * 4;
    REQUIRE(i + 8 + padded <= b.size());
    out.push_back({bytes(b.begin() + long(i) + 4, b.begin() + long(i) + 4 + n), be32(&b[i + 4 + padded])});
    i += 8 + padded;
  }
  return out;
}

// A pixel in TigerVNC's format, as it lies on the wire.
void tiger_pixel(bytes& v, std::uint8_t r, std::uint8_t g, std::uint8_t b) { v.insert(v.end(), {b, g, r, 0}); }

// A raw FramebufferUpdate of one w×h rectangle at (x, y) in one colour.
bytes raw_update(int x, int y, int w, int h, std::array<std::uint8_t, 3> rgb) {
  bytes v{0, 0, 0, 1};
  put16(v, unsigned(x));
  put16(v, unsigned(y));
  put16(v, unsigned(w));
  put16(v, unsigned(h));
  put32(v, 0);
  for (int i = 0; i < w * h; ++i) tiger_pixel(v, rgb[0], rgb[1], rgb[2]);
  return v;
}

// A recording of an 8×4 screen made for a viewer in TigerVNC's format: at 500 ms it turns red,
// at 1500 ms its left half turns green.
struct recording_files {
  fs::path dir = fs::temp_directory_path() / ("browser-copy-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()));
  fs::path screen = dir / "s-1.fbs", input = dir / "s-1.input.fbs", copy = dir / "s-1.play.fbs";
  recording_files() {
    fs::create_directories(dir);
    bytes hello{'R', 'F', 'B', ' ', '0', '0', '3', '.', '0', '0', '8', '\n', 1, 1, 0, 0, 0, 0};
    put16(hello, 8);
    put16(hello, 4);
    hello.insert(hello.end(), tiger_format.begin(), tiger_format.end());
    put32(hello, 1);
    hello.push_back('x');
    write_fbs(screen, {{hello, 0}, {raw_update(0, 0, 8, 4, {255, 0, 0}), 500}, {raw_update(0, 0, 4, 4, {0, 255, 0}), 1500}});
    bytes viewer{'R', 'F', 'B', ' ', '0', '0', '3', '.', '0', '0', '8', '\n', 1, 1, 0, 0, 0, 0};  // None; ClientInit; SetPixelFormat
    viewer.insert(viewer.end(), tiger_format.begin(), tiger_format.end());
    viewer.insert(viewer.end(), {2, 0, 0, 1, 0, 0, 0, 0});  // SetEncodings: raw
    write_fbs(input, {{viewer, 0}});
  }
  ~recording_files() { fs::remove_all(dir); }
};

struct file_closer {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using file = std::unique_ptr<std::FILE, file_closer>;

browser_copy_result copy_of(recording_files& r, std::uint64_t limit, std::vector<std::uint32_t>* progress = nullptr) {
  file out(std::fopen(r.copy.c_str(), "wb"));
  REQUIRE(out);
  std::function<void(std::uint32_t)> heard = [&](std::uint32_t ms) {
    if (progress) progress->push_back(ms);
  };
  return write_browser_copy(r.screen, r.input, out.get(), limit, heard);
}

// The pixels of an update's one Tight rectangle (basic compression, copy filter), inflated on the
// copy's zlib stream.
struct tight_rect {
  unsigned x, y, w, h;
  bytes rgb;
};
tight_rect read_tight(const bytes& msg, z_stream& z) {
  REQUIRE(msg.size() >= 17);
  REQUIRE(msg[0] == 0);             // FramebufferUpdate
  REQUIRE(be16(&msg[2]) == 1);      // one rectangle
  REQUIRE(be32(&msg[12]) == 7);     // Tight
  REQUIRE(msg[16] == 0);            // basic, stream 0, no filter
  tight_rect r{be16(&msg[4]), be16(&msg[6]), be16(&msg[8]), be16(&msg[10]), {}};
  std::size_t i = 17, n = msg[i] & 0x7f;
  if (msg[i++] & 0x80) {
    n |= std::size_t(msg[i] & 0x7f) << 7;
    if (msg[i++] & 0x80) n |= std::size_t(msg[i++]) << 14;
  }
  REQUIRE(i + n == msg.size());
  r.rgb.resize(std::size_t(r.w) * r.h * 3);
  z.next_in = const_cast<std::uint8_t*>(&msg[i]);
  z.avail_in = unsigned(n);
  z.next_out = r.rgb.data();
  z.avail_out = unsigned(r.rgb.size());
  REQUIRE(inflate(&z, Z_SYNC_FLUSH) == Z_OK);
  REQUIRE(z.avail_out == 0);
  return r;
}

bool all_pixels(const bytes& rgb, std::array<std::uint8_t, 3> c) {
  for (std::size_t i = 0; i < rgb.size(); i += 3)
    if (rgb[i] != c[0] || rgb[i + 1] != c[1] || rgb[i + 2] != c[2]) return false;
  return true;
}

}  // namespace

TEST_CASE("a recording made for a viewer in another pixel format is copied in noVNC's format with its times") {
  recording_files r;
  std::vector<std::uint32_t> progress;
  const auto res = copy_of(r, 1 << 20, &progress);
  CHECK(res.stopped_early.empty());
  CHECK(res.bytes == fs::file_size(r.copy));
  CHECK(progress == std::vector<std::uint32_t>{500, 1500});

  const auto blocks = read_fbs(r.copy);
  REQUIRE(blocks.size() == 6);
  // The greeting, a step a block: RFB 3.8, security None, OK, and a ServerInit of the same size in
  // noVNC's format.
  for (int i = 0; i < 4; ++i) CHECK(blocks[i].ms == 0);
  CHECK(std::string(blocks[0].data.begin(), blocks[0].data.end()) == "RFB 003.008\n");
  CHECK(blocks[1].data == bytes{1, 1});
  CHECK(blocks[2].data == bytes{0, 0, 0, 0});
  const auto& init = blocks[3].data;
  REQUIRE(init.size() >= 24);
  CHECK(be16(&init[0]) == 8);
  CHECK(be16(&init[2]) == 4);
  std::array<std::uint8_t, 16> format;
  std::copy(init.begin() + 4, init.begin() + 20, format.begin());
  CHECK(format == novnc_format);
  CHECK(format != tiger_format);  // the recording's own format is another

  z_stream z{};
  REQUIRE(inflateInit(&z) == Z_OK);
  const auto red = read_tight(blocks[4].data, z);
  CHECK(blocks[4].ms == 500);
  CHECK((red.x == 0 && red.y == 0 && red.w == 8 && red.h == 4));
  CHECK(all_pixels(red.rgb, {255, 0, 0}));
  CHECK_FALSE(all_pixels(red.rgb, {0, 0, 255}));  // red and blue swapped would be this
  const auto green = read_tight(blocks[5].data, z);
  CHECK(blocks[5].ms == 1500);
  CHECK((green.x == 0 && green.y == 0 && green.w == 4 && green.h == 4));
  CHECK(all_pixels(green.rgb, {0, 255, 0}));
  inflateEnd(&z);
}

TEST_CASE("a browser copy stops at its size limit and keeps what came before") {
  recording_files r;
  const auto whole = copy_of(r, 1 << 20);
  REQUIRE(read_fbs(r.copy).size() == 6);
  const std::uint64_t limit = whole.bytes - 1;  // room for all but the last update
  fs::remove(r.copy);
  const auto cut = copy_of(r, limit);
  CHECK(cut.stopped_early.find("size limit") != std::string::npos);
  CHECK(read_fbs(r.copy).size() == 5);
  CHECK(cut.bytes < whole.bytes);
}

TEST_CASE("a recording whose pixels are not 32-bit true colour is refused with the reason") {
  recording_files r;
  auto viewer_16bit = tiger_format;
  viewer_16bit[0] = 16;
  viewer_16bit[1] = 16;
  bytes viewer{'R', 'F', 'B', ' ', '0', '0', '3', '.', '0', '0', '8', '\n', 1, 1, 0, 0, 0, 0};
  viewer.insert(viewer.end(), viewer_16bit.begin(), viewer_16bit.end());
  write_fbs(r.input, {{viewer, 0}});
  CHECK_THROWS_WITH(copy_of(r, 1 << 20), Catch::Contains("16-bit"));
}
