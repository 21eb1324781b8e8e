#pragma once
// TLS (1.2+ only) over wolfSSL through Asio's ssl layer. Certificate verification is always on:
// clients trust either a CA (file or PEM) or a pinned SHA-256 fingerprint of the server's
// certificate or of the CA that signed it.
#include "framework/stream.hpp"
#include "framework/tls_socket.hpp"

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <memory>
#include <string>

namespace shadowlink {

namespace ssl = net::ssl;

// True when this wolfSSL has AES-NI code and the CPU runs it (the optimized build on x86-64).
bool tls_aes_in_hardware();
// The cipher list every context uses: AES-128-GCM first when AES runs in hardware, else
// ChaCha20-Poly1305 first.
const char* tls_cipher_preference();

// Server context from PEM text, TLS 1.2+ with AEAD suites in the order above. With
// `client_ca_pem`, a client may present a certificate (devices do); one it presents must chain to
// that CA or the handshake fails. Clients without one are let in: the service decides what a
// connection without a certificate may do.
std::shared_ptr<ssl::context> make_server_tls(const std::string& cert_chain_pem, const std::string& key_pem,
                                              const std::string& client_ca_pem = {});

// The certificate a client presented and the handshake verified; empty if it presented none.
struct peer_certificate {
  std::string common_name;
  std::string fingerprint;  // SHA-256 (hex)
  bool empty() const { return fingerprint.empty(); }
};
peer_certificate client_certificate(tls_socket& s);
// The SHA-256 of the public key (SubjectPublicKeyInfo) of the certificate the peer presented (a
// client's view of its server), comparable with request_key_fingerprint(); empty if none.
std::string peer_key_fingerprint(tls_socket& s);

struct client_trust {
  std::string ca_pem;       // trust anchors (PEM), or
  std::string pin_sha256;   // normalised fingerprint of the server or its CA certificate
  bool empty() const { return ca_pem.empty() && pin_sha256.empty(); }
};

// Builds a trust from "ca file" and/or "pin" settings; throws std::runtime_error if neither is usable.
client_trust make_trust(const std::string& ca_file, const std::string& pin);

class tls_client {
 public:
  explicit tls_client(client_trust trust);
  ssl::context& context() { return *ctx_; }
  std::shared_ptr<ssl::context> shared_context() const { return ctx_; }
  const client_trust& trust() const { return trust_; }
  // Connections of this client go through an HTTP CONNECT proxy ("http://HOST:PORT") if set.
  void set_proxy(std::string proxy) { proxy_ = std::move(proxy); }
  const std::string& proxy() const { return proxy_; }
  // Direct connections of this client leave from this local address if set.
  void set_source_address(std::string address) { source_ = std::move(address); }
  const std::string& source_address() const { return source_; }
  // Connections of this client present this certificate (a device's own) when a server asks.
  void set_identity(const std::string& cert_pem, const std::string& key_pem);

 private:
  client_trust trust_;
  std::string proxy_;
  std::string source_;
  std::shared_ptr<ssl::context> ctx_;
};

// TCP connect + TLS handshake (SNI, verification) within `deadline`. Throws system_error whose
// message carries wolfSSL's reason (e.g. "verify problem on certificate", "certificate pin mismatch").
awaitable<std::unique_ptr<tls_socket>> connect_tls(tls_client& client, std::string_view host, std::string_view port,
                                                   clock::duration deadline);

// Server-side handshake within `deadline`; throws system_error with wolfSSL's reason.
awaitable<void> accept_tls(tls_socket& s, clock::duration deadline);
// The same, with wolfSSL's work (ECDHE, the certificate's signature, a client certificate's chain:
// a few hundred microseconds per handshake) done on `pool` at low priority, while the coroutine
// waits for the socket on its own executor. Why: anyone on the network can make a server shake
// hands, and on the event loop each handshake delays every session behind it (README, "Under a
// flood of hostile clients"). The socket is touched by one thread at a time: the coroutine is
// suspended while the pool works on it.
awaitable<void> accept_tls(tls_socket& s, clock::duration deadline, net::thread_pool& pool);

stream_ptr make_tls_stream(std::unique_ptr<tls_socket> s);

}  // namespace shadowlink
