// The console's internal viewer reads a VNC server's messages through the tunnel: a hostile or
// broken device must get a clear refusal, never a crash, a hang or an allocation it chose.
#include "protocol/rfb_client.hpp"
#include "tests/fuzz/fuzz_input.hpp"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace shadowlink;
  fuzz::input_stream device({data, size});
  auto capture = [&]() -> awaitable<void> {
    auto fb = co_await rfb::capture(device, 10s);
    if (fb.rgb.size() != static_cast<std::size_t>(fb.width) * fb.height * 3) std::abort();
  };
  try {
    fuzz::run(capture());
  } catch (const system_error&) {
  }
  return 0;
}
