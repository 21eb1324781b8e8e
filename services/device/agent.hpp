#pragma once
// The device agent: keeps its UP connection to the server (reconnecting with jittered backoff),
// answers shadow requests by opening a tunnel and connecting it to the local VNC server.
#include "framework/service.hpp"
#include "framework/tls.hpp"
#include "framework/ws_stream.hpp"
#include "protocol/consent.hpp"
#include "protocol/up_link.hpp"

#include <map>
#include <random>
#include <vector>

namespace shadowlink::device {

struct agent_settings {
  std::string device_id, credential;
  std::vector<std::string> server_urls;  // connectors in order of preference: UMS and/or gateways
  std::string vnc_host = "127.0.0.1";
  std::string vnc_port = "5900";
  clock::duration backoff_min = 500ms, backoff_max = 30s;
  clock::duration heartbeat = 5s;
  clock::duration return_check = 60s;  // on a fallback connector: how often to try the preferred ones
  // Consent (device_flow.cpp). The stricter of the server's policy and `consent` applies. The
  // commands' arguments may hold {message}, {user}, {mode} and {timeout}.
  up::consent_policy consent = up::consent_policy::none;  // this device's own minimum
  std::vector<std::string> consent_command{"zenity", "--question", "--title", "Remote session", "--timeout", "{timeout}",
                                           "--text", "{message}"};
  int consent_yes_exit = 0;                 // the command's exit code for "yes" (zenity: 0; xmessage: a button's code)
  std::vector<std::string> notify_command;  // shown while shadowed; when it exits, the user has ended the session
  std::string display;                      // the user's X display (default: $DISPLAY)
};

class agent final : public service {
 public:
  agent(service_env& env, settings& s);
  void start() override;
  void stop() override;

 private:
  awaitable<void> run();                                // connect to the first reachable connector, serve, repeat
  awaitable<void> serve(up::link& link);                // hello, then requests until the link ends
  awaitable<void> heartbeats(up::link& link, clock::duration period);
  awaitable<void> return_probe(std::size_t current, up::link& link);
  awaitable<void> shadow(up::message request);          // device_flow.cpp: one session
  awaitable<std::string> ask_user(const up::message& request);  // consent.cpp: empty if the user said yes
  // A consent or indicator command with its placeholders filled in for this request.
  std::vector<std::string> command(const std::vector<std::string>& argv, const up::message& request, std::int64_t timeout_s) const;
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
