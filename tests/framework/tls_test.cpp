#include "framework/certs.hpp"
#include "framework/errors.hpp"
#include "framework/meeting_point.hpp"
#include "framework/splice.hpp"
#include "framework/tls.hpp"
#include "support/async.hpp"

#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/websocket/error.hpp>
#include <wolfssl/ssl.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sys/wait.h>

using namespace shadowlink;
using namespace shadowlink::testing;
using namespace net::experimental::awaitable_operators;

namespace {
// A one-shot TLS server on 127.0.0.1 that completes the handshake and returns what it saw.
struct one_shot_server {
  one_shot_server(const net::any_io_executor& ex, const identity& id)
      : acc(ex, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)), ctx(make_server_tls(id.cert_chain_pem, id.key_pem)) {}
  tcp::acceptor acc;
  std::shared_ptr<ssl::context> ctx;
  std::string port() const { return std::to_string(acc.local_endpoint().port()); }
  awaitable<std::string> serve() {
    auto sock = co_await acc.async_accept(use_awaitable);
    tls_socket s(std::move(sock), *ctx);
    try {
      co_await accept_tls(s, 5s);
    } catch (const system_error& e) {
      co_return std::string("refused: ") + e.what();
    }
    co_return std::string(SSL_get_version(s.native_handle()));
  }
};


awaitable<std::string> try_connect(const client_trust& trust, const std::string& host, const identity& id) {
  one_shot_server srv(co_await net::this_coro::executor, id);
  tls_client client(trust);
  auto attempt = [&]() -> awaitable<std::string> {
    try {
      auto s = co_await connect_tls(client, host, srv.port(), 5s);
      co_return std::string("connected ") + SSL_get_version(s->native_handle()) + " " +
          SSL_CIPHER_get_name(SSL_get_current_cipher(s->native_handle()));
    } catch (const system_error& e) {
      co_return std::string("failed: ") + e.what();
    }
  };
  auto [client_saw, server_saw] = co_await (attempt() && srv.serve());
  (void)server_saw;
  co_return client_saw;
}
}  // namespace

TEST_CASE("a client that trusts the installation CA completes a TLS 1.3 handshake with the generated certificate") {
  run_async([]() -> awaitable<void> {
    const client_trust trust1{test_identity().ca_pem, {}};
    const std::string host1 = "127.0.0.1";
    auto r = co_await try_connect(trust1, host1, test_identity());
    CHECK(r == std::string("connected TLSv1.3 ") +
                   (tls_aes_in_hardware() ? "TLS13-AES128-GCM-SHA256" : "TLS13-CHACHA20-POLY1305-SHA256"));
  });
}

