#pragma once
// In-process service tests: the UMS, the gateway and device agents built from config text, as
// shadowlinkd builds them, on one io_context with the test's own clients; a real Xvnc where a flow
// needs a picture. No mocks: real sockets, TLS, WebSockets and VNC. They run in the ASan+UBSan
// build as well, which is where the services' own code meets a sanitizer.
#include "framework/child_process.hpp"
#include "framework/service_host.hpp"
#include "framework/tls.hpp"
#include "protocol/up_link.hpp"
#include "services/console/rest_client.hpp"

#include <boost/json.hpp>

#include <memory>
#include <string>
#include <vector>

namespace shadowlink::testing {

// A TigerVNC server on a Unix socket (no TCP port to draw) whose screen is one solid colour.
class xvnc {
 public:
  // colour: an X colour name or #rrggbb, e.g. "#ff0000"
  awaitable<void> start(const std::string& dir, const std::string& colour);
  awaitable<void> stop();
  const std::string& socket() const { return socket_; }
  const std::string& display() const { return display_; }  // ":N", for X clients on its screen

 private:
  std::unique_ptr<child_process> server_;
  std::string socket_, display_;
};

// One test's services, clients and io_context.
class service_stack {
 public:
  static constexpr std::string_view api_token = "in-process-test-token-0123456789";

  service_stack();
  ~service_stack();

  // Runs `body` and then stops every service (also when the body failed), all within `limit`.
  void run(std::function<awaitable<void>()> body, std::chrono::seconds limit);

  // Builds and starts the services a config's "services" array lists (JSON text); returns the
  // port the first of them listens on (0 if it listens nowhere).
  std::uint16_t start(const std::string& services_json);
  // The first stage of one instance's shutdown (it stops accepting and ends its links), as at SIGTERM.
  void stop_service(std::string_view name);
  task_group& tasks() { return *tasks_; }
  const std::string& dir() const { return dir_; }
  std::string ca_file() const { return dir_ + "/ca.pem"; }

  // A gateway named "icg" on port 0 that accepts a UMS presenting `ums_credential` (more settings as
  // JSON members in `extra`); its port.
  static constexpr std::string_view ums_credential = "ums-credential-for-the-gateway-0123";
  std::uint16_t start_gateway(const std::string& extra = "");
  // The UMS's settings for that gateway at wss://HOST:PORT (`extra`: more members of its entry).
  static std::string gateway_settings(std::uint16_t gw_port, const std::string& host = "127.0.0.1", const std::string& extra = "");

  // Config text: a UMS on port 0 with an admin API token and the given devices (and extra keys).
  std::string ums(const std::string& devices_json, const std::string& extra = "") const;
  // A device entry for the UMS's list and the agent that is that device.
  static std::string device_entry(const std::string& id, const std::string& consent = "none");
  std::string agent(const std::string& id, const std::string& server_url, const std::string& extra) const;
  static std::string credential_of(const std::string& id) { return id + "-credential-0123456789"; }

  // The console's REST client for the UMS on `port`, with the API token.
  console::client& console(std::uint16_t port);

  // REST helpers: all bounded by the client's own deadlines.
  awaitable<boost::json::value> get(const std::string& target);
  awaitable<void> wait_online(const std::string& device, clock::duration limit);
  // POST /api/v1/sessions without waiting: the session's id (throws with the answer otherwise).
  awaitable<std::string> request(const std::string& device, bool view_only = false);
  // Polls GET /api/v1/sessions/ID until `state` (or "ended"); returns the last answer.
  awaitable<boost::json::object> wait_state(const std::string& id, std::string_view state, clock::duration limit);
  // The audit trail's records of one session, oldest first.
  awaitable<std::vector<boost::json::object>> audit_of(const std::string& id);
  awaitable<http_response> end(const std::string& id);

 private:
  std::unique_ptr<net::io_context> ioc_;
  std::unique_ptr<task_group> tasks_;
  std::string dir_;
  std::vector<std::unique_ptr<config_file>> configs_;
  std::vector<service_instance> services_;
  console::options console_options_;
  std::unique_ptr<console::client> console_;
};

// A device that says hello and then does what the test says (answers nothing, leaves...): what a
// real agent never does, to reach the UMS's failure paths.
class scripted_device {
 public:
  // Connects to the UMS on `port` as device `id` (its genuine credential) and reads the welcome;
  // the link's writer runs in `tasks`.
  awaitable<void> connect(task_group& tasks, tls_client& tls, std::uint16_t port, const std::string& id);
  // Says hello with `credential`: the UMS's reason if it refuses, empty if it welcomes the device.
  awaitable<std::string> hello_with(task_group& tasks, tls_client& tls, std::uint16_t port, const std::string& id,
                                    const std::string& credential);
  // The next message of kind `k` (others are skipped), or throws at the deadline.
  awaitable<up::message> next(up::kind k, clock::duration limit);
  void send(const up::message& m) { link_->send(m); }
  void leave() { link_->close("scripted device leaves"); }

 private:
  std::shared_ptr<up::link> link_;
};

}  // namespace shadowlink::testing
