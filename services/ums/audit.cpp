#include "services/ums/audit.hpp"

#include <boost/json.hpp>

#include <map>

namespace shadowlink::ums {
namespace json = boost::json;

namespace {
std::string_view text(const json::object& r, std::string_view key) {
  auto it = r.find(key);
  return it != r.end() && it->value().is_string() ? std::string_view(it->value().as_string()) : std::string_view{};
}
}  // namespace

bool audit_filter::matches(const json::object& r) const {
  auto time = text(r, "time");
  return (device.empty() || text(r, "device") == device) && (user.empty() || text(r, "user") == user) &&
         (since.empty() || time >= since) && (until.empty() || time <= until);
}

audit_trail::audit_trail(const std::filesystem::path& dir, std::uint64_t rotate_bytes)
    : j_({.dir = dir, .name = "audit", .rotate_bytes = rotate_bytes}) {}

awaitable<void> audit_trail::session(std::string_view event, const shadow_session& s, json::object details) {
  json::object r{{"event", event}, {"session", s.id}, {"device", s.device_id}, {"user", s.user}, {"via", s.via}, {"view_only", s.view_only}};
  if (!s.gateway.empty()) r["gateway"] = s.gateway;
  for (auto& [k, v] : details) r[k] = v;
  co_await j_.write(std::move(r));
}

awaitable<void> audit_trail::refusal(std::string_view device, std::string_view user, std::string_view via, std::string_view reason) {
  json::object r{{"event", "session_refused"}, {"device", device.substr(0, 64)}, {"user", user}, {"via", via}, {"reason", reason}};
  co_await j_.write(std::move(r));
}

void audit_trail::login(std::string_view user, std::string_view peer, bool ok) {
  j_.note(json::object{{"event", ok ? "login" : "login_failed"}, {"user", user.substr(0, 64)}, {"peer", peer}});
}

void audit_trail::api_token(std::string_view user, std::string_view peer, std::string_view request) {
  j_.note(json::object{{"event", "api_token_used"}, {"user", user}, {"peer", peer}, {"request", request.substr(0, 128)}});
}

void audit_trail::certificate(std::string_view event, std::string_view device, std::string_view fingerprint, std::string_view user,
                              std::string_view via) {
  json::object r{{"event", event}, {"device", device}, {"fingerprint", fingerprint}};
  if (!user.empty()) r["user"] = user;
  if (!via.empty()) r["via"] = via;
  j_.note(std::move(r));
}

void audit_trail::registry_change(json::object record) { j_.note(std::move(record)); }

std::size_t audit_trail::close_unfinished() {
  std::map<std::string, json::object> open;  // session id -> its request record
  for (auto& r : j_.read_now([](const json::object& r) { return text(r, "event").starts_with("session_"); })) {
    std::string id(text(r, "session"));
    if (text(r, "event") == "session_requested") open[id] = r;
    else if (text(r, "event") == "session_ended") open.erase(id);
  }
  for (auto& [id, r] : open) {
    json::object end{{"event", "session_ended"}, {"session", id}, {"outcome", "unknown, server restarted"}};
    for (auto key : {"device", "user", "via", "gateway"})
      if (auto it = r.find(key); it != r.end()) end[key] = it->value();
    j_.note(std::move(end));
  }
  return open.size();
}

awaitable<std::vector<json::object>> audit_trail::query(audit_filter f) {
  const auto limit = f.limit;
  std::function<bool(const json::object&)> keep = [f = std::move(f)](const json::object& r) { return f.matches(r); };
  co_return co_await j_.read(std::move(keep), limit);
}

awaitable<std::vector<std::string>> audit_trail::lines_since(std::string time, std::size_t limit) {
  co_return co_await j_.lines_from(std::move(time), limit);
}

}  // namespace shadowlink::ums
