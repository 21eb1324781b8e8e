#pragma once
// The ICG gateway: for devices the UMS cannot reach. The UMS and the devices both connect *out* to
// it (UP WebSockets); it relays UP commands between them and pairs and splices shadow tunnels.
#include "framework/certs.hpp"
#include "framework/tls_listener.hpp"
#include "framework/https_server.hpp"
#include "framework/rendezvous.hpp"
#include "framework/splice.hpp"
#include "framework/service.hpp"
#include "protocol/up_link.hpp"

#include <map>

namespace shadowlink::icg {

struct device_link {
  up::link* link = nullptr;
  bool verified = false;
  std::string peer;
  std::string credential;  // kept to re-announce the device when the UMS reconnects
  std::string agent;
};

class icg_service final : public service {
 public:
  icg_service(service_env& env, settings& s);
  void start() override;
  void stop() override;

 private:
  awaitable<void> ums_endpoint(ws_upgrade& up);
  awaitable<void> device_endpoint(ws_upgrade& up);
  awaitable<void> serve_ums(up::link& link);
  awaitable<void> serve_device(up::link& link);
  awaitable<void> drop_devices_without_ums();
  void on_ums_message(const up::message& m);
  void to_ums(const up::message& m);

  // icg_flow.cpp: the gateway's part of a shadow session, one linear coroutine.
  awaitable<void> relay_session(up::message request);

  std::string status() const;

  service_env env_;
  std::string name_;
  tls_listener_settings listener_;  // public_url ("external_url"): what devices and consoles are told
  std::string ums_credential_;
  std::string ca_dir_;
  clock::duration device_grace_ = 30s;
  clock::duration session_timeout_ = 90s;
  bool started_ = false;

  rendezvous rv_;
  std::unique_ptr<https_server> server_;
  up::link* ums_ = nullptr;
  clock::time_point ums_lost_ = clock::now();
  std::map<std::string, device_link, std::less<>> devices_;                 // by device id
  std::map<std::string, std::string, std::less<>> session_device_;          // session id -> device id
  std::map<std::string, splicer*, std::less<>> active_;                     // session id -> splice
};

void register_icg(service_registry& r);

}  // namespace shadowlink::icg
