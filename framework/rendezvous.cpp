#include "framework/rendezvous.hpp"

#include "framework/errors.hpp"
#include "framework/token.hpp"

namespace shadowlink {

std::string_view to_string(side s) { return s == side::viewer ? "viewer" : "device"; }

tickets rendezvous::open(std::string session_id, clock::time_point expires) {
  tickets t{std::move(session_id), random_token(), random_token()};
  open(t, expires);
  return t;
}

void rendezvous::open(const tickets& t, clock::time_point expires) {
  auto e = std::make_unique<entry>(ex_);
  e->tokens = {t.viewer_token, t.device_token};
  e->expires = expires;
  entries_[t.session_id] = std::move(e);
}

rendezvous::entry* rendezvous::find(std::string_view id) {
  auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : it->second.get();
}

rendezvous::claim_result rendezvous::claim(std::string_view session_id, std::string_view token) {
  entry* e = find(session_id);
  if (!e) return {std::nullopt, "unknown session"};
  if (e->wrong >= max_wrong_tokens) return {std::nullopt, "too many wrong tokens for this session"};
  // Compare against both sides every time so the timing does not reveal which side was tried.
  bool v = tokens_equal(token, e->tokens[0]);
  bool d = tokens_equal(token, e->tokens[1]);
  if (!v && !d) {
    ++e->wrong;
    return {std::nullopt, "invalid token"};
  }
  side who = v ? side::viewer : side::device;
  auto i = static_cast<std::size_t>(who);
  if (e->used[i]) return {std::nullopt, "token already used"};
  if (clock::now() >= e->expires) return {std::nullopt, "expired"};
  e->used[i] = true;
  return {who, {}};
}

bool rendezvous::deliver(std::string_view session_id, side who, stream_ptr end) {
  entry* e = find(session_id);
  return e && e->ends[static_cast<std::size_t>(who)].deliver(std::move(end));
}

awaitable<stream_ptr> rendezvous::wait(std::string_view session_id, side who, clock::time_point deadline) {
  entry* e = find(session_id);
  if (!e) throw system_error(net::error::not_found, "unknown session");
  try {
    co_return co_await e->ends[static_cast<std::size_t>(who)].wait(deadline);
  } catch (const system_error& failed) {
    if (failed.code() != net::error::timed_out) throw;
  }
  throw step_timed_out(who == side::viewer ? "the viewer did not connect in time" : "the device's tunnel did not arrive in time");
}

void rendezvous::cancel(std::string_view session_id) {
  if (entry* e = find(session_id))
    for (auto& end : e->ends) end.close();
}

awaitable<void> rendezvous::finish(std::string_view session_id, std::string_view reason) {
  auto it = entries_.find(session_id);
  if (it == entries_.end()) co_return;
  auto e = std::move(it->second);
  entries_.erase(it);
  for (auto& end : e->ends) {
    end.close();
    if (auto s = end.take(); s && *s) co_await close_stream(**s, reason);
  }
}

}  // namespace shadowlink
