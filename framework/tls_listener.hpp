#pragma once
// The TLS listener of a server-side service (UMS, gateway): where it listens, the names its
// certificate carries, its certificate (files, or one signed by the installation CA) and the
// public wss:// URL it tells others. Read and checked once here; a service receives a ready
// https_server and only adds routes.
#include "framework/config.hpp"
#include "framework/https_server.hpp"
#include "framework/service.hpp"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace shadowlink {

struct tls_listener_settings {
  std::string listen = "127.0.0.1";
  std::uint16_t port = 0;
  std::vector<std::string> names{"localhost", "127.0.0.1"};  // never empty: the certificate's names, the default URL's host
  std::string cert_file, key_file;  // both or neither; neither: signed by the installation CA
  std::string public_url;           // wss://host:port, the base of every tunnel URL handed out
  bool public_url_given = false;    // false: derived from the first name and the port
  server_limits limits;             // connection limits (max_connections, ..._per_address, max_handshakes, ...)
  std::vector<std::string> proxy_protocol_from;  // TCP load balancers that send a PROXY v2 header

  // Reads listen, port, names, cert_file, key_file and the public URL (under `url_key`), with
  // errors naming the key: empty names, a URL that is not wss://, a certificate without its key.
  static tls_listener_settings read(settings& s, std::uint16_t default_port, std::string_view url_key);
  // After listen(): with port 0 the kernel picked the port (tests, several instances on one host);
  // what was derived from the port follows it. Returns whether anything changed.
  bool bound_to(std::uint16_t actual);
  // https://NAME:PORT for every name: the origins of the service's own pages.
  std::vector<std::string> own_origins() const;
};

// The listener's https_server with its identity: the configured files, or a certificate signed
// by the CA in `ca_dir` (created there if it is missing). Not listening yet: add routes, then
// call listen(s.listen, s.port).
// With `allow_bootstrap` (a gateway): when there is no certificate yet and `ca_dir` holds the CA's
// certificate but not its key, the listener starts with a self-signed certificate of its own key
// (make_bootstrap_identity) until the UMS signs one; `*bootstrapped` then says so.
std::unique_ptr<https_server> make_tls_listener(const tls_listener_settings& s, service_env& env,
                                                const std::filesystem::path& ca_dir, bool allow_bootstrap = false,
                                                bool* bootstrapped = nullptr);

}  // namespace shadowlink
