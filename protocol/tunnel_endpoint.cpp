#include "protocol/tunnel_endpoint.hpp"

#include "framework/log.hpp"
#include "protocol/up_link.hpp"

namespace shadowlink::up {

awaitable<void> accept_tunnel_end(rendezvous& rv, ws_upgrade& up, std::string_view prefix, const std::string& scope) {
  auto session_id = std::string(up.request().target().substr(prefix.size()));
  auto authz = up.request()[http::field::authorization];
  constexpr std::string_view bearer = "Bearer ";
  if (authz.substr(0, bearer.size()) != bearer)
    co_return co_await up.reject(http::status::unauthorized, "tunnel token missing (Authorization: Bearer)");
  auto claim = rv.claim(session_id, authz.substr(bearer.size()));
  if (!claim.who) {
    log::warn(scope, "tunnel end from ", up.peer(), " refused for session ", session_id.substr(0, 32), ": ", claim.error);
    co_return co_await up.reject(http::status::forbidden, claim.error);
  }
  const auto opts = tunnel_options();
  auto end = co_await up.accept(opts);
  log::info(scope + "/" + session_id, to_string(*claim.who), " tunnel arrived from ", up.peer());
  rv.deliver(session_id, *claim.who, std::move(end));  // if the session ended meanwhile, the end closes
}

}  // namespace shadowlink::up
