#pragma once
// The device agent: keeps its UP connection to the server (reconnecting with jittered backoff),
// answers shadow requests by opening a tunnel and connecting it to the local VNC server.
#include "framework/backoff.hpp"
#include "framework/failure_penalty.hpp"
#include "framework/meeting_point.hpp"
#include "framework/service.hpp"
#include "framework/tls.hpp"
#include "framework/ws_stream.hpp"
#include "protocol/consent.hpp"
#include "protocol/up_link.hpp"

#include <boost/asio/local/stream_protocol.hpp>

#include <functional>
#include <map>
#include <optional>
#include <vector>

namespace shadowlink::device {

struct agent_settings {
  std::string device_id, credential;
  std::vector<std::string> server_urls;  // connectors in order of preference: UMS and/or gateways
  std::string vnc_host = "127.0.0.1";
  std::uint16_t vnc_port = 5900;
  std::string vnc_socket;  // the VNC server's Unix socket instead of vnc_host:vnc_port
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
  // OS 11 (legacy_port.cpp): viewers connect in over TLS to this port, pinning the device's own
  // certificate, and present the session's one-time password.
  std::string os = "12";
  std::string legacy_listen = "0.0.0.0";
  std::uint16_t legacy_port = 5901;
  std::string advertise;  // HOST:PORT the UMS and consoles reach the port at
  std::string control_socket;  // Unix socket for `shadowlink-device end` (control_socket.cpp); empty: none
  // Its own client certificate (enrollment.cpp): asked for over the first authenticated link, kept
  // in the data directory, presented from then on instead of the credential.
  bool enroll = true;
  // What the device is called in its settings (default: its host name); a reload changes it.
  std::string name;
};

// OS 11: the session a viewer may open on the legacy port now, and where its stream goes.
struct armed_session {
  std::string session_id, password;
  clock::time_point expires;
  meeting_point<stream_ptr>* viewer = nullptr;
};

class agent final : public service {
 public:
  agent(service_env& env, settings& s);
  void start() override;
  void stop() override;
  void reload(settings& s) override;
  // The OS 11 legacy port (0 for an OS 12 device, which listens nowhere).
  std::uint16_t port() const override;

 private:
  awaitable<void> run();                                // connect to the first reachable connector, serve, repeat
  awaitable<void> serve(up::link& link);                // hello, then requests until the link ends
  awaitable<void> heartbeats(up::link& link, clock::duration period);
  awaitable<void> return_probe(std::size_t current, up::link& link);
  awaitable<void> serve_on_fallback(std::size_t current, up::link& link);  // serve until a preferred connector is back
  awaitable<void> shadow(up::message request);          // device_flow.cpp: one session
  awaitable<std::string> ask_user(const up::message& request);  // consent.cpp: empty if the user said yes
  // A consent or indicator command with its placeholders filled in for this request.
  std::vector<std::string> command(const std::vector<std::string>& argv, const up::message& request, std::int64_t timeout_s) const;
  void send(const up::message& m);
  // The device's user ends a session locally (control_socket.cpp).
  void start_control_socket();
  void open_control_socket();
  awaitable<void> control_loop();
  // OS 11 (legacy_port.cpp).
  void start_legacy_port();
  awaitable<void> legacy_accept_loop();
  awaitable<void> legacy_connection(tcp::socket sock);
  clock::duration legacy_penalty(const std::string& address) const;
  void legacy_failure(const std::string& address, std::string_view why);
  // Waits for the viewer that brings this request's password to the legacy port.
  awaitable<stream_ptr> legacy_viewer(const up::message& req);
  // The viewer's side of a session (device_flow.cpp): nullptr if it failed (the server was told).
  awaitable<stream_ptr> connect_vnc(const std::string& scope);
  awaitable<stream_ptr> open_tunnel(const up::message& req, const std::string& scope);
  awaitable<stream_ptr> await_legacy_viewer(const up::message& req, const std::string& scope);
  void reply(const up::message& req, up::kind k, std::string reason);  // an answer about a request
  // Device certificate (enrollment.cpp).
  void make_tls_client(bool with_certificate);      // with the stored certificate, if asked and usable
  // Once per link: none yet, or a third of its validity left (at the welcome and each heartbeat).
  void request_certificate_if_due(up::link& link);
  void store_certificate(const up::message& m);     // presented from the next connection on
  // The server refused it in the hello: said once; the device keeps presenting it and never falls
  // back to its credential on a server's word (SECURITY.md, "Device identity").
  void certificate_refused(std::string_view why);
  // Its settings (settings_report.cpp): sent at every new link and when they change, by REST
  // with its certificate where the welcome says so (a UMS), else over the link (a gateway).
  up::message own_settings(up::link& link) const;
  awaitable<void> report_settings(up::link& link, clock::duration period);
  awaitable<bool> send_settings_by_rest(const std::string& text);
  std::filesystem::path key_file() const { return env_.data_dir / "device.key"; }
  std::filesystem::path cert_file() const { return env_.data_dir / "device.pem"; }

  service_env env_;  // a copy: the one passed to the factory is temporary
  std::string name_;
  agent_settings cfg_;
  std::vector<ws_target> targets_;
  std::string current_;  // the connector in use
  std::size_t current_index_ = 0;  // its place in targets_
  std::string settings_path_;      // where the current connector takes settings by REST ("": over the link)
  std::string ca_file_, pin_, proxy_;
  // Replaced when the device's certificate changes: connect_tls takes what a connection needs at
  // its start, so connections being made with the old client are not affected.
  std::unique_ptr<tls_client> tls_;
  struct validity {
    std::chrono::system_clock::time_point not_before, not_after;
  };
  std::optional<validity> certificate_;  // set while one is presented
  bool certificate_asked_ = false;       // on the current link
  std::string pending_key_;  // the key of the certificate request in flight
  // Refusals are logged once each, until the device is let in again.
  bool told_refused_ = false, told_certificate_refused_ = false;
  up::link* link_ = nullptr;
  bool stopping_ = false;
  std::string active_session_;
  std::function<void(std::string)> end_active_;  // ends the running session (the server's end_session)
  std::string pending_end_;                      // an end that came before anything could be stopped
  void end_session(std::string reason);
  std::unique_ptr<net::local::stream_protocol::acceptor> control_;
  std::unique_ptr<tcp::acceptor> legacy_acceptor_;
  std::shared_ptr<ssl::context> legacy_tls_;
  std::string legacy_pin_;
  std::optional<armed_session> armed_;
  // Failed attempts on the legacy port by source address, and under "" from anywhere (bounded).
  failure_penalty legacy_failures_{{.first = 500ms, .max = 8s, .forget_after = 10min, .max_keys = 1024}};
  int legacy_connections_ = 0;                        // bounded
  std::map<std::string, int> legacy_per_address_;     // connections being served per source, bounded
  backoff backoff_{cfg_.backoff_min, cfg_.backoff_max};  // reset once the settings are read
  std::unique_ptr<net::steady_timer> sleep_;
};

void register_device(service_registry& r);

}  // namespace shadowlink::device
