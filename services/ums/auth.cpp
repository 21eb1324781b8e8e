#include "services/ums/auth.hpp"

#include "framework/https_server.hpp"
#include "framework/offload.hpp"
#include "framework/token.hpp"

#include <functional>

namespace shadowlink::ums {

void auth::configure(settings& s, const device_groups& groups, bool demo) {
  users_.clear();
  api_tokens_.clear();
  principals_.clear();
  int max_iterations = 1000;
  for (auto& u : s.objects("users")) {
    auto name = u.required_str("user");
    password_hash h;
    if (u.has("password")) {
      if (!demo)
        u.reject("password", "plain-text secrets are refused: put \"password_hash\" (the output of `shadowlinkd hash-password`) here instead");
      h = hash_password(u.required_str("password"), 1000);
    } else {
      auto parsed = parse_password_hash(u.required_str("password_hash"));
      if (!parsed) u.reject("password_hash", "expected the output of `shadowlinkd hash-password` (pbkdf2-sha256$ITERATIONS$SALT$HASH)");
      h = *parsed;
    }
    max_iterations = std::max(max_iterations, h.iterations);
    if (!users_.emplace(name, h).second) u.reject("user", "duplicate user '" + name + "'");
    principals_[name] = principal::read(u, groups);
    u.finish();
  }
  for (auto& t : s.objects("api_tokens")) {
    const auto hashed = t.verifier("token", demo);
    const auto user = t.required_str("user");
    if (!api_tokens_.emplace(hashed, user).second) t.reject("token_sha256", "duplicate API token");
    // A token of a user with a password acts with that user's rights; a token of its own
    // (automation) carries its own role and grants.
    if (principals_.contains(user)) {
      for (auto key : {"role", "allow", "deny"})
        if (t.has(key)) t.reject(key, "rights of '" + user + "' are set by an earlier entry: set them once per user");
    } else {
      principals_[user] = principal::read(t, groups);
    }
    t.finish();
  }
  dummy_ = hash_password(random_token(16), max_iterations);
  idle_limit_ = std::chrono::seconds(s.integer("login_idle_timeout_s", 1800, 1, 8 * 3600));
  if (users_.empty() && api_tokens_.empty())
    s.reject("users", "at least one user or API token is required: nothing is open without authentication");
  // On a reload: a removed administrator's logins end with it.
  std::erase_if(logins_, [&](const auto& l) { return !principals_.contains(l.second.user); });
}

awaitable<auth::login_result> auth::login(std::string user, std::string password) {
  login_result r;
  if (checks_ >= max_checks) {
    r.busy = true;
    co_return r;
  }
  auto it = users_.find(user);
  const password_hash h = it == users_.end() ? dummy_ : it->second;
  std::function<bool()> check = [h, password] { return verify_password(password, h); };
  ++checks_;
  bool ok = false;
  try {
    ok = co_await offload(pool_, std::move(check));
  } catch (...) {
    --checks_;
    throw;
  }
  --checks_;
  if (it == users_.end() || !ok) co_return r;
  // Expired and idle logins are dropped here: the table is bounded by the logins of the last 8 hours.
  const auto now = clock::now();
  for (auto i = logins_.begin(); i != logins_.end();)
    i = i->second.expires < now || now - i->second.last_used > idle_limit_ ? logins_.erase(i) : std::next(i);
  auto token = random_token();
  logins_[token] = {user, now + login_lifetime, now};
  r.token = token;
  co_return r;
}

void auth::logout(std::string_view token) {
  if (auto it = logins_.find(token); it != logins_.end()) logins_.erase(it);
}

std::optional<std::string> auth::user_of_token(std::string_view token) {
  // Only the tokens' hashes are kept; a fast hash is enough for long random tokens. Looking the
  // hash up tells a timing observer nothing about the token: nobody can steer a SHA-256 prefix.
  if (auto t = api_tokens_.find(sha256_hex(token)); t != api_tokens_.end()) return t->second;
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
  if (auto token = bearer_token(req); !token.empty()) return token;
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
  return api_tokens_.contains(sha256_hex(token));
}

std::optional<std::string> auth::user_of(const http_request& req, bool allow_cookie) {
  auto token = request_token(req, allow_cookie);
  if (token.empty()) return std::nullopt;
  return user_of_token(token);
}

}  // namespace shadowlink::ums
