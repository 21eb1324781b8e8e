#pragma once
// A minimal RFB (VNC) client: enough to take one full-screen snapshot through a tunnel.
// RFC 6143: version 3.8 (or 3.7), security "None", 32-bit true colour, raw encoding.
#include "framework/stream.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace shadowlink::rfb {

struct framebuffer {
  int width = 0, height = 0;
  std::string name;
  std::vector<std::uint8_t> rgb;  // width * height * 3
};

// Performs the handshake and reads one complete framebuffer. Throws system_error with a clear
// reason (e.g. "VNC server requires a password", "VNC server refused: ...") or timed_out.
awaitable<framebuffer> capture(stream& s, clock::duration deadline);

}  // namespace shadowlink::rfb
