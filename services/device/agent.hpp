#pragma once
// The device agent: keeps its UP connection to the server (reconnecting with jittered backoff),
// answers shadow requests by opening a tunnel and connecting it to the local VNC server.
#include "framework/service.hpp"
#include "framework/tls.hpp"
#include "framework/ws_stream.hpp"
#include "protocol/up_link.hpp"

#include <random>

namespace shadowlink::device {

struct agent_settings {
  std::string device_id, credential;
  std::vector<std::string> server_urls;  // connectors in order of preference: UMS and/or gateways
  std::string vnc_host = "127.0.0.1";
  std::string vnc_port = "5900";
  clock::duration backoff_min = 500ms, backoff_max = 30s;
  clock::duration heartbeat = 5s;
  clock::duration return_check = 60s;  // on a fallback connector: how often to try the preferred ones
};

class agent final : public service {
 public:
  agent(service_env& env, settings& s);
  void start() override;
  void stop() override;

 private:
  awaitable<void> run();                                // connect to the first reachable connector, serve, repeat
  awaitable<void> serve(up::link& link);                // hello, then requests until the link ends
  awaitable<void> heartbeats(up::link& link);
  awaitable<void> return_probe(std::size_t current, up::link& link);
  awaitable<void> shadow(up::message request);          // device_flow.cpp: one session
  void send(const up::message& m);
  clock::duration next_backoff();

  service_env env_;  // a copy: the one passed to the factory is temporary
  std::string name_;
  agent_settings cfg_;
  std::vector<ws_target> targets_;
  std::string current_;  // the connector in use
  std::string ca_file_, pin_, proxy_;
  std::unique_ptr<tls_client> tls_;
  up::link* link_ = nullptr;
  bool stopping_ = false;
  std::string active_session_;
  clock::duration backoff_{};
  std::mt19937 jitter_{std::random_device{}()};
  std::unique_ptr<net::steady_timer> sleep_;
};

void register_device(service_registry& r);

}  // namespace shadowlink::device
