#pragma once
// Who may use the UMS: administrators from the config (user + password, or API tokens), logged-in
// browser/console sessions (a random token, sent as a bearer token or an HttpOnly cookie).
#include "framework/config.hpp"
#include "framework/net.hpp"
#include "framework/ws_stream.hpp"

#include <map>
#include <optional>
#include <string>

namespace shadowlink::ums {

class auth {
 public:
  void configure(settings& s);

  // Returns the login token for valid credentials.
  std::optional<std::string> login(std::string_view user, std::string_view password);
  void logout(std::string_view token);

  // The administrator behind a request: bearer token (API token or login token) or the session cookie.
  std::optional<std::string> user_of(const http_request& req, bool allow_cookie);
  // Whether the request authenticates with one of the configured API tokens (for the audit trail).
  bool uses_api_token(const http_request& req);
  // The token a request carries (bearer first, then the cookie if allowed); empty if none.
  static std::string_view request_token(const http_request& req, bool allow_cookie);

  static constexpr std::string_view cookie_name = "sl_session";
  static constexpr clock::duration login_lifetime = 8h;  // at most, however busy

 private:
  std::optional<std::string> user_of_token(std::string_view token);

  std::map<std::string, std::string, std::less<>> passwords_;   // user -> password
  std::map<std::string, std::string, std::less<>> api_tokens_;  // token -> user
  struct login_session {
    std::string user;
    clock::time_point expires;
    clock::time_point last_used;
  };
  clock::duration idle_limit_ = 30min;  // a login unused this long is gone (a forgotten browser tab)
  std::map<std::string, login_session, std::less<>> logins_;
};

}  // namespace shadowlink::ums