TEST_CASE("the cipher order puts AES-128-GCM first exactly when AES runs in hardware, and offers only AEAD suites") {
  const std::string order = tls_cipher_preference();
  const std::string first = order.substr(0, order.find(':'));
  CHECK(first == (tls_aes_in_hardware() ? "TLS13-AES128-GCM-SHA256" : "TLS13-CHACHA20-POLY1305-SHA256"));
  for (std::size_t at = 0; at < order.size();) {
    const auto end = std::min(order.find(':', at), order.size());
    const std::string suite = order.substr(at, end - at);
    CHECK((suite.find("GCM") != std::string::npos || suite.find("CHACHA20-POLY1305") != std::string::npos));
    at = end + 1;
  }
#if defined(WOLFSSL_AESNI) && defined(__x86_64__)
  // The optimized build on a CPU with AES-NI (every x86-64 server of the last decade) must use it.
  if (__builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul")) CHECK(tls_aes_in_hardware());
#else
  CHECK_FALSE(tls_aes_in_hardware());
#endif
}

TEST_CASE("a certificate that does not name the host is rejected even when the CA is trusted") {
  run_async([]() -> awaitable<void> {
    // A certificate from the same CA that names only another host.
    auto dir = temp_dir();
    auto ca_dir = dir + "/ca";
    ensure_server_identity(dir + "/a", ca_dir, {"127.0.0.1"});
    auto other = ensure_server_identity(dir + "/b", ca_dir, {"other.example"});
    const client_trust trust2{other.ca_pem, {}};
    const std::string host2 = "127.0.0.1";
    auto r = co_await try_connect(trust2, host2, other);
    CHECK_THAT(r, Catch::StartsWith("failed: "));
  });
}

TEST_CASE("a client that trusts another CA rejects the server with wolfSSL's reason") {
  run_async([]() -> awaitable<void> {
    auto dir = temp_dir();
    auto other = ensure_server_identity(dir + "/s", dir + "/ca", {"127.0.0.1"});
    const client_trust trust3{other.ca_pem, {}};
    const std::string host3 = "127.0.0.1";
    auto r = co_await try_connect(trust3, host3, test_identity());
    CHECK_THAT(r, Catch::StartsWith("failed: TLS handshake with 127.0.0.1"));
    CHECK_THAT(r, Catch::Contains("ASN sig error"));  // wolfSSL's own reason, not just "unexpected result"
  });
}

TEST_CASE("pinning the server's or the CA's SHA-256 fingerprint is accepted") {
  run_async([]() -> awaitable<void> {
    const client_trust trust4{{}, test_identity().server_fingerprint};
    const std::string host4 = "127.0.0.1";
    CHECK_THAT(co_await try_connect(trust4, host4, test_identity()), Catch::StartsWith("connected"));
    const client_trust trust5{{}, test_identity().ca_fingerprint};
    const std::string host5 = "127.0.0.1";
    CHECK_THAT(co_await try_connect(trust5, host5, test_identity()), Catch::StartsWith("connected"));
  });
}

TEST_CASE("a wrong pinned fingerprint is rejected") {
  run_async([]() -> awaitable<void> {
    auto wrong = std::string(64, 'a');
    const client_trust trust6{{}, wrong};
    const std::string host6 = "127.0.0.1";
    auto r = co_await try_connect(trust6, host6, test_identity());
    CHECK_THAT(r, Catch::StartsWith("failed: TLS handshake with 127.0.0.1: certificate pin mismatch"));
  });
}

TEST_CASE("first run creates the installation CA and server certificate with private keys readable only by the owner") {
  auto dir = temp_dir();
  auto id = ensure_server_identity(dir + "/ums", dir, {"localhost"});
  CHECK(id.created);
  struct stat st{};
  REQUIRE(stat((dir + "/ca.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(stat((dir + "/ums/server.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  // A second server (a gateway) is signed by the same CA; a restart reuses what exists.
  auto icg = ensure_server_identity(dir + "/icg", dir, {"localhost"});
  CHECK(icg.ca_fingerprint == id.ca_fingerprint);
  CHECK(icg.server_fingerprint != id.server_fingerprint);
  auto again = ensure_server_identity(dir + "/ums", dir, {"localhost"});
  CHECK_FALSE(again.created);
  CHECK(again.server_fingerprint == id.server_fingerprint);
}

TEST_CASE("two servers starting at once on a fresh data directory end up with one installation CA") {
  // Two processes, as two services started together would be.
  auto dir = temp_dir();
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    std::string fp;
    try {
      fp = ensure_server_identity(dir + "/icg", dir, {"localhost"}).ca_fingerprint;
    } catch (...) {
    }
    auto n = ::write(pipe_fds[1], fp.data(), fp.size());
    ::_exit(n == static_cast<ssize_t>(fp.size()) && !fp.empty() ? 0 : 1);
  }
  ::close(pipe_fds[1]);
  auto mine = ensure_server_identity(dir + "/ums", dir, {"localhost"});
  std::string theirs(64, '\0');
  auto got = ::read(pipe_fds[0], theirs.data(), theirs.size());
  ::close(pipe_fds[0]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  REQUIRE(got == 64);
  CHECK(mine.ca_fingerprint == theirs);
  CHECK(mine.ca_fingerprint == pem_fingerprint(read_file(dir + "/ca.pem")));
  CHECK(pem_fingerprint(read_file(dir + "/icg/server.pem").substr(read_file(dir + "/icg/server.pem").find("-----END CERTIFICATE-----") + 26)) ==
        mine.ca_fingerprint);  // the other server's chain ends with the one CA on disk
}

TEST_CASE("a CA certificate without its key (or the reverse) stops start-up with an error naming both files") {
  auto dir = temp_dir();
  auto first = ensure_server_identity(dir + "/ums", dir, {"localhost"});
  std::filesystem::remove(dir + "/ca.key");
  std::filesystem::remove_all(dir + "/icg");
  CHECK_THROWS_WITH(ensure_server_identity(dir + "/icg", dir, {"localhost"}),
                    dir + "/ca.pem exists without " + dir + "/ca.key: restore the missing file, or remove both to create a new installation CA");
  CHECK(pem_fingerprint(read_file(dir + "/ca.pem")) == first.ca_fingerprint);  // the old CA is untouched
  auto dir2 = temp_dir();
  ensure_server_identity(dir2 + "/ums", dir2, {"localhost"});
  std::filesystem::remove(dir2 + "/ca.pem");
  CHECK_THROWS_WITH(ensure_server_identity(dir2 + "/icg", dir2, {"localhost"}), Catch::StartsWith(dir2 + "/ca.key exists without " + dir2 + "/ca.pem"));
}

TEST_CASE("a key file is never written through a link someone planted at its name") {
  auto dir = temp_dir();
  const std::string victim = dir + "/victim";
  { std::ofstream(victim) << "precious"; }
  std::filesystem::create_directories(dir + "/ums");
  // A dangling link where the key will go (so the key counts as missing and is created), and a
  // link to the victim where this process writes its temporary file.
  std::filesystem::create_symlink(dir + "/nowhere", dir + "/ums/server.key");
  std::filesystem::create_symlink(victim, dir + "/ums/server.pem.tmp-" + std::to_string(::getpid()));
  ensure_server_identity(dir + "/ums", dir, {"localhost"});
  CHECK(read_file(victim) == "precious");
  CHECK_FALSE(std::filesystem::exists(dir + "/nowhere"));
  CHECK_FALSE(std::filesystem::is_symlink(dir + "/ums/server.key"));
  struct stat st{};
  REQUIRE(stat((dir + "/ums/server.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(S_ISREG(st.st_mode));
}

namespace {
identity expired_identity() {
  const std::string dir = SHADOWLINK_TEST_DATA;
  identity id;
  id.cert_chain_pem = read_file(dir + "/expired-chain.pem");
  id.key_pem = read_file(dir + "/expired.key");
  id.ca_pem = read_file(dir + "/expired-ca.pem");
  id.server_fingerprint = pem_fingerprint(id.cert_chain_pem);
  id.ca_fingerprint = pem_fingerprint(id.ca_pem);
  return id;
}
}  // namespace

TEST_CASE("an expired server certificate is refused when its CA is trusted") {
  run_async([]() -> awaitable<void> {
    auto id = expired_identity();
    const client_trust trust{id.ca_pem, {}};
    const std::string host = "127.0.0.1";
    auto r = co_await try_connect(trust, host, id);
    CHECK_THAT(r, Catch::StartsWith("failed: TLS handshake with 127.0.0.1"));
    CHECK_THAT(r, Catch::Contains("date"));  // wolfSSL's reason names the validity dates
  });
}

TEST_CASE("an expired server certificate is refused in pin mode, pinned by its own or by its CA's fingerprint") {
  run_async([]() -> awaitable<void> {
    auto id = expired_identity();
    const std::string host = "127.0.0.1";
    const client_trust leaf_pin{{}, id.server_fingerprint};
    CHECK_THAT(co_await try_connect(leaf_pin, host, id), Catch::StartsWith("failed: TLS handshake with 127.0.0.1: the certificate has expired or is not valid yet"));
    const client_trust ca_pin{{}, id.ca_fingerprint};
    CHECK_THAT(co_await try_connect(ca_pin, host, id), Catch::StartsWith("failed: TLS handshake with 127.0.0.1: the certificate has expired or is not valid yet"));
  });
}

TEST_CASE("with both a CA file and a pin, both are enforced") {
  run_async([]() -> awaitable<void> {
    const std::string host = "127.0.0.1";
    const auto& genuine = test_identity();
    // Positive control: the right CA and the right pin.
    const client_trust both{genuine.ca_pem, genuine.server_fingerprint};
    CHECK_THAT(co_await try_connect(both, host, genuine), Catch::StartsWith("connected"));
    // The right pin with a CA that did not sign the server: the CA check must still refuse.
    const auto other_ca = expired_identity().ca_pem;
    REQUIRE(pem_fingerprint(other_ca) != genuine.ca_fingerprint);
    const client_trust wrong_ca{other_ca, genuine.server_fingerprint};
    CHECK_THAT(co_await try_connect(wrong_ca, host, genuine), Catch::StartsWith("failed: TLS handshake with 127.0.0.1"));
    // The right CA with a wrong pin: the pin must still refuse.
    std::string wrong_pin = genuine.server_fingerprint;
    wrong_pin[0] = wrong_pin[0] == 'a' ? 'b' : 'a';
    REQUIRE(wrong_pin != genuine.server_fingerprint);
    const client_trust wrong_pin_trust{genuine.ca_pem, wrong_pin};
    CHECK_THAT(co_await try_connect(wrong_pin_trust, host, genuine), Catch::StartsWith("failed: TLS handshake with 127.0.0.1: certificate pin mismatch"));
  });
}

TEST_CASE("fingerprints are accepted with or without colons and rejected when malformed") {
  auto fp = test_identity().ca_fingerprint;
  std::string colons;
  for (std::size_t i = 0; i < fp.size(); i += 2) {
    if (i > 0) colons += ':';
    colons += fp.substr(i, 2);
  }
  CHECK(normalize_fingerprint(colons) == fp);
  CHECK(normalize_fingerprint("zz") == "");
  CHECK_THROWS_WITH(make_trust("", "12:34"), Catch::Contains("SHA-256 fingerprint"));
  CHECK_THROWS_WITH(make_trust("", ""), Catch::Contains("no trust configured"));
}

TEST_CASE("one classifier tells normal endings from failures") {
  namespace ws = boost::beast::websocket;
  CHECK(is_normal_end(error_code{}));
  CHECK(is_normal_end(net::error::eof));
  CHECK(is_normal_end(net::error::connection_reset));
  CHECK(is_normal_end(net::error::operation_aborted));
  CHECK(is_normal_end(error_code(ws::error::closed)));
  CHECK(is_normal_end(error_code(net::ssl::error::stream_truncated)));
  CHECK_FALSE(is_normal_end(net::error::host_not_found));
  CHECK_FALSE(is_normal_end(net::error::access_denied));
  CHECK_FALSE(is_normal_end(make_error_code(boost::system::errc::protocol_error)));
}

namespace {
// What the server's TLS stream reads after the client sent one byte and then ended as `end` says.
awaitable<error_code> ending_seen_by_server(bool with_close_notify) {
  auto ex = co_await net::this_coro::executor;
  tcp::acceptor acc(ex, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  auto ctx = make_server_tls(test_identity().cert_chain_pem, test_identity().key_pem);
  tls_client client(client_trust{test_identity().ca_pem, {}});
  bool server_done = false;
  auto server_side = [&]() -> awaitable<error_code> {
    auto sock = co_await acc.async_accept(use_awaitable);
    auto s = std::make_unique<tls_socket>(std::move(sock), *ctx);
    co_await accept_tls(*s, 5s);
    auto st = make_tls_stream(std::move(s));
    char buf[16];
    error_code ec;
    auto n = co_await st->read_some(net::buffer(buf), ec);
    REQUIRE(n == 1);
    REQUIRE(!ec);
    co_await st->read_some(net::buffer(buf), ec);
    server_done = true;
    co_return ec;
  };
  auto client_side = [&]() -> awaitable<void> {
    auto s = co_await connect_tls(client, "127.0.0.1", std::to_string(acc.local_endpoint().port()), 5s);
    if (with_close_notify) {
      auto st = make_tls_stream(std::move(s));
      error_code ec;
      co_await st->write(net::buffer("x", 1), ec);
      co_await close_stream(*st, "bye");
    } else {
      co_await net::async_write(*s, net::buffer("x", 1), use_awaitable);
      s->lowest_layer().shutdown(tcp::socket::shutdown_send);  // a TCP FIN, no close_notify
      // Open until the server has seen it: closing with unread data would send a reset instead.
      for (int i = 0; i < 500 && !server_done; ++i) co_await sleep_for(10ms);
    }
  };
  co_return co_await (server_side() && client_side());
}
}  // namespace

TEST_CASE("a TLS peer that leaves without close_notify is told apart from one that closes properly") {
  run_async([]() -> awaitable<void> {
    auto truncated = co_await ending_seen_by_server(false);
    CHECK(truncated == net::ssl::error::stream_truncated);
    CHECK(is_normal_end(truncated));  // a vanished peer is not our failure...
    CHECK_FALSE(is_tls_failure(truncated));
    auto clean = co_await ending_seen_by_server(true);
    CHECK(clean == net::error::eof);  // ...and a proper close reads differently
    CHECK(clean != truncated);
    // In a splice's words.
    CHECK(splice_end{splice_end::kind::truncated, false, {}}.words("viewer", "device") == "device closed without TLS close_notify");
    CHECK(splice_end{splice_end::kind::reset, true, {}}.words("viewer", "device") == "viewer closed (connection reset)");
  });
}

TEST_CASE("TLS protocol errors are failures, not normal endings") {
  const error_code bad_mac(-308 /* wolfSSL VERIFY_MAC_ERROR */, net::error::get_ssl_category());
  CHECK_FALSE(is_normal_end(bad_mac));
  CHECK(is_tls_failure(bad_mac));
  CHECK(splice_end{splice_end::kind::failed, true, "bad record MAC"}.words("viewer", "device") == "viewer failed: bad record MAC");
}

TEST_CASE("a device's client certificate signed by the pinned CA is no server's: a client pinning the CA refuses it") {
  run_async([]() -> awaitable<void> {
    auto dir = temp_dir();
    auto genuine = ensure_server_identity(dir + "/ums", dir, {"127.0.0.1"});
    // A "server" presenting a device certificate whose name is the host, with the genuine CA after it.
    const auto key = make_private_key_pem();
    const auto device_cert = sign_client_certificate(dir, make_certificate_request(key, "127.0.0.1"), "127.0.0.1", 30);
    identity impostor;
    impostor.cert_chain_pem = device_cert + genuine.ca_pem;
    impostor.key_pem = key;
    const client_trust pin_ca{{}, genuine.ca_fingerprint};
    const std::string host = "127.0.0.1";
    auto refused = co_await try_connect(pin_ca, host, impostor);
    CHECK_THAT(refused, Catch::Contains("not a server's"));
    auto accepted = co_await try_connect(pin_ca, host, genuine);
    CHECK_THAT(accepted, Catch::StartsWith("connected"));
  });
}
