#include "framework/tls.hpp"

#include "framework/certs.hpp"
#include "framework/errors.hpp"
#include "framework/http_proxy.hpp"
#include "framework/offload.hpp"
#include "framework/pki.hpp"
#include "framework/tcp_stream.hpp"

#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/ecc.h>

namespace shadowlink {
namespace {

// AEAD suites only. Which comes first is measured (benchmarks/tls_ceiling): with AES-NI (the
// optimized wolfSSL build on a CPU that has it) AES-128-GCM is several times faster than
// ChaCha20-Poly1305; without it ChaCha20 is faster than wolfSSL's C AES.
constexpr const char* aes_first =
    "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:TLS13-CHACHA20-POLY1305-SHA256:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* chacha_first =
    "TLS13-CHACHA20-POLY1305-SHA256:TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:"
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384";

void restrict_protocols(ssl::context& ctx) {
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                  ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  if (wolfSSL_CTX_set_cipher_list(ctx.native_handle(), tls_cipher_preference()) != WOLFSSL_SUCCESS)
    throw std::runtime_error(std::string("wolfSSL rejected the cipher list ") + tls_cipher_preference());
}

[[noreturn]] void throw_tls(tls_socket& s, const error_code& ec, const std::string& what) {
  throw system_error(error_code(ec.value(), ec.category()), what + ": " + tls_failure_reason(s.native_handle(), ec));
}

bool is_ip(std::string_view host) {
  error_code ec;
  net::ip::make_address(std::string(host), ec);
  return !ec;
}

// A leaf whose extended key usage leaves out serverAuth (a device's client certificate, signed by
// the same installation CA) is no server's, whatever name it carries. Without the extension any
// use is allowed (the server certificates made here have none).
bool usable_by_a_server(WOLFSSL_X509* cert) {
  constexpr unsigned server_auth = 0x1, any_usage = 0x100;  // XKU_SSL_SERVER, XKU_ANYEKU
  const unsigned eku = wolfSSL_X509_get_extended_key_usage(cert);
  return eku == 0 || (eku & (server_auth | any_usage)) != 0;
}

bool names_host(WOLFSSL_X509* cert, std::string_view host) {
  if (!usable_by_a_server(cert)) return false;
  std::string h(host);
  return is_ip(host) ? wolfSSL_X509_check_ip_asc(cert, h.c_str(), 0) == WOLFSSL_SUCCESS
                     : wolfSSL_X509_check_host(cert, h.c_str(), h.size(), 0, nullptr) == WOLFSSL_SUCCESS;
}

// CA mode: the chain was verified in the handshake; the leaf must also name the host.
bool leaf_names_host(WOLFSSL* ssl, std::string_view host) {
  WOLFSSL_X509_CHAIN* chain = wolfSSL_get_peer_chain(ssl);
  if (!chain || wolfSSL_get_chain_count(chain) <= 0) return false;
  WOLFSSL_X509* leaf = wolfSSL_X509_d2i(nullptr, wolfSSL_get_chain_cert(chain, 0), wolfSSL_get_chain_length(chain, 0));
  const bool ok = leaf && names_host(leaf, host);
  wolfSSL_X509_free(leaf);
  return ok;
}

bool valid_now(WOLFSSL_X509* cert) {
  return wolfSSL_X509_cmp_current_time(wolfSSL_X509_get_notBefore(cert)) < 0 &&
         wolfSSL_X509_cmp_current_time(wolfSSL_X509_get_notAfter(cert)) > 0;
}

struct x509_ptr {
  WOLFSSL_X509* p;
  explicit x509_ptr(WOLFSSL_X509_CHAIN* chain, int i) : p(wolfSSL_X509_d2i(nullptr, wolfSSL_get_chain_cert(chain, i), wolfSSL_get_chain_length(chain, i))) {}
  x509_ptr(const x509_ptr&) = delete;
  x509_ptr& operator=(const x509_ptr&) = delete;
  ~x509_ptr() { wolfSSL_X509_free(p); }
};

// Pin mode: the server's leaf certificate matches the pin, or a CA certificate in the presented
// chain matches it and has signed the leaf; the leaf names the host; the certificates that the
// decision rests on are valid today (no CA store checked their dates). Null if accepted, else why not.
const char* pin_refusal(WOLFSSL* ssl, const std::string& pin, std::string_view host) {
  constexpr const char* mismatch = "certificate pin mismatch";
  constexpr const char* out_of_date = "the certificate has expired or is not valid yet";
  WOLFSSL_X509_CHAIN* chain = wolfSSL_get_peer_chain(ssl);
  int count = chain ? wolfSSL_get_chain_count(chain) : 0;
  if (count <= 0) return mismatch;
  auto fp = [&](int i) {
    return sha256_fingerprint(wolfSSL_get_chain_cert(chain, i), static_cast<std::size_t>(wolfSSL_get_chain_length(chain, i)));
  };
  x509_ptr leaf(chain, 0);
  if (!leaf.p) return mismatch;
  if (!usable_by_a_server(leaf.p)) return "the certificate is not a server's (its extended key usage)";
  if (fp(0) == pin) return valid_now(leaf.p) ? nullptr : out_of_date;
  for (int i = 1; i < count; ++i) {
    if (fp(i) != pin) continue;
    x509_ptr ca(chain, i);
    WOLFSSL_EVP_PKEY* key = ca.p ? wolfSSL_X509_get_pubkey(ca.p) : nullptr;
    const bool signed_by_pin = key && wolfSSL_X509_verify(leaf.p, key) == WOLFSSL_SUCCESS && names_host(leaf.p, host);
    wolfSSL_EVP_PKEY_free(key);
    if (!signed_by_pin) return mismatch;
    return valid_now(leaf.p) && valid_now(ca.p) ? nullptr : out_of_date;
  }
  return mismatch;
}

}  // namespace

bool tls_aes_in_hardware() {
#if defined(WOLFSSL_AESNI) && defined(__x86_64__)
  // wolfSSL's AES-NI code checks the CPU itself and falls back to C; the order must follow suit.
  static const bool yes = __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul");
  return yes;
#else
  return false;
#endif
}

const char* tls_cipher_preference() { return tls_aes_in_hardware() ? aes_first : chacha_first; }

namespace {

// wolfSSL's own loaders, not Asio's: those go through OpenSSL's X509 objects, which wolfSSL then
// keeps beside the DER it uses (about 20 KiB per context: each device agent has one). (Asio's way
// also made each extra certificate of the chain a CA trusted for client certificates; trust comes
// from the client CA alone now.)
void use_identity(ssl::context& ctx, const std::string& cert_chain_pem, const std::string& key_pem) {
  const auto* cert = reinterpret_cast<const unsigned char*>(cert_chain_pem.data());
  const auto* key = reinterpret_cast<const unsigned char*>(key_pem.data());
  if (wolfSSL_CTX_use_certificate_chain_buffer_format(ctx.native_handle(), cert, static_cast<long>(cert_chain_pem.size()),
                                                      WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS)
    throw std::runtime_error("the certificate (chain) is not a PEM certificate wolfSSL accepts");
  if (wolfSSL_CTX_use_PrivateKey_buffer(ctx.native_handle(), key, static_cast<long>(key_pem.size()), WOLFSSL_FILETYPE_PEM) !=
      WOLFSSL_SUCCESS)
    throw std::runtime_error("the private key is not a PEM key wolfSSL accepts");
  if (wolfSSL_CTX_check_private_key(ctx.native_handle()) != WOLFSSL_SUCCESS)
    throw std::runtime_error("the private key does not belong to the certificate");
}

}  // namespace

std::shared_ptr<ssl::context> make_server_tls(const std::string& cert_chain_pem, const std::string& key_pem,
                                              const std::string& client_ca_pem) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  restrict_protocols(*ctx);
  use_identity(*ctx, cert_chain_pem, key_pem);
  if (!client_ca_pem.empty()) {
    // verify_peer without fail_if_no_peer_cert: a certificate is asked for, not required.
    ctx->add_certificate_authority(net::buffer(client_ca_pem));
    ctx->set_verify_mode(ssl::verify_peer);
    // The request names the CA, so that a browser holding other client certificates offers none
    // of them (and asks its user nothing) instead of one that would fail the handshake.
    WOLFSSL_X509* ca = wolfSSL_X509_load_certificate_buffer(reinterpret_cast<const unsigned char*>(client_ca_pem.data()),
                                                            static_cast<int>(client_ca_pem.size()), WOLFSSL_FILETYPE_PEM);
    const bool named = ca && wolfSSL_CTX_add_client_CA(ctx->native_handle(), ca) == WOLFSSL_SUCCESS;
    wolfSSL_X509_free(ca);
    if (!named) throw std::runtime_error("cannot read the installation CA certificate for client certificates");
  }
  return ctx;
}

peer_certificate client_certificate(tls_socket& s) {
  WOLFSSL* ssl = s.native_handle();
  WOLFSSL_X509_CHAIN* chain = wolfSSL_get_peer_chain(ssl);
  if (!chain || wolfSSL_get_chain_count(chain) <= 0 || wolfSSL_get_verify_result(ssl) != X509_V_OK) return {};
  x509_ptr leaf(chain, 0);
  if (!leaf.p) return {};
  peer_certificate c;
  char cn[256] = {};
  if (wolfSSL_X509_NAME_get_text_by_NID(wolfSSL_X509_get_subject_name(leaf.p), NID_commonName, cn, sizeof cn) > 0)
    c.common_name = cn;
  c.fingerprint = sha256_fingerprint(wolfSSL_get_chain_cert(chain, 0), static_cast<std::size_t>(wolfSSL_get_chain_length(chain, 0)));
  return c;
}

client_trust make_trust(const std::string& ca_file, const std::string& pin) {
  client_trust t;
  if (!ca_file.empty()) t.ca_pem = read_file(ca_file);
  if (!pin.empty()) {
    t.pin_sha256 = normalize_fingerprint(pin);
    if (t.pin_sha256.empty()) throw std::runtime_error("pin must be a SHA-256 fingerprint (64 hex digits): " + pin);
  }
  if (t.empty()) throw std::runtime_error("no trust configured: give a CA file or a certificate fingerprint");
  return t;
}

tls_client::tls_client(client_trust trust)
    : trust_(std::move(trust)), ctx_(std::make_shared<ssl::context>(ssl::context::tls_client)) {
  restrict_protocols(*ctx_);
  ctx_->set_verify_mode(ssl::verify_peer);
  if (!trust_.ca_pem.empty()) ctx_->add_certificate_authority(net::buffer(trust_.ca_pem));
}

void tls_client::set_identity(const std::string& cert_pem, const std::string& key_pem) {
  use_identity(*ctx_, cert_pem, key_pem);
}

awaitable<std::unique_ptr<tls_socket>> connect_tls(tls_client& client, std::string_view host, std::string_view port,
                                                   clock::duration deadline) {
  using namespace net::experimental::awaitable_operators;
  auto started = clock::now();
  // What this connection needs of the client is taken now, before the first wait: the caller may
  // replace its client meanwhile (a device that got its certificate). wolfSSL counts the
  // context's users, so the connection keeps it alive once made.
  const auto ctx = client.shared_context();
  const client_trust trust = client.trust();
  const std::string proxy = client.proxy(), source = client.source_address();
  // (No co_await inside ?: — g++ 12 miscompiles it.)
  tcp::socket sock(co_await net::this_coro::executor);
  if (proxy.empty())
    sock = co_await connect_tcp(host, port, deadline, source);
  else
    sock = co_await connect_via_proxy(proxy, host, port, deadline);
  auto s = std::make_unique<tls_socket>(std::move(sock), *ctx);
  std::string h(host);
  if (!is_ip(host)) SSL_set_tlsext_host_name(s->native_handle(), h.c_str());
  const bool pinned = !trust.pin_sha256.empty();
  // With a pin alone, the chain is judged after the handshake (pin_refusal) instead of by a CA
  // store; with a CA file too, both must accept. The host name is checked after the handshake
  // unless the pin names the leaf itself. All of it comes before any application data.
  if (pinned && trust.ca_pem.empty())
    wolfSSL_set_verify(s->native_handle(), WOLFSSL_VERIFY_PEER, [](int, WOLFSSL_X509_STORE_CTX*) { return 1; });
  net::steady_timer timer(s->get_executor(), deadline - (clock::now() - started));
  auto r = co_await (s->async_handshake(ssl::stream_base::client, use_tuple) || timer.async_wait(use_awaitable));
  if (r.index() == 1) throw system_error(net::error::timed_out, "TLS handshake with " + h);
  if (auto [ec] = std::get<0>(r); ec) throw_tls(*s, ec, "TLS handshake with " + h);
  const char* refusal = nullptr;
  if (pinned)
    refusal = pin_refusal(s->native_handle(), trust.pin_sha256, host);
  else if (!leaf_names_host(s->native_handle(), host))  // (a pinned leaf is that very certificate)
    refusal = "the certificate does not name this host";
  if (refusal) {
    error_code ec;
    s->lowest_layer().close(ec);
    throw system_error(make_error_code(boost::system::errc::permission_denied), "TLS handshake with " + h + ": " + refusal);
  }
  co_return s;
}

std::string peer_key_fingerprint(tls_socket& s) {
  WOLFSSL_X509_CHAIN* chain = wolfSSL_get_peer_chain(s.native_handle());
  if (!chain || wolfSSL_get_chain_count(chain) <= 0) return {};
  try {
    return inspect_certificate(pki::der_to_pem(wolfSSL_get_chain_cert(chain, 0), wolfSSL_get_chain_length(chain, 0), CERT_TYPE))
        .key_fingerprint;
  } catch (const std::exception&) {
    return {};  // a certificate the handshake took but we cannot read: nothing is bound to its key
  }
}

awaitable<void> accept_tls(tls_socket& s, clock::duration deadline) {
  using namespace net::experimental::awaitable_operators;
  net::steady_timer timer(s.get_executor(), deadline);
  auto r = co_await (s.async_handshake(ssl::stream_base::server, use_tuple) || timer.async_wait(use_awaitable));
  if (r.index() == 1) throw system_error(net::error::timed_out, "TLS handshake");
  if (auto [ec] = std::get<0>(r); ec) throw_tls(s, ec, "TLS handshake");
}

namespace {
// wolfSSL keeps a cache of ECC points per thread (FP_ECC in Debian's build); a thread that ends
// (a listener's handshake pool, when the listener goes) must free its own.
struct ecc_cache_of_this_thread {
  void in_use() {}
  ~ecc_cache_of_this_thread() {
#ifdef FP_ECC
    wc_ecc_fp_free();
#endif
  }
};
}  // namespace

awaitable<void> accept_tls(tls_socket& s, clock::duration deadline, net::thread_pool& pool) {
  using namespace net::experimental::awaitable_operators;
  const auto until = clock::now() + deadline;
  net::steady_timer timer(s.get_executor(), deadline);
  auto wait = tcp::socket::wait_read;  // the client speaks first
  // (Named before the co_await: g++ 12 miscompiles lambdas created inside a co_await expression.)
  std::function<tls_socket::attempt()> step = [&s] {
    thread_local ecc_cache_of_this_thread cache;
    cache.in_use();
    yield_to_the_event_loop();  // nice 10: at 19, other busy processes starved handshakes past their deadline
    return s.try_handshake(ssl::stream_base::server);
  };
  for (;;) {
    auto r = co_await (s.next_layer().async_wait(wait, use_tuple) || timer.async_wait(use_awaitable));
    if (r.index() == 1) throw system_error(net::error::timed_out, "TLS handshake");
    if (auto [ec] = std::get<0>(r); ec) throw system_error(ec, "TLS handshake");
    const auto a = co_await offload(pool, step);
    if (a.ec) throw_tls(s, a.ec, "TLS handshake");
    if (a.wait == tls_socket::want::nothing) co_return;  // done, however long it took: the client is waiting
    // The deadline counts the time queued for the pool too (the timer above only races the socket).
    if (clock::now() >= until) throw system_error(net::error::timed_out, "TLS handshake");
    wait = a.wait == tls_socket::want::read ? tcp::socket::wait_read : tcp::socket::wait_write;
  }
}

namespace {
class tls_stream final : public stream {
 public:
  explicit tls_stream(std::unique_ptr<tls_socket> s) : s_(std::move(s)), peer_(endpoint_string(s_->next_layer())) {}
  awaitable<std::size_t> read_some(net::mutable_buffer b, error_code& ec) override {
    auto [e, n] = co_await s_->async_read_some(b, use_tuple);
    ec = e;
    co_return n;
  }
  awaitable<void> write(net::const_buffer b, error_code& ec) override {
    auto [e, n] = co_await net::async_write(*s_, b, use_tuple);
    (void)n;
    ec = e;
  }
  void interrupt(std::string_view) override {
    error_code ec;
    s_->next_layer().cancel(ec);
  }
  awaitable<void> close(std::string_view) override {
    co_await s_->async_shutdown(use_tuple);  // close_notify; the caller's deadline bounds the wait for the peer's
    abort();
  }
  void abort() noexcept override {
    error_code ec;
    s_->next_layer().close(ec);
  }
  std::string_view kind() const override { return "tls"; }
  const std::string& peer() const override { return peer_; }

 private:
  std::unique_ptr<tls_socket> s_;
  std::string peer_;
};
}  // namespace

stream_ptr make_tls_stream(std::unique_ptr<tls_socket> s) { return std::make_unique<tls_stream>(std::move(s)); }

}  // namespace shadowlink
