// The view-only filter reads a hostile viewer's RFB stream in whatever pieces TCP, TLS and
// WebSocket deliver. What it lets through must not depend on how the stream was split, and it
// must never write past the room it was given.
#include "protocol/rfb_input_filter.hpp"
#include "tests/fuzz/fuzz_input.hpp"

#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <vector>

namespace {
using shadowlink::rfb::input_filter;

// The filtered stream, or nullopt if the filter refused it.
std::optional<std::vector<std::uint8_t>> filter_in_pieces(std::span<const std::uint8_t> in, bool whole) {
  input_filter f;
  shadowlink::fuzz::splitter split(in);
  std::vector<std::uint8_t> out;
  try {
    for (std::size_t pos = 0; pos < in.size();) {
      const auto n = whole ? in.size() : split.next(in.size() - pos);
      // Exactly the room the filter asks for, on the heap, so that AddressSanitizer sees one byte too many.
      std::vector<std::uint8_t> piece(in.begin() + pos, in.begin() + pos + n);
      std::vector<std::uint8_t> room(n + input_filter::slack);
      const auto k = f.filter(piece.data(), n, room.data());
      if (k > room.size()) std::abort();
      out.insert(out.end(), room.begin(), room.begin() + k);
      pos += n;
    }
  } catch (const std::runtime_error&) {
    return std::nullopt;
  }
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> in(data, size);
  const auto whole = filter_in_pieces(in, true);
  const auto pieces = filter_in_pieces(in, false);
  if (whole.has_value() != pieces.has_value()) std::abort();
  if (whole && *whole != *pieces) std::abort();
  return 0;
}
