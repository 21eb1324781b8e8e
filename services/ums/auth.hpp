#pragma once
// Who may use the UMS: administrators from the config (user + password, or API tokens), logged-in
// browser/console sessions (a random token, sent as a bearer token or an HttpOnly cookie).
#include "framework/config.hpp"
#include "framework/failure_penalty.hpp"
#include "framework/net.hpp"
#include "framework/ws_stream.hpp"
#include "services/ums/passwords.hpp"
#include "services/ums/rights.hpp"

#include <boost/asio/thread_pool.hpp>

#include <map>
#include <optional>
#include <string>

namespace shadowlink::ums {

class auth {
 public:
  // Users and API tokens with their roles and grants (which may name the device groups); plain-text
  // passwords and tokens only in the demo.
  // Returns what changed for the log ("+bob -carol, new password: dave"), empty if nothing.
  std::string configure(settings& s, const device_groups& groups, bool demo);

  struct login_result {
    std::optional<std::string> token;  // set for valid credentials
    bool busy = false;                 // too many checks at once: try again
    clock::duration retry_after{};     // not checked: recent failures for this user or address
    int failures = 0;                  // a failed check: the user's unforgiven failures with it
    clock::duration next_after{};      // a failed check: how long the next attempt must wait
  };
  // Checks the password on a worker thread (sessions on the event loop never wait for the slow
  // hash); an unknown user costs as much time as a known one. Returns a new login token. Failed
  // checks make the next attempt for the same user, or from the same address, wait (growing);
  // attempts within the wait are not checked at all, so parallel guessing gains nothing.
  awaitable<login_result> login(std::string user, std::string password, const std::string& address);
  void logout(std::string_view token);

  // The administrator behind a request: bearer token (API token or login token) or the session cookie.
  std::optional<std::string> user_of(const http_request& req, bool allow_cookie);
  // Whether the request authenticates with one of the configured API tokens (for the audit trail).
  bool uses_api_token(const http_request& req);
  // The token a request carries (bearer first, then the cookie if allowed); empty if none.
  static std::string_view request_token(const http_request& req, bool allow_cookie);

  // What an authenticated user may do.
  const principal& rights_of(std::string_view user) const { return principals_.at(std::string(user)); }
  bool knows(std::string_view user) const { return principals_.contains(user); }

  static constexpr std::string_view cookie_name = "sl_session";
  static constexpr clock::duration login_lifetime = 8h;  // at most, however busy

 private:
  std::optional<std::string> user_of_token(std::string_view token);

  std::map<std::string, password_hash, std::less<>> users_;
  std::map<std::string, std::string, std::less<>> api_tokens_;  // SHA-256 of the token (hex) -> user
  std::map<std::string, principal, std::less<>> principals_;   // user -> role and grants
  // Guessing costs time: 1 s after a user's first failure from an address, doubling up to 30 s;
  // an address (where many users may sit behind one NAT) starts at 250 ms. Forgiven after 15
  // minutes. Keyed by user *and* address, so nobody can lock an administrator out from elsewhere.
  failure_penalty failed_users_{{.first = 1s, .max = 30s, .forget_after = 15min, .max_keys = 4096}};
  failure_penalty failed_addresses_{{.first = 250ms, .max = 30s, .forget_after = 15min, .max_keys = 4096}};
  std::map<std::string, int, std::less<>> checking_;  // checks running, by user-and-address and by address (bounded by max_checks)
  int max_iterations_ = 1000;  // an unknown user's check costs this much, so the answer time does not tell
  net::thread_pool pool_{1};
  int checks_ = 0;  // password checks queued or running: bounded, so a flood of logins queues nowhere
  static constexpr int max_checks = 16;
  struct login_session {
    std::string user;
    clock::time_point expires;
    clock::time_point last_used;
  };
  static constexpr clock::duration default_idle_limit = 30min;  // a login unused this long is gone (a forgotten browser tab)
  clock::duration idle_limit_ = default_idle_limit;
  std::map<std::string, login_session, std::less<>> logins_;
};

}  // namespace shadowlink::ums
