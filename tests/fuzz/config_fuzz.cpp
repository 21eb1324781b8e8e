// The configuration is JSON that operators write by hand: whatever it holds, reading it ends in
// settings or in a config_error naming the key, never in a crash.
#include "framework/config.hpp"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace shadowlink;
  try {
    auto file = config_file::parse(std::string_view(reinterpret_cast<const char*>(data), size));
    // Each service's settings read with every kind of accessor the services use.
    for (auto& service : file.services) {
      auto& s = service.options;
      s.str("url", "wss://ums.example/up");
      s.integer("port", 8443, 1, 65535);
      s.boolean("enroll", true);
      std::chrono::steady_clock::duration limit = std::chrono::seconds(10);
      s.seconds("heartbeat_s", limit, 1, 3600);
      s.milliseconds("stall_ms", limit, 1, 60000);
      s.strings("web_origins", {});
      s.verifier("credential", true);
      for (auto& device : s.objects("devices")) {
        device.required_str("id");
        device.strings("groups", {});
      }
      if (auto proxy = s.object("proxy")) proxy->str("url", "");
      if (auto detached = s.detached_object("wolfssl")) detached->finish();
      s.finish();
    }
  } catch (const config_error&) {
  }
  return 0;
}
