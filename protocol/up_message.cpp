#include "protocol/up_message.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <simdjson.h>

#include <array>
#include <utility>

namespace shadowlink::up {
namespace {

constexpr std::array<std::pair<kind, std::string_view>, 20> names{{
    {kind::hello, "hello"},
    {kind::welcome, "welcome"},
    {kind::heartbeat, "heartbeat"},
    {kind::shadow_request, "shadow_request"},
    {kind::shadow_asking, "shadow_asking"},
    {kind::shadow_accepted, "shadow_accepted"},
    {kind::shadow_refused, "shadow_refused"},
    {kind::shadow_ended, "shadow_ended"},
    {kind::error, "error"},
    {kind::device_hello, "device_hello"},
    {kind::device_accepted, "device_accepted"},
    {kind::device_rejected, "device_rejected"},
    {kind::device_offline, "device_offline"},
    {kind::tunnel_arrived, "tunnel_arrived"},
    {kind::session_ended, "session_ended"},
    {kind::end_session, "end_session"},
    {kind::certificate_request, "certificate_request"},
    {kind::certificate, "certificate"},
    {kind::device_revoked, "device_revoked"},
    {kind::device_settings, "device_settings"},
}};

kind kind_of(std::string_view s) {
  for (auto& [k, n] : names)
    if (n == s) return k;
  throw protocol_error("unknown message type '" + std::string(s.substr(0, 40)) + "'");
}

struct reader {
  simdjson::dom::object obj;
  std::string str(std::string_view key, bool required) {
    std::string_view v;
    auto err = obj[key].get(v);
    if (err == simdjson::NO_SUCH_FIELD) {
      if (required) throw protocol_error("missing field '" + std::string(key) + "'");
      return {};
    }
    if (err) throw protocol_error("field '" + std::string(key) + "' must be a string");
    if (v.size() > 4096) throw protocol_error("field '" + std::string(key) + "' is too long");
    // An empty required field names nothing (and would be dropped when the message is relayed).
    if (required && v.empty()) throw protocol_error("field '" + std::string(key) + "' must not be empty");
    return std::string(v);
  }
  template <class T>
  T num(std::string_view key) {
    T v{};
    auto err = obj[key].get(v);
    if (err == simdjson::NO_SUCH_FIELD) return T{};
    if (err) throw protocol_error("field '" + std::string(key) + "' must be a number");
    return v;
  }
  bool flag(std::string_view key) {
    bool v = false;
    auto err = obj[key].get(v);
    if (err && err != simdjson::NO_SUCH_FIELD) throw protocol_error("field '" + std::string(key) + "' must be a boolean");
    return v;
  }
};

}  // namespace

std::string_view to_string(kind k) {
  for (auto& [kk, n] : names)
    if (kk == k) return n;
  return "?";
}

message parse(std::string_view text) {
  if (text.size() > max_message_bytes) throw protocol_error("message too large");
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto err = parser.parse(text.data(), text.size()).get(root))
    throw protocol_error(std::string("not JSON: ") + simdjson::error_message(err));
  reader r;
  if (root.get(r.obj)) throw protocol_error("a message must be a JSON object");
  auto v = r.num<std::int64_t>("v");
  if (v != version) throw protocol_error("unsupported protocol version " + std::to_string(v) + " (expected 1)");
  message m;
  m.type = kind_of(r.str("type", true));
  switch (m.type) {
    case kind::hello:
      m.device_id = r.str("device_id", true);
      m.credential = r.str("credential", false);  // none when the device presented its certificate
      m.agent = r.str("agent", false);
      m.os = r.str("os", false);
      m.address = r.str("address", false);
      m.pin = r.str("pin", false);
      if (m.os == "11" && (m.address.empty() || m.pin.empty()))
        throw protocol_error("an OS 11 device's hello needs 'address' and 'pin' (its legacy shadowing port)");
      break;
    case kind::welcome:
      m.heartbeat_s = r.num<std::int64_t>("heartbeat_s");
      m.settings_path = r.str("settings_path", false);
      if (!m.settings_path.empty() && m.settings_path.front() != '/') throw protocol_error("field 'settings_path' must be a path");
      break;
    case kind::heartbeat:
      m.session_id = r.str("session_id", false);
      break;
    case kind::shadow_request:
      m.session_id = r.str("session_id", true);
      m.tunnel_url = r.str("tunnel_url", false);
      m.password = r.str("password", false);
      m.ttl_s = r.num<std::int64_t>("ttl_s");
      if (m.ttl_s < 0) throw protocol_error("field 'ttl_s' must not be negative");
      m.token = r.str("token", m.password.empty());
      m.viewer_token = r.str("viewer_token", false);
      m.device_id = r.str("device_id", false);
      m.pin = r.str("pin", false);
      m.user = r.str("user", false);
      m.view_only = r.flag("view_only");
      m.recorded = r.flag("recorded");
      m.consent = r.str("consent", false);
      m.consent_timeout_s = r.num<std::int64_t>("consent_timeout_s");
      if (m.consent_timeout_s < 0) throw protocol_error("field 'consent_timeout_s' must not be negative");
      break;
    case kind::shadow_asking:
    case kind::shadow_accepted:
      m.session_id = r.str("session_id", true);
      // (Passed between UMS nodes: the OS 11 port the device's node knows it by.)
      m.address = r.str("address", false);
      m.pin = r.str("pin", false);
      break;
    case kind::shadow_refused:
    case kind::shadow_ended:
      m.session_id = r.str("session_id", true);
      m.reason = r.str("reason", false);
      if (m.type == kind::shadow_ended) {  // (only what serialize() writes is read: a relayed message loses nothing)
        m.bytes_to_viewer = r.num<std::uint64_t>("bytes_to_viewer");
        m.bytes_from_viewer = r.num<std::uint64_t>("bytes_from_viewer");
      }
      break;
    case kind::error:
      m.reason = r.str("reason", false);
      break;
    case kind::device_hello:
      m.device_id = r.str("device_id", true);
      m.credential = r.str("credential", false);
      m.fingerprint = r.str("fingerprint", false);
      if (m.credential.empty() == m.fingerprint.empty())
        throw protocol_error("a device_hello carries either 'credential' or 'fingerprint' (a verified client certificate)");
      m.agent = r.str("agent", false);
      m.os = r.str("os", false);
      m.reason = r.str("reason", false);
      m.link = r.num<std::uint64_t>("link");
      if (m.link == 0) throw protocol_error("field 'link' must be a link id (a positive number)");
      break;
    case kind::device_accepted:
    case kind::device_rejected:
    case kind::device_offline:
      m.device_id = r.str("device_id", true);
      m.reason = r.str("reason", false);
      m.link = r.num<std::uint64_t>("link");
      if (m.link == 0) throw protocol_error("field 'link' must be a link id (a positive number)");
      break;
    case kind::tunnel_arrived:
    case kind::session_ended:
    case kind::end_session:
      m.session_id = r.str("session_id", true);
      m.reason = r.str("reason", false);
      if (m.type == kind::session_ended) {
        m.bytes_to_viewer = r.num<std::uint64_t>("bytes_to_viewer");
        m.bytes_from_viewer = r.num<std::uint64_t>("bytes_from_viewer");
      }
      break;
    case kind::certificate_request:
      m.csr = r.str("csr", true);
      m.device_id = r.str("device_id", false);  // set by a gateway relaying it, with `link`
      m.link = r.num<std::uint64_t>("link");
      break;
    case kind::certificate:
      m.certificate = r.str("certificate", true);
      m.device_id = r.str("device_id", false);
      m.link = r.num<std::uint64_t>("link");
      break;
    case kind::device_revoked:
      m.device_id = r.str("device_id", true);
      m.fingerprint = r.str("fingerprint", false);
      m.reason = r.str("reason", false);
      break;
    case kind::device_settings:
      m.device_id = r.str("device_id", true);
      m.name = r.str("name", false);
      m.os = r.str("os", false);
      m.agent = r.str("agent", false);
      m.mac = r.str("mac", false);
      m.ip = r.str("ip", false);
      m.address = r.str("address", false);
      m.pin = r.str("pin", false);
      m.link = r.num<std::uint64_t>("link");  // set by a gateway relaying it
      if (m.name.size() > 255 || m.mac.size() > 64 || m.ip.size() > 64)
        throw protocol_error("device_settings: a name of at most 255 bytes, 'mac' and 'ip' of at most 64");
      if (m.os == "11" && (m.address.empty() || m.pin.empty()))
        throw protocol_error("an OS 11 device's settings need 'address' and 'pin' (its legacy shadowing port)");
      break;
  }
  return m;
}

