#include "services/ums/auth.hpp"

#include "framework/on_exit.hpp"

#include "framework/https_server.hpp"
#include "framework/offload.hpp"
#include "framework/token.hpp"

#include <functional>

namespace shadowlink::ums {

std::string auth::configure(settings& s, const device_groups& groups, bool demo) {
  // Read into new tables and swapped in at the end: a reload that fails half-way changes nothing.
  decltype(users_) users;
  decltype(api_tokens_) api_tokens;
  decltype(principals_) principals;
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
    if (!users.emplace(name, h).second) u.reject("user", "duplicate user '" + name + "'");
    principals[name] = principal::read(u, groups);
  }
  for (auto& t : s.objects("api_tokens")) {
    const auto hashed = t.verifier("token", demo);
    const auto user = t.required_str("user");
    if (!api_tokens.emplace(hashed, user).second) t.reject("token_sha256", "duplicate API token");
    // A token of a user with a password acts with that user's rights; a token of its own
    // (automation) carries its own role and grants.
    if (principals.contains(user)) {
      for (auto key : {"role", "allow", "deny"})
        if (t.has(key)) t.reject(key, "rights of '" + user + "' are set by an earlier entry: set them once per user");
    } else {
      principals[user] = principal::read(t, groups);
    }
  }
  // (The cost of new passwords set through the REST API; the config's hashes carry their own.)
  int iterations = default_iterations;
  s.number("password_iterations", iterations, 1000, 10'000'000);
  new_password_iterations = iterations;
  auto idle_limit = default_idle_limit;
  s.seconds("login_idle_timeout_s", idle_limit, 1, 8 * 3600);
  if (users.empty() && api_tokens.empty())
    s.reject("users", "at least one user or API token is required: nothing is open without authentication");
  config_users_ = std::move(users);
  config_principals_ = std::move(principals);
  const bool tokens_changed = api_tokens.size() != api_tokens_.size() ||
                              !std::equal(api_tokens.begin(), api_tokens.end(), api_tokens_.begin(), [](auto& a, auto& b) { return a == b; });
  api_tokens_ = std::move(api_tokens);
  idle_limit_ = idle_limit;
  auto changes = merge(true);
  if (tokens_changed) changes += (changes.empty() ? "" : " ") + std::string("API tokens: ") + std::to_string(api_tokens_.size());
  return changes;
}

void auth::set_stored(std::vector<stored_administrator> admins) {
  stored_ = std::move(admins);
  merge(false);
}

std::string auth::merge(bool from_config) {
  decltype(users_) users = config_users_;
  decltype(principals_) principals = config_principals_;
  int max_iterations = 1000;
  for (const auto& a : stored_) {
    if (config_users_.contains(a.name) || config_principals_.contains(a.name)) continue;  // (the config's entry stands)
    // (Without a password: an account for API tokens only, which no password logs in.)
    auto h = parse_password_hash(a.password_hash);
    if (!h && !a.password_hash.empty()) continue;
    principal p;
    p.r = a.r;
    if (h) users.emplace(a.name, *h);
    principals.emplace(a.name, std::move(p));
  }
  for (auto& [name, h] : users) max_iterations = std::max(max_iterations, h.iterations);
  // The logins of an administrator who is gone, or whose password changed, end (here; and a config
  // change through ended_ in the registry, whose own changes end their logins themselves); the others' stay.
  if (from_config) {
    for (auto& [name, h] : users_)
      if (auto now = users.find(name); now == users.end() || to_string(now->second) != to_string(h)) ended_.push_back(name);
    for (auto& [name, p] : principals_)
      if (!users_.contains(name) && !principals.contains(name)) ended_.push_back(name);
  }
  std::erase_if(logins_, [&](const auto& l) {
    auto was = users_.find(l.second.user), now = users.find(l.second.user);
    const bool same_password = was == users_.end() || (now != users.end() && to_string(now->second) == to_string(was->second));
    return !principals.contains(l.second.user) || !same_password;
  });
  std::string changes;
  auto note = [&changes](std::string_view what) {
    if (!changes.empty()) changes += ' ';
    changes += what;
  };
  for (auto& [name, h] : users)
    if (auto was = users_.find(name); was == users_.end()) note("+" + name);
    else if (to_string(was->second) != to_string(h)) note("new password: " + name);
  for (auto& [name, h] : users_)
    if (!users.contains(name)) note("-" + name);
  users_ = std::move(users);
  principals_ = std::move(principals);
  max_iterations_ = max_iterations;
  return changes;
}

