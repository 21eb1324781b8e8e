#include "framework/tls_listener.hpp"

#include "framework/certs.hpp"
#include "framework/log.hpp"
#include "framework/tls.hpp"
#include "framework/ws_stream.hpp"

namespace shadowlink {

tls_listener_settings tls_listener_settings::read(settings& s, std::uint16_t default_port, std::string_view url_key) {
  tls_listener_settings t;
  t.listen = s.str("listen", t.listen);
  t.port = s.port("port", default_port);
  t.names = s.strings("names", t.names);
  if (t.names.empty()) s.reject("names", "give at least one host name or address for the certificate");
  for (const auto& n : t.names)
    if (n.empty()) s.reject("names", "an empty name");
  t.public_url_given = s.has(url_key);
  t.public_url = s.str(url_key, "wss://" + t.names.front() + ":" + std::to_string(t.port));
  try {
    // Tunnel tokens and VNC travel to this URL: a typo must not send them in clear.
    if (!parse_ws_url(t.public_url).tls) s.reject(url_key, "must be a wss:// URL");
  } catch (const std::invalid_argument& e) {
    s.reject(url_key, e.what());
  }
  t.cert_file = s.str("cert_file", t.cert_file);
  t.key_file = s.str("key_file", t.key_file);
  if (t.cert_file.empty() != t.key_file.empty())
    s.reject(t.cert_file.empty() ? "cert_file" : "key_file", "cert_file and key_file go together");
  s.number("max_connections", t.limits.max_connections, 1, 1000000);
  s.number("max_connections_per_address", t.limits.max_connections_per_address, 1, 1000000);
  s.number("max_handshakes", t.limits.max_handshakes, 1, 100000);
  s.number("max_handshakes_per_address", t.limits.max_handshakes_per_address, 1, 100000);
  s.seconds("keep_alive_lifetime_s", t.limits.keep_alive_lifetime, 1, 24 * 3600);
  s.seconds("request_timeout_s", t.limits.request, 1, 3600);
  t.proxy_protocol_from = s.strings("proxy_protocol_from", t.proxy_protocol_from);
  for (const auto& a : t.proxy_protocol_from) {
    error_code ec;
    net::ip::make_address(a, ec);
    if (ec) s.reject("proxy_protocol_from", "'" + a + "' is not an IP address (the load balancers' addresses, as they connect)");
  }
  return t;
}

bool tls_listener_settings::bound_to(std::uint16_t actual) {
  if (port != 0 || actual == 0) return false;
  port = actual;
  if (!public_url_given) public_url = "wss://" + names.front() + ":" + std::to_string(port);
  return true;
}

std::vector<std::string> tls_listener_settings::own_origins() const {
  std::vector<std::string> out;
  for (auto& n : names) out.push_back("https://" + n + ":" + std::to_string(port));
  return out;
}

std::unique_ptr<https_server> make_tls_listener(const tls_listener_settings& s, service_env& env,
                                                const std::filesystem::path& ca_dir, bool allow_bootstrap,
                                                bool* bootstrapped) {
  namespace fs = std::filesystem;
  identity id;
  const bool has_certificate = fs::exists(env.data_dir / "server.pem") && fs::exists(env.data_dir / "server.key");
  if (bootstrapped) *bootstrapped = false;
  if (s.cert_file.empty() && !has_certificate && allow_bootstrap && fs::exists(ca_dir / "ca.pem") && !fs::exists(ca_dir / "ca.key")) {
    id = make_bootstrap_identity(env.data_dir, s.names);
    id.ca_pem = read_file(ca_dir / "ca.pem");
    if (bootstrapped) *bootstrapped = true;
    log::warn(env.name, "not paired yet: serving a self-signed certificate, SHA-256 fingerprint ", id.server_fingerprint,
              " (the UMS's \"pair_pin\" for this gateway); the UMS signs one when it connects");
  } else if (allow_bootstrap && s.cert_file.empty() && has_certificate && !fs::exists(ca_dir / "ca.key")) {
    // A paired gateway: the certificate the UMS signed; nothing to create, so nothing to lock (its
    // ca_dir may be read-only).
    id.cert_chain_pem = read_file(env.data_dir / "server.pem");
    id.key_pem = read_file(env.data_dir / "server.key");
    if (fs::exists(ca_dir / "ca.pem")) id.ca_pem = read_file(ca_dir / "ca.pem");
    log::info(env.name, "certificate ", (env.data_dir / "server.pem").string(), ", SHA-256 fingerprint ", pem_fingerprint(id.cert_chain_pem));
  } else if (!s.cert_file.empty()) {
    id.cert_chain_pem = read_file(s.cert_file);
    id.key_pem = read_file(s.key_file);
    log::info(env.name, "certificate from ", s.cert_file);
    // Device certificates are checked against the installation CA: its certificate is enough
    // (the key that signs stays with the UMS).
    if (std::filesystem::exists(ca_dir / "ca.pem")) id.ca_pem = read_file(ca_dir / "ca.pem");
  } else {
    id = ensure_server_identity(env.data_dir, ca_dir, s.names);
    if (id.created) log::info(env.name, "created certificate in ", env.data_dir.string());
    log::info(env.name, "installation CA ", (ca_dir / "ca.pem").string(), " SHA-256 fingerprint ", id.ca_fingerprint,
              "; server fingerprint ", id.server_fingerprint);
  }
  if (id.ca_pem.empty())
    log::warn(env.name, "no installation CA certificate ", (ca_dir / "ca.pem").string(),
              ": device certificates are not checked here, so enrolled devices (which send no credential) cannot connect");
  auto server = std::make_unique<https_server>(env.tasks, make_server_tls(id.cert_chain_pem, id.key_pem, id.ca_pem), env.name, s.limits);
  std::vector<net::ip::address> balancers;
  for (const auto& a : s.proxy_protocol_from) balancers.push_back(net::ip::make_address(a));
  server->accept_proxy_protocol_from(std::move(balancers));
  return server;
}

}  // namespace shadowlink
