#pragma once
// The OS 11 legacy shadowing port's first exchange, inside TLS: after checking the device's
// certificate against its pin, the viewer side (console or UMS) sends one line,
// "SESSION_ID PASSWORD\n"; the device answers "OK\n" and VNC follows, or closes. Nothing else is
// read or written before it: no VNC byte leaves the device without the session's password.
#include "framework/stream.hpp"
#include "framework/tls.hpp"

#include <optional>
#include <string>

namespace shadowlink::legacy {

inline constexpr std::size_t max_line = 256;

struct credentials {
  std::string session_id, password;
};

// Viewer side: sends the line and waits for the device's "OK" (system_error if refused or late).
awaitable<void> present(stream& device, const credentials& c, clock::duration deadline);

// Device side: reads the line (at most max_line bytes, within `deadline`); nullopt if the peer
// sent something else, too much, or nothing in time.
awaitable<std::optional<credentials>> receive(stream& viewer, clock::duration deadline);
awaitable<void> accept(stream& viewer);  // the "OK"

// The viewer's side, whole: TLS to the device's legacy port at `address` (HOST:PORT) through
// `client` (which pins the device's certificate and must outlive the stream), then the password.
// Nothing is sent if the certificate differs from the pin.
awaitable<stream_ptr> connect(tls_client& client, const std::string& address, const credentials& c, clock::duration deadline);

}  // namespace shadowlink::legacy