awaitable<auth::login_result> auth::login(std::string user, std::string password, const std::string& address) {
  login_result r;
  // Per user *from this address*: an attacker elsewhere cannot lock an administrator out.
  const auto user_key = user.substr(0, 64) + " from " + address;
  const auto address_key = "address " + address;
  r.retry_after = std::max(failed_users_.retry_after(user_key), failed_addresses_.retry_after(address));
  // One check at a time for a user from an address, and for an address that has failed before:
  // parallel guesses are not all heard at once.
  if (checking_.contains(user_key) || (checking_.contains(address_key) && failed_addresses_.count(address) > 0))
    r.retry_after = std::max(r.retry_after, clock::duration(1s));
  if (r.retry_after > clock::duration::zero()) co_return r;
  if (checks_ >= max_checks) {
    r.busy = true;
    co_return r;
  }
  std::optional<password_hash> known;
  if (auto it = users_.find(user); it != users_.end()) known = it->second;
  // An unknown user costs one derivation at the highest configured cost, like a known one, so the
  // answer time does not tell whether the user exists.
  std::function<bool()> check = [known, password, iterations = max_iterations_] {
    yield_to_the_event_loop();  // guessing must not slow the sessions down
    if (!known) {
      (void)hash_password(password, iterations);
      return false;
    }
    return verify_password(password, *known);
  };
  ++checking_[user_key];
  ++checking_[address_key];
  on_exit checked([&] {
    for (const auto* k : {&user_key, &address_key})
      if (auto it = checking_.find(*k); it != checking_.end() && --it->second == 0) checking_.erase(it);
  });
  ++checks_;
  bool ok = false;
  try {
    ok = co_await offload(pool_, std::move(check));
  } catch (...) {
    --checks_;
    throw;
  }
  --checks_;
  // The tables may have been reloaded while the hash was checked: the user must still be there,
  // with the password that was checked.
  auto now_known = users_.find(user);
  if (!known || !ok || now_known == users_.end() || to_string(now_known->second) != to_string(*known) ||
      !principals_.contains(user)) {
    r.failures = failed_users_.failed(user_key);
    failed_addresses_.failed(address);
    r.next_after = std::max(failed_users_.delay(user_key), failed_addresses_.delay(address));
    co_return r;
  }
  failed_users_.forgive(user_key);
  // Expired and idle logins are dropped here: the table is bounded by the logins of the last 8 hours.
  const auto now = clock::now();
  for (auto i = logins_.begin(); i != logins_.end();)
    i = i->second.expires < now || now - i->second.last_used > idle_limit_ ? logins_.erase(i) : std::next(i);
  auto token = random_token();
  logins_[token] = {user, now + login_lifetime, now, now};
  r.token = token;
  co_return r;
}

awaitable<password_hash> auth::hash(std::string password) {
  std::function<password_hash()> make = [password = std::move(password), n = new_password_iterations] { return hash_password(password, n); };
  co_return co_await offload(pool_, std::move(make));
}

