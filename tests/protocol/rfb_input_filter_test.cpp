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
