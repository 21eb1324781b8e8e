#include "services/ums/auth.hpp"

#include "framework/token.hpp"

namespace shadowlink::ums {

void auth::configure(settings& s) {
  for (auto& u : s.objects("users")) {
    auto name = u.required_str("user");
    passwords_[name] = u.required_str("password");
    u.finish();
  }
  for (auto& t : s.objects("api_tokens")) {
    auto token = t.required_str("token");
    if (token.size() < 16) t.reject("token", "must be at least 16 characters");
    api_tokens_[token] = t.required_str("user");
    t.finish();
  }
  idle_limit_ = std::chrono::seconds(s.integer("login_idle_timeout_s", 1800, 1, 8 * 3600));
  if (passwords_.empty() && api_tokens_.empty())
    s.reject("users", "at least one user or API token is required: nothing is open without authentication");
}

std::optional<std::string> auth::login(std::string_view user, std::string_view password) {
  auto it = passwords_.find(user);
  // Compare even for unknown users so the answer time does not reveal which users exist.
  bool ok = tokens_equal(password, it == passwords_.end() ? std::string(password.size() + 1, '\0') : it->second);
  if (it == passwords_.end() || !ok) return std::nullopt;
  // Expired logins are dropped here: the table is bounded by the logins of the last 8 hours.
  const auto now = clock::now();
  for (auto i = logins_.begin(); i != logins_.end();)
    i = i->second.expires < now || now - i->second.last_used > idle_limit_ ? logins_.erase(i) : std::next(i);
  auto token = random_token();
  logins_[token] = {std::string(user), clock::now() + login_lifetime, clock::now()};
  return token;
}

void auth::logout(std::string_view token) {
  if (auto it = logins_.find(token); it != logins_.end()) logins_.erase(it);
}

std::optional<std::string> auth::user_of_token(std::string_view token) {
  for (auto& [t, user] : api_tokens_)
    if (tokens_equal(token, t)) return user;
  auto it = logins_.find(token);
  if (it == logins_.end()) return std::nullopt;
  const auto now = clock::now();
  if (it->second.expires <= now || now - it->second.last_used > idle_limit_) {
    logins_.erase(it);
    return std::nullopt;
  }
  it->second.last_used = now;
  return it->second.user;
}

std::string_view auth::request_token(const http_request& req, bool allow_cookie) {
  auto authz = req[http::field::authorization];
  constexpr std::string_view bearer = "Bearer ";
  if (authz.substr(0, bearer.size()) == bearer) return authz.substr(bearer.size());
  if (!allow_cookie) return {};
  // Cookie: a=b; sl_session=TOKEN; c=d
  std::string_view cookies = req[http::field::cookie];
  while (!cookies.empty()) {
    auto end = cookies.find(';');
    auto item = cookies.substr(0, end);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    if (item.substr(0, cookie_name.size()) == cookie_name && item.size() > cookie_name.size() &&
        item[cookie_name.size()] == '=')
      return item.substr(cookie_name.size() + 1);
    if (end == std::string_view::npos) break;
    cookies.remove_prefix(end + 1);
  }
  return {};
}

bool auth::uses_api_token(const http_request& req) {
  auto token = request_token(req, false);
  if (token.empty()) return false;
  for (auto& [t, user] : api_tokens_)
    if (tokens_equal(token, t)) return true;
  return false;
}

std::optional<std::string> auth::user_of(const http_request& req, bool allow_cookie) {
  auto token = request_token(req, allow_cookie);
  if (token.empty()) return std::nullopt;
  return user_of_token(token);
}

}  // namespace shadowlink::ums
