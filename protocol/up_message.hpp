#pragma once
// Unified Protocol (UP) messages: versioned JSON text frames on the device's WebSocket.
// Parsed with simdjson, written with Boost.JSON. See protocol/README.md for every message.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace shadowlink::up {

inline constexpr int version = 1;
inline constexpr std::size_t max_message_bytes = 16 * 1024;

// The refusal of a device whose client certificate is not (or no longer) the one on record: the
// device then drops it and enrolls again with its bootstrap credential, if it has one.
inline constexpr std::string_view certificate_not_accepted = "device certificate not accepted (revoked, replaced or not this device's)";

struct protocol_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class kind {
  hello,           // device -> server: who I am
  welcome,         // server -> device: accepted
  heartbeat,       // device -> server: still here (server updates last-seen)
  shadow_request,  // server -> device: open a tunnel for this session
  shadow_asking,    // device -> server: its user is being asked (the set-up waits for them)
  shadow_accepted, // device -> server
  shadow_refused,  // device -> server, with reason
  shadow_ended,    // device -> server, with reason and byte counts
  error,           // either way: the other side sent something wrong
  // Between a UMS and a gateway (ICG), on the UMS's link to it:
  device_hello,     // icg -> ums: a device connected; is it known, is its credential right?
  device_accepted,  // ums -> icg
  device_rejected,  // ums -> icg, with reason
  device_offline,   // icg -> ums
  tunnel_arrived,   // icg -> ums: one end of a session reached the gateway (reason = side)
  session_ended,    // icg -> ums: the gateway's splice ended
  end_session,      // ums -> icg: end this session now
  // A device's own client certificate (SECURITY.md, "Device identity"):
  certificate_request,  // device -> server (and icg -> ums, relayed): sign this request for me
  certificate,          // server -> device (and ums -> icg, relayed): the signed certificate
  device_revoked,       // ums -> icg: this device's certificate is revoked; close its link
  // What a device says about itself (the seed's "device settings"), at every new link and when it
  // changes: by REST to a UMS that asks for it there (welcome's settings_path), else over the link
  // (a gateway relays it to the UMS with the link id). One format for both.
  device_settings,
};

std::string_view to_string(kind k);

struct message {
  kind type = kind::error;
  std::string device_id;   // hello
  std::string credential;  // hello, device_hello: the bootstrap credential (not with a certificate)
  std::string fingerprint;  // device_hello, device_revoked: SHA-256 of the client certificate the device presented
  std::string csr;          // certificate_request: PKCS #10 request, PEM
  std::string certificate;  // certificate: the device's certificate, PEM
  std::string agent;       // hello: agent name/version
  std::string os;          // hello, device_hello: the device's OS family ("12", or "11": legacy TLS port)
  std::string address;     // hello, device_settings of an OS 11 device: HOST:PORT of its legacy shadowing port (its pin in `pin`)
  std::string name;        // device_settings: the device's name (its host name unless configured)
  std::string mac, ip;     // device_settings: the hardware and IP address of the device's interface to its server
  std::string settings_path;  // welcome from a UMS: where the device POSTs its device_settings (REST)
  std::string session_id;  // shadow_*; heartbeat: the device's running session, if any
  std::string tunnel_url;  // shadow_request
  std::string token;       // shadow_request: the device side's one-time token
  std::string viewer_token;  // shadow_request to a gateway: the viewer side's token
  std::string pin;         // shadow_request: optional fingerprint of the tunnel server; hello: the legacy port's certificate
  std::string password;    // shadow_request to an OS 11 device: the session's one-time password (no tunnel_url, no token)
  std::int64_t ttl_s = 0;  // shadow_request with a password: how long it stays valid after the device accepts
  bool view_only = false;  // shadow_request
  bool recorded = false;   // shadow_request: the UMS records the session (the device's user is told)
  std::string reason;      // shadow_refused, shadow_ended, error
  std::string user;        // shadow_request: who is shadowing (for the device's notice and audit)
  std::string consent;     // shadow_request: the server's policy for the device (none, notify, ask)
  std::int64_t consent_timeout_s = 0;  // shadow_request: how long the device's user may take to answer
  std::uint64_t bytes_to_viewer = 0, bytes_from_viewer = 0;  // shadow_ended
  std::int64_t heartbeat_s = 0;                              // welcome
  // device_hello/_accepted/_rejected/_offline, certificate_request/certificate to and from a gateway: the gateway's id of the device's link, so that a
  // verdict or an offline report applies to that link only, never to whichever link holds the id now.
  std::uint64_t link = 0;
  bool operator==(const message&) const = default;
};

// The two messages every endpoint sends, built outside the coroutines that send them (a named
// message in a coroutine is 700 bytes of its frame for as long as the link lives).
message welcome_message(std::int64_t heartbeat_s, std::string settings_path = {});
message error_message(std::string reason);

// Throws protocol_error with a readable reason (bad JSON, wrong version, unknown type, missing field).
message parse(std::string_view text);
std::string serialize(const message& m);

}  // namespace shadowlink::up
