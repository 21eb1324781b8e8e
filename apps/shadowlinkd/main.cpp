// shadowlinkd: the composite server. Lists the service types; the config picks the instances.
#include "framework/service.hpp"
#include "services/device/agent.hpp"
#include "services/icg/icg_service.hpp"
#include "services/ums/browser_copy.hpp"
#include "services/ums/config_import.hpp"
#include "services/ums/passwords.hpp"
#include "services/ums/ums_service.hpp"

namespace {
// The demo: a UMS on 8443 and a gateway (ICG) on 9443. Its devices are not configured: scripts/demo
// makes enrollment keys for the folder "demo" and starts two device agents with them, for the VNC
// server on 127.0.0.1:5900 — one connected to the UMS directly, one behind the gateway.
// Demo credentials only; real installations pass --config.
constexpr std::string_view default_config = R"json({
  "log_level": "info",
  "data_dir": "shadowlink-data",
  "services": [
    {"type": "ums", "name": "ums", "settings": {
      "port": 8443, "demo": true,
      "users": [{"user": "admin", "password": "admin"}],
      "device_groups": [{"name": "demo", "devices": [], "consent": "none"}],
      "gateways": [{"name": "icg", "url": "wss://127.0.0.1:9443", "credential": "demo-gateway-credential"}]}},
    {"type": "icg", "name": "icg", "settings": {
      "port": 9443, "demo": true, "ums_credential": "demo-gateway-credential"}}
  ]
}
)json";
}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "hash-password") return shadowlink::ums::hash_password_main(argc - 1, argv + 1);
  if (argc > 1 && std::string_view(argv[1]) == "import-config") return shadowlink::ums::import_config_main(argc - 1, argv + 1);
  if (argc > 1 && std::string_view(argv[1]) == "browser-copy") return shadowlink::ums::browser_copy_main(argc - 1, argv + 1);
  shadowlink::service_registry registry;
  shadowlink::ums::register_ums(registry);
  shadowlink::device::register_device(registry);
  shadowlink::icg::register_icg(registry);
  return shadowlink::run_daemon(argc, argv, registry, default_config);
}
