#pragma once
// The console's REST client: the UMS's address and trust, login (user and password, or an API
// token), JSON answers and their error messages.
#include "framework/https_client.hpp"
#include "framework/tls.hpp"

#include <simdjson.h>

#include <stdexcept>
#include <string>

namespace shadowlink::console {

// What the command line asked for.
struct options {
  std::string server = "https://127.0.0.1:8443";
  std::string user, password, token, ca_file, pin;
  std::string command, device, output, listen = "127.0.0.1:0", viewer;
  bool view_only = false, webapp = false;
  // audit: filters (the device is the positional DEVICE) and output
  std::string by, since, until;
  int limit = 1000;
  bool json = false;
  // recording export: the output (video file or frame directory), frames a second, PNG frames
  std::string extra;
  int fps = 0;
  bool frames = false;
  // enrollment-key create: the folder (device group) and how long the key is valid
  std::string folder;
  long long valid_for = 24 * 3600;
  bool valid_for_given = false;  // (api-token create: a year unless given)
  // administrator add | password: the role, and the new password (from the environment or typed)
  std::string role, new_password;
  // folder policy: the folder's consent policy ("inherit": none of its own) and recording (on|off)
  std::string consent, record;
};

// A failure the user must read: printed as one line, exit code 1.
struct cli_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class client {
 public:
  explicit client(const options& o);

  // A REST call with the bearer token (logging in first if needed).
  awaitable<http_response> call(http::verb verb, std::string target, std::string body);
  awaitable<http_response> call(http::verb verb, std::string target) { return call(verb, std::move(target), std::string()); }
  // Logs in with user and password (unless an API token was given); remembers the cookie too.
  awaitable<void> ensure_login();
  // The answer's JSON (valid until the next parse); throws cli_error if it is not JSON.
  simdjson::dom::element parse(const http_response& res);
  // The server's {"error": ...} message and the HTTP status, for the user.
  std::string error_of(const http_response& res);

  // Calls go to this node of a cluster from now on (an https:// URL the server named, trusted as
  // the server is): the one that holds the session being followed.
  void follow_node(std::string_view url);

  tls_client& tls() { return tls_; }
  // For an OS 11 device: the client pinning its certificate (alive as long as the tunnel).
  std::unique_ptr<tls_client>& legacy_tls() { return legacy_tls_; }
  const rest_target& target() const { return target_; }
  const std::string& cookie() const { return cookie_; }

 private:
  const options& o_;
  tls_client tls_;
  std::unique_ptr<tls_client> legacy_tls_;
  rest_target target_;
  std::string token_, cookie_;
  simdjson::dom::parser parser_;
};

}  // namespace shadowlink::console
