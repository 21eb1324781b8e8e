#include "framework/certs.hpp"
#include "framework/tls.hpp"
#include "support/async.hpp"

#include <catch2/catch.hpp>

#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>

#include <algorithm>

using namespace shadowlink;
using namespace shadowlink::testing;
using namespace net::experimental::awaitable_operators;

namespace {

struct device_identity {
  std::string key, cert;
};

device_identity enrolled(const std::string& ca_dir, const std::string& id) {
  device_identity d;
  d.key = make_private_key_pem();
  d.cert = sign_client_certificate(ca_dir, make_certificate_request(d.key, id), id, 30);
  return d;
}

// One handshake: the server asks for (does not require) a client certificate from `client_ca`;
// returns what it saw of the client ("none", "CN FINGERPRINT") or why the handshake failed.
awaitable<std::string> handshake(const identity& server, const std::string& client_ca, const device_identity* client_id) {
  auto ex = co_await net::this_coro::executor;
  tcp::acceptor acc(ex, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  auto ctx = make_server_tls(server.cert_chain_pem, server.key_pem, client_ca);
  tls_client client(client_trust{server.ca_pem, {}});
  if (client_id) client.set_identity(client_id->cert, client_id->key);
  auto serve = [&]() -> awaitable<std::string> {
    auto sock = co_await acc.async_accept(use_awaitable);
    tls_socket s(std::move(sock), *ctx);
    try {
      co_await accept_tls(s, 5s);
    } catch (const system_error& e) {
      co_return std::string("refused: ") + e.what();
    }
    auto c = client_certificate(s);
    co_return c.empty() ? std::string("none") : c.common_name + " " + c.fingerprint;
  };
  auto connect = [&]() -> awaitable<void> {
    try {
      auto s = co_await connect_tls(client, "127.0.0.1", std::to_string(acc.local_endpoint().port()), 5s);
      // TLS 1.3: the server judges the client's certificate after the client's handshake ends;
      // one read lets the server's verdict (an alert, or nothing) arrive.
      char b;
      net::steady_timer t(ex, 500ms);
      co_await (s->async_read_some(net::buffer(&b, 1), use_tuple) || t.async_wait(use_tuple));
    } catch (const system_error&) {
    }
  };
  auto seen = co_await (serve() && connect());
  co_return seen;
}

}  // namespace

TEST_CASE("a device certificate names the device, holds the device's own key and is signed by the installation CA") {
  auto dir = temp_dir();
  auto server = ensure_server_identity(dir + "/ums", dir, {"localhost"});
  auto d = enrolled(dir, "kiosk-7");
  auto info = inspect_certificate(d.cert);
  CHECK(info.common_name == "kiosk-7");
  CHECK(info.fingerprint == pem_fingerprint(d.cert));
  const auto days = std::chrono::duration_cast<std::chrono::hours>(info.not_after - std::chrono::system_clock::now()).count() / 24;
  CHECK((days >= 29 && days <= 30));
  CHECK(key_matches_certificate(d.key, d.cert));
  const auto other_key = make_private_key_pem();
  REQUIRE(other_key != d.key);
  CHECK_FALSE(key_matches_certificate(other_key, d.cert));
}

TEST_CASE("the certificate names whom the signer says, not what the request asks for") {
  auto dir = temp_dir();
  ensure_server_identity(dir + "/ums", dir, {"localhost"});
  const auto key = make_private_key_pem();
  auto cert = sign_client_certificate(dir, make_certificate_request(key, "someone-else"), "kiosk-7", 30);
  CHECK(inspect_certificate(cert).common_name == "kiosk-7");
}

TEST_CASE("a certificate request whose signature does not verify, or that is not one, is refused") {
  auto dir = temp_dir();
  ensure_server_identity(dir + "/ums", dir, {"localhost"});
  const auto key = make_private_key_pem();
  const auto csr = make_certificate_request(key, "kiosk-7");
  CHECK_NOTHROW(sign_client_certificate(dir, csr, "kiosk-7", 30));
  // The same request with its signed subject changed ("kiosk-7" to "kiosk-8" in the DER): it
  // still parses, and only its signature can tell.
  std::vector<unsigned char> der(csr.size());
  const int n = wc_CertPemToDer(reinterpret_cast<const unsigned char*>(csr.data()), static_cast<int>(csr.size()), der.data(),
                                static_cast<int>(der.size()), CERTREQ_TYPE);
  REQUIRE(n > 0);
  der.resize(static_cast<std::size_t>(n));
  const std::string name = "kiosk-7";
  auto at = std::search(der.begin(), der.end(), name.begin(), name.end());
  REQUIRE(at != der.end());
  at[6] = '8';
  std::string tampered(csr.size() + 64, '\0');
  const int m = wc_DerToPem(der.data(), static_cast<word32>(der.size()), reinterpret_cast<unsigned char*>(tampered.data()),
                            static_cast<word32>(tampered.size()), CERTREQ_TYPE);
  REQUIRE(m > 0);
  tampered.resize(static_cast<std::size_t>(m));
  REQUIRE(tampered != csr);
  CHECK_THROWS_WITH(sign_client_certificate(dir, tampered, "kiosk-7", 30), "the certificate request's signature does not verify");
  CHECK_THROWS_WITH(request_key_fingerprint(tampered), "the certificate request's signature does not verify");
  CHECK_THROWS_WITH(sign_client_certificate(dir, "hello", "kiosk-7", 30), "not a PEM certificate request");
}

TEST_CASE("a request's key fingerprint is its certificate's, the same across renewals with one key, and differs for another key") {
  auto dir = temp_dir();
  ensure_server_identity(dir + "/ums", dir, {"localhost"});
  const auto key = make_private_key_pem();
  const auto first = sign_client_certificate(dir, make_certificate_request(key, "kiosk-7"), "kiosk-7", 30);
  const auto renewed = sign_client_certificate(dir, make_certificate_request(key, "kiosk-7"), "kiosk-7", 30);
  REQUIRE(pem_fingerprint(first) != pem_fingerprint(renewed));
  CHECK(inspect_certificate(first).key_fingerprint == inspect_certificate(renewed).key_fingerprint);
  CHECK(request_key_fingerprint(make_certificate_request(key, "kiosk-7")) == inspect_certificate(first).key_fingerprint);
  CHECK(request_key_fingerprint(make_certificate_request(make_private_key_pem(), "kiosk-7")) != inspect_certificate(first).key_fingerprint);
}

TEST_CASE("a server that asks for client certificates sees the device's name and fingerprint, and nothing from a client without one") {
  run_async([]() -> awaitable<void> {
    auto dir = temp_dir();
    auto server = ensure_server_identity(dir + "/ums", dir, {"127.0.0.1"});
    auto d = enrolled(dir, "kiosk-7");
    const auto expected = "kiosk-7 " + pem_fingerprint(d.cert);
    const auto with_cert = co_await handshake(server, server.ca_pem, &d);
    CHECK(with_cert == expected);
    const auto without = co_await handshake(server, server.ca_pem, nullptr);
    CHECK(without == "none");
    // A server that does not ask sees nothing, certificate or not.
    const std::string no_client_ca;
    const auto not_asked = co_await handshake(server, no_client_ca, &d);
    CHECK(not_asked == "none");
  });
}

TEST_CASE("a client certificate from another CA fails the handshake instead of being ignored") {
  run_async([]() -> awaitable<void> {
    auto dir = temp_dir();
    auto server = ensure_server_identity(dir + "/ums", dir + "/ca", {"127.0.0.1"});
    ensure_server_identity(dir + "/rogue", dir + "/rogue-ca", {"127.0.0.1"});
    auto forged = enrolled(dir + "/rogue-ca", "kiosk-7");
    auto genuine = enrolled(dir + "/ca", "kiosk-7");
    REQUIRE(pem_fingerprint(forged.cert) != pem_fingerprint(genuine.cert));
    const auto refused = co_await handshake(server, server.ca_pem, &forged);
    CHECK_THAT(refused, Catch::StartsWith("refused: "));
    const auto expected = "kiosk-7 " + pem_fingerprint(genuine.cert);
    const auto accepted = co_await handshake(server, server.ca_pem, &genuine);
    CHECK(accepted == expected);
  });
}