void auth::logout(std::string_view token) {
  if (auto it = logins_.find(token); it != logins_.end()) logins_.erase(it);
  // (Remembered, so that a registry that could not be told is not asked to take it back.)
  const auto now = clock::now();
  std::erase_if(logged_out_, [now](const auto& l) { return l.second < now; });
  if (logged_out_.size() < 100'000) logged_out_.emplace(sha256_hex(token), now + login_lifetime);
}

std::string auth::password_fingerprint(std::string_view user) const {
  auto u = users_.find(user);
  return u == users_.end() ? std::string() : sha256_hex(to_string(u->second)).substr(0, 16);
}

namespace {
std::int64_t unix_of(clock::time_point t) {
  const auto now = clock::now();
  return std::chrono::duration_cast<std::chrono::seconds>((std::chrono::system_clock::now() + (t - now)).time_since_epoch()).count();
}
clock::time_point steady_of(std::int64_t unix_s) {
  return clock::now() + (std::chrono::system_clock::time_point(std::chrono::seconds(unix_s)) - std::chrono::system_clock::now());
}
}  // namespace

auth::token_view auth::look_up(std::string_view token) {
  // Only the tokens' hashes are kept; a fast hash is enough for long random tokens. Looking the
  // hash up tells a timing observer nothing about the token: nobody can steer a SHA-256 prefix.
  if (auto user = api_token_user(sha256_hex(token))) return {std::move(user), false, 0, {}};
  auto it = logins_.find(token);
  if (it == logins_.end()) {
    // Only what could be a login's token is asked of the registry; one logged out here never again.
    const bool shaped = token.size() == 64 && token.find_first_not_of("0123456789abcdef") == std::string_view::npos;
    return {std::nullopt, shaped && !logged_out_.contains(sha256_hex(token)), 0, {}};
  }
  const auto now = clock::now();
  if (it->second.expires <= now || !principals_.contains(it->second.user)) {
    logins_.erase(it);
    return {};
  }
  // Idle here may be in use at another node; and a login not checked for a while may have ended
  // there. (Only one that is not idle here is taken while the registry cannot be asked.)
  if (now - it->second.last_used > idle_limit_) return {std::nullopt, true, unix_of(it->second.last_used), {}};
  if (now - it->second.checked > login_recheck) return {std::nullopt, true, unix_of(it->second.last_used), it->second.user};
  it->second.last_used = now;
  return {it->second.user, false, 0, {}};
}

void auth::adopt(const std::string& token, const std::string& user, std::int64_t expires, std::int64_t last_used) {
  const auto now = clock::now();
  // (Bounded: expired and idle logins go first; a table still full takes no more until some do.)
  if (logins_.size() >= 100'000)
    std::erase_if(logins_, [this, now](const auto& l) { return l.second.expires < now || now - l.second.last_used > idle_limit_; });
  if (logins_.size() >= 100'000) return;
  logins_.insert_or_assign(token, login_session{user, std::min(steady_of(expires), now + login_lifetime), std::max(steady_of(last_used), now), now});
}

std::string_view auth::request_token(const http_request& req, bool allow_cookie) {
  if (auto token = bearer_token(req); !token.empty()) return token;
  if (!allow_cookie) return {};
  return cookie_value(req, cookie_name);
}

bool auth::uses_api_token(const http_request& req) {
  auto token = request_token(req, false);
  if (token.empty()) return false;
  return api_token_user(sha256_hex(token)).has_value();
}

std::optional<std::int64_t> auth::token_expiry(const http_request& req) const {
  auto token = request_token(req, false);
  if (token.empty()) return std::nullopt;
  auto t = stored_tokens_.find(sha256_hex(token));
  if (t == stored_tokens_.end()) return std::nullopt;
  return t->second.expires_at;
}

std::optional<std::string> auth::api_token_user(const std::string& sha256) const {
  if (auto t = api_tokens_.find(sha256); t != api_tokens_.end()) return t->second;
  auto t = stored_tokens_.find(sha256);
  if (t == stored_tokens_.end() || !principals_.contains(t->second.user)) return std::nullopt;
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  if (t->second.expires_at != 0 && t->second.expires_at <= now) return std::nullopt;
  return t->second.user;
}

}  // namespace shadowlink::ums