message welcome_message(std::int64_t heartbeat_s, std::string settings_path) {
  message m;
  m.type = kind::welcome;
  m.heartbeat_s = heartbeat_s;
  m.settings_path = std::move(settings_path);
  return m;
}

message error_message(std::string reason) {
  message m;
  m.type = kind::error;
  m.reason = std::move(reason);
  return m;
}

std::string serialize(const message& m) {
  boost::json::object o;
  o["v"] = version;
  o["type"] = to_string(m.type);
  auto put = [&](std::string_view k, const std::string& v) {
    if (!v.empty()) o[k] = v;
  };
  switch (m.type) {
    case kind::hello:
      put("device_id", m.device_id);
      put("credential", m.credential);
      put("agent", m.agent);
      put("os", m.os);
      put("address", m.address);
      put("pin", m.pin);
      break;
    case kind::welcome:
      o["heartbeat_s"] = m.heartbeat_s;
      put("settings_path", m.settings_path);
      break;
    case kind::heartbeat:
      put("session_id", m.session_id);
      break;
    case kind::shadow_request:
      put("session_id", m.session_id);
      put("tunnel_url", m.tunnel_url);
      put("password", m.password);
      if (m.ttl_s > 0) o["ttl_s"] = m.ttl_s;
      put("token", m.token);
      put("viewer_token", m.viewer_token);
      put("device_id", m.device_id);
      put("pin", m.pin);
      put("user", m.user);
      o["view_only"] = m.view_only;
      if (m.recorded) o["recorded"] = true;
      put("consent", m.consent);
      if (m.consent_timeout_s > 0) o["consent_timeout_s"] = m.consent_timeout_s;
      break;
    case kind::shadow_asking:
    case kind::shadow_accepted:
      put("session_id", m.session_id);
      put("address", m.address);
      put("pin", m.pin);
      break;
    case kind::shadow_refused:
    case kind::shadow_ended:
      put("session_id", m.session_id);
      put("reason", m.reason);
      if (m.type == kind::shadow_ended) {
        o["bytes_to_viewer"] = m.bytes_to_viewer;
        o["bytes_from_viewer"] = m.bytes_from_viewer;
      }
      break;
    case kind::error:
      put("reason", m.reason);
      break;
    case kind::device_hello:
      put("device_id", m.device_id);
      put("credential", m.credential);
      put("fingerprint", m.fingerprint);
      put("agent", m.agent);
      put("os", m.os);
      put("reason", m.reason);
      o["link"] = m.link;
      break;
    case kind::device_accepted:
    case kind::device_rejected:
    case kind::device_offline:
      put("device_id", m.device_id);
      put("reason", m.reason);
      o["link"] = m.link;
      break;
    case kind::tunnel_arrived:
    case kind::session_ended:
    case kind::end_session:
      put("session_id", m.session_id);
      put("reason", m.reason);
      if (m.type == kind::session_ended) {
        o["bytes_to_viewer"] = m.bytes_to_viewer;
        o["bytes_from_viewer"] = m.bytes_from_viewer;
      }
      break;
    case kind::certificate_request:
    case kind::certificate:
      put("csr", m.csr);
      put("certificate", m.certificate);
      put("device_id", m.device_id);
      if (m.link != 0) o["link"] = m.link;
      break;
    case kind::device_revoked:
      put("device_id", m.device_id);
      put("fingerprint", m.fingerprint);
      put("reason", m.reason);
      break;
    case kind::device_settings:
      put("device_id", m.device_id);
      put("name", m.name);
      put("os", m.os);
      put("agent", m.agent);
      put("mac", m.mac);
      put("ip", m.ip);
      put("address", m.address);
      put("pin", m.pin);
      if (m.link != 0) o["link"] = m.link;
      break;
  }
  return boost::json::serialize(o);
}

}  // namespace shadowlink::up
