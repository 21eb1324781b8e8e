#pragma once
// What the in-process flow tests check with: the session list's fields, audit events, the
// viewer's side of a tunnel (open, capture, close reason) and pixels.
#include "framework/stream.hpp"
#include "framework/tls.hpp"
#include "protocol/rfb_client.hpp"
#include "services/service_stack.hpp"

#include <boost/json.hpp>

#include <string>
#include <vector>

namespace shadowlink::testing {

inline const std::string red = "255,0,0", blue = "0,0,255";

std::string up_url(std::uint16_t port);
std::string socket_of(const xvnc& v);  // an agent's setting for that Xvnc's socket

// A string field of a JSON object, or "<no KEY>".
std::string text(const boost::json::object& o, std::string_view key);
// The events, space-separated (not a braced list: g++ 12 cannot hold one in a coroutine's frame).
std::string events_of(const std::vector<boost::json::object>& records);

// Step 5 of the OS 12 console flow: the viewer's tunnel with its one-time ticket from the session's state.
awaitable<stream_ptr> open_viewer(tls_client& tls, const boost::json::object& session);

// A console session to `device` through the UMS's REST API, the way a console opens one: its
// screen as the viewer receives it, the session then closed by the viewer and seen ended.
awaitable<rfb::framebuffer> capture_session(service_stack& st, tls_client& tls, std::string device);

// "R,G,B" (a string: g++ 12 cannot keep array temporaries in a coroutine's frame).
std::string pixel(const rfb::framebuffer& fb, int x, int y);

// Reads until the stream ends; the WebSocket close reason it ended with. (Never co_await inside a
// CHECK: Catch's macro names its expression twice, and g++ 12 runs the await twice.)
awaitable<std::string> close_reason_of(stream& s, clock::duration limit);

}  // namespace shadowlink::testing
