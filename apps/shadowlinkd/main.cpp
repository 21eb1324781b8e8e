// shadowlinkd: the composite server. Lists the service types; the config picks the instances.
#include "framework/service.hpp"
#include "services/device/agent.hpp"
#include "services/icg/icg_service.hpp"
#include "services/ums/ums_service.hpp"

namespace {
// The demo: a UMS on 8443 and one device agent for a VNC server on 127.0.0.1:5900.
// Demo credentials only; real installations pass --config.
constexpr std::string_view default_config = R"({
  "log_level": "info",
  "data_dir": "shadowlink-data",
  "services": [
    {"type": "ums", "name": "ums", "settings": {
      "port": 8443,
      "users": [{"user": "admin", "password": "admin"}],
      "devices": [{"id": "demo-device", "name": "Demo device", "credential": "demo-device-secret"}]}},
    {"type": "device", "name": "demo-device", "settings": {
      "device_id": "demo-device", "credential": "demo-device-secret",
      "server": "wss://127.0.0.1:8443/up", "ca_file": "shadowlink-data/ca.pem", "vnc_port": 5900}}
  ]
}
)";
}  // namespace

int main(int argc, char** argv) {
  shadowlink::service_registry registry;
  shadowlink::ums::register_ums(registry);
  shadowlink::device::register_device(registry);
  shadowlink::icg::register_icg(registry);
  return shadowlink::run_daemon(argc, argv, registry, default_config);
}
