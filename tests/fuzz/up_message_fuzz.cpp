// UP messages arrive from devices, gateways and a UMS over WebSockets: parse() must refuse
// anything malformed with protocol_error, and what it accepts must survive a round trip unchanged.
#include "protocol/up_message.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace shadowlink;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  up::message m;
  try {
    m = up::parse(text);
  } catch (const up::protocol_error&) {
    return 0;
  }
  // What was accepted is written back and read again to the same message: a relay (the gateway
  // passes messages on) loses nothing and adds nothing.
  if (!(up::parse(up::serialize(m)) == m)) std::abort();
  return 0;
}
