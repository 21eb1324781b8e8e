#pragma once
// A minimal RFB (VNC) client: enough to take one full-screen snapshot through a tunnel.
// RFC 6143: version 3.8 (or 3.7), security "None", 32-bit true colour, raw encoding.
#include "framework/stream.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace shadowlink::rfb {

// The largest screen a snapshot accepts: 8K UHD (7680 x 4320, about 100 MB of RGB) and at most
// 8192 on a side. The server chooses the size; beyond this the capture fails with a clear reason
// instead of allocating what a hostile device asks for.
inline constexpr int max_screen_side = 8192;
inline constexpr std::size_t max_screen_pixels = 7680u * 4320u;

struct framebuffer {
  int width = 0, height = 0;
  std::string name;
  std::vector<std::uint8_t> rgb;  // width * height * 3
};

// Performs the handshake and reads one complete framebuffer. Throws system_error with a clear
// reason (e.g. "VNC server requires a password", "VNC server refused: ...") or timed_out.
awaitable<framebuffer> capture(stream& s, clock::duration deadline);

}  // namespace shadowlink::rfb
