#pragma once
// The tunnel endpoint of every server that pairs tunnels (UMS, ICG): the one-time token comes in
// the Authorization header (never the URL), is checked and consumed by the rendezvous, and the
// accepted WebSocket is handed to the session waiting for it.
#include "framework/https_server.hpp"
#include "framework/rendezvous.hpp"
#include "framework/splice.hpp"

namespace shadowlink::up {

// `up` is an upgrade of PREFIX{session_id}; refusals are HTTP 401/403 with the reason.
awaitable<void> accept_tunnel_end(rendezvous& rv, ws_upgrade& up, std::string_view prefix, const std::string& scope);

// How a shadow session's splice ended, in the words every party uses (logs, audit, close reasons,
// REST, the device's shadow_ended report): side a is always the viewer's, side b the device's.
inline constexpr const char* viewer_side = "viewer";
inline constexpr const char* device_side = "device";
inline std::string session_ending(const splice_end& e) { return e.words(viewer_side, device_side); }
// A relay's splice of a session (viewer as a, device as b): its close reasons name the sides the same way.
inline splice_options relay_splice_options(clock::duration write_stall) {
  splice_options o;
  o.write_timeout = write_stall;
  o.a_name = viewer_side;
  o.b_name = device_side;
  return o;
}

}  // namespace shadowlink::up
