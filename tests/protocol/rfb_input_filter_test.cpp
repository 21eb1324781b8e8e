#include "protocol/rfb_input_filter.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace shadowlink;
using bytes = std::vector<std::uint8_t>;

namespace {
bytes operator+(bytes a, const bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
const bytes handshake = bytes{'R', 'F', 'B', ' ', '0', '0', '3', '.', '0', '0', '8', '\n'} + bytes{1} + bytes{1};
const bytes update_request{3, 0, 0, 0, 0, 0, 1, 0, 1, 0};
const bytes key_event{4, 1, 0, 0, 0, 0, 0, 'a'};
const bytes pointer_event{5, 1, 0, 10, 0, 20};
const bytes set_encodings = bytes{2, 0, 0, 2} + bytes{0, 0, 0, 0} + bytes{0, 0, 0, 1};
const bytes set_pixel_format{0, 0, 0, 0, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0};
const bytes cut_text = bytes{6, 0, 0, 0, 0, 0, 0, 3, 'x', 'y', 'z'};

// Feeds the input in pieces of `step` bytes, as a network would.
bytes run(rfb::input_filter& f, const bytes& in, std::size_t step) {
  bytes out;
  for (std::size_t i = 0; i < in.size(); i += step) {
    auto n = std::min(step, in.size() - i);
    bytes o(n + rfb::input_filter::slack);
    o.resize(f.filter(in.data() + i, n, o.data()));
    out = out + o;
  }
  return out;
}
}  // namespace

TEST_CASE("view-only filtering passes the handshake and screen requests and drops keyboard, pointer and clipboard") {
  for (std::size_t step : {1u, 3u, 7u, 1000u}) {
    rfb::input_filter f;
    auto in = handshake + set_pixel_format + set_encodings + key_event + update_request + pointer_event + cut_text + update_request;
    auto out = run(f, in, step);
    CHECK(out == handshake + set_pixel_format + set_encodings + update_request + update_request);
    CHECK(f.dropped_messages() == 3);
  }
}

TEST_CASE("view-only filtering refuses what it cannot follow instead of passing it") {
  rfb::input_filter f;
  bytes out(64);
  auto in = handshake + bytes{99, 0, 0, 0};
  CHECK_THROWS_WITH(f.filter(in.data(), in.size(), out.data()), Catch::Contains("unknown RFB client message type 99"));
  rfb::input_filter g;
  bytes old{'R', 'F', 'B', ' ', '0', '0', '3', '.', '0', '0', '3', '\n'};
  CHECK_THROWS_WITH(g.filter(old.data(), old.size(), out.data()), Catch::Contains("unsupported RFB version"));
}

namespace {
// What TigerVNC's vncviewer and noVNC send once the server (Xvnc) advertises the extensions.
// Extended clipboard "provide"/"caps" message: ClientCutText with a negative length (-6 here).
const bytes extended_clipboard = bytes{6, 0, 0, 0, 0xff, 0xff, 0xff, 0xfa} + bytes{0, 0, 0, 1, 0, 0};
const bytes qemu_key_event = bytes{255, 0, 0, 1} + bytes{0, 0, 0, 'a'} + bytes{0, 0, 0, 30};
const bytes qemu_audio_format = bytes{255, 1, 0, 2} + bytes{3, 2, 0, 0, 0xac, 0x44};
const bytes client_fence = bytes{248, 0, 0, 0, 0, 0, 0, 3, 2} + bytes{'a', 'b'};
const bytes continuous_updates{150, 1, 0, 0, 0, 0, 1, 0, 1, 0};
const bytes set_desktop_size = bytes{251, 0, 4, 0, 3, 0, 1, 0} + bytes(16, 0);
const bytes xvp_reboot{250, 0, 1, 3};
const bytes gii_little_endian = bytes{253, 0x01, 4, 0} + bytes{1, 2, 3, 4};
}  // namespace

TEST_CASE("view-only filtering follows TigerVNC's and noVNC's extended clipboard, QEMU keys, fences and resizes") {
  // The genuine stream must differ from the filtered one, or the test could not fail.
  const auto in = handshake + extended_clipboard + update_request + qemu_key_event + client_fence + continuous_updates +
                  set_desktop_size + qemu_audio_format + xvp_reboot + gii_little_endian + update_request;
  const auto expected = handshake + update_request + client_fence + continuous_updates + qemu_audio_format + update_request;
  REQUIRE(in != expected);
  for (std::size_t step = 1; step <= in.size(); ++step) {
    rfb::input_filter f;
    INFO("read size " << step);
    CHECK(run(f, in, step) == expected);
    CHECK(f.dropped_messages() == 5);
  }
}

TEST_CASE("view-only filtering skips a clipboard of the most negative length without reading it as a message") {
  rfb::input_filter f;
  const auto in = handshake + bytes{6, 0, 0, 0, 0x80, 0, 0, 0};
  bytes out(in.size() + rfb::input_filter::slack);
  out.resize(f.filter(in.data(), in.size(), out.data()));
  CHECK(out == handshake);
  // The next 2 GiB are clipboard payload: a byte that would be a key event is not taken as one.
  const bytes more = key_event;
  bytes out2(more.size() + rfb::input_filter::slack);
  CHECK(f.filter(more.data(), more.size(), out2.data()) == 0);
  CHECK(f.dropped_messages() == 1);
}

TEST_CASE("view-only filtering refuses an unknown QEMU sub-type instead of guessing its length") {
  rfb::input_filter f;
  const auto in = handshake + bytes{255, 7, 0, 0};
  bytes out(in.size() + rfb::input_filter::slack);
  CHECK_THROWS_WITH(f.filter(in.data(), in.size(), out.data()), Catch::Contains("unknown QEMU client message sub-type 7"));
}
