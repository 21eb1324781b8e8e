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
#include <utility>
#include <vector>

namespace shadowlink::ums {

class auth {
 public:
  // Users and API tokens with their roles and grants (which may name the device groups); plain-text
  // passwords and tokens only in the demo.
  // Returns what changed for the log ("+bob -carol, new password: dave"), empty if nothing.
  std::string configure(settings& s, const device_groups& groups, bool demo);

  // Administrators kept in the registry (folders.cpp reads them with the rights): one the config
  // also names is the config's. Their logins end when they are removed or their password changes.
  struct stored_administrator {
    std::string name;
    role r = role::operator_;
    std::string password_hash;
  };
  void set_stored(std::vector<stored_administrator> admins);
  // API tokens kept in the registry: SHA-256 (hex) -> the administrator it acts as, and until when
  // (Unix seconds; 0: no end). A token whose administrator is gone opens nothing.
  struct stored_token {
    std::string user;
    std::int64_t expires_at = 0;
  };
  void set_stored_tokens(std::map<std::string, stored_token, std::less<>> tokens) { stored_tokens_ = std::move(tokens); }
  // Whether `user` is the config's (not the registry's: the registry cannot change them).
  bool configured(std::string_view user) const { return config_principals_.contains(user); }
  // A password's hash at the configured cost, on the worker thread.
  awaitable<password_hash> hash(std::string password);
  int new_password_iterations = default_iterations;

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

  // What a token is here: an API token's or a login's administrator, or (`check`) a login this node
  // has not seen, or not for a while, to be asked of the registry first, where every node keeps
  // its logins (ums_service::authenticated).
  struct token_view {
    std::optional<std::string> user;
    bool check = false;
    std::int64_t last_used = 0;  // (a login known here: its last use, Unix seconds)
    std::string known;           // (and whose it is, if the registry cannot be asked)
  };
  token_view look_up(std::string_view token);
  // A login as the registry has it (made by another node, or checked again), valid here until
  // `expires` (Unix seconds); one the registry does not have any more ends here too.
  void adopt(const std::string& token, const std::string& user, std::int64_t expires, std::int64_t last_used);
  // (Not a logout: the registry may take it again, e.g. once this node has read a new password.)
  void forget(std::string_view token) {
    if (auto it = logins_.find(token); it != logins_.end()) logins_.erase(it);
  }
  std::int64_t idle_limit_s() const { return std::chrono::duration_cast<std::chrono::seconds>(idle_limit_).count(); }
  // A login is checked with the registry again when it is used this long after its last check:
  // a logout, or an administrator removed, through another node ends it here within this time.
  static constexpr clock::duration login_recheck = 10s;
  // The administrators whose logins the last configure() ended (their rows go from the registry too).
  std::vector<std::string> take_ended() { return std::exchange(ended_, {}); }
  // Whether the request authenticates with one of the configured API tokens (for the audit trail).
  bool uses_api_token(const http_request& req);
  // The end of the registry's API token a request carries (0: none), if it carries one.
  std::optional<std::int64_t> token_expiry(const http_request& req) const;
  // The token a request carries (bearer first, then the cookie if allowed); empty if none.
  static std::string_view request_token(const http_request& req, bool allow_cookie);

  // What an authenticated user may do (one removed meanwhile: nothing).
  const principal& rights_of(std::string_view user) const {
    auto p = principals_.find(user);
    return p == principals_.end() ? nobody_ : p->second;
  }
  bool knows(std::string_view user) const { return principals_.contains(user); }
  // Which password a login was made with (a short hash of its hash): a login made with another
  // (a password changed since, or another administrator of the same name at another node) is not taken.
  std::string password_fingerprint(std::string_view user) const;
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [name, p] : principals_) out.push_back(name);
    return out;
  }

  static constexpr std::string_view cookie_name = "sl_session";
  static constexpr clock::duration login_lifetime = 8h;  // at most, however busy

 private:
  static inline const principal nobody_{role::operator_, {}, {}};
  std::vector<std::string> ended_;

  std::string merge(bool from_config);  // config and registry into users_ and principals_; what changed
  std::map<std::string, clock::time_point, std::less<>> logged_out_;  // SHA-256 of tokens logged out here, until they would have expired
  std::map<std::string, password_hash, std::less<>> config_users_;
  std::map<std::string, principal, std::less<>> config_principals_;
  std::vector<stored_administrator> stored_;
  std::map<std::string, password_hash, std::less<>> users_;
  std::map<std::string, std::string, std::less<>> api_tokens_;  // SHA-256 of the token (hex) -> user
  std::map<std::string, stored_token, std::less<>> stored_tokens_;
  // The administrator a token of the config or the registry acts as, if it is one (and valid).
  std::optional<std::string> api_token_user(const std::string& sha256) const;
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
    clock::time_point checked;  // last seen in the registry (or made here)
  };
  static constexpr clock::duration default_idle_limit = 30min;  // a login unused this long is gone (a forgotten browser tab)
  clock::duration idle_limit_ = default_idle_limit;
  std::map<std::string, login_session, std::less<>> logins_;
};

}  // namespace shadowlink::ums
