// A gateway that has only the installation CA's certificate (its key stays with the UMS) starts
// with a self-signed certificate of its own key; the UMS, trusting that certificate's fingerprint
// only to pair, signs the gateway's key; from then on devices and consoles that trust the CA reach
// the gateway, and the CA's key was never on it (SECURITY.md, "The gateway's certificate").
#include "framework/certs.hpp"
#include "framework/meeting_point.hpp"
#include "framework/token.hpp"
#include "services/flow_checks.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

using namespace shadowlink;
using namespace shadowlink::testing;
namespace fs = std::filesystem;

namespace {

// A TLS handshake with the gateway by a client that trusts the installation CA: "ok" or why not.
awaitable<std::string> reach(tls_client& tls, std::uint16_t port) {
  try {
    auto s = co_await connect_tls(tls, "127.0.0.2", std::to_string(port), 5s);
    co_return std::string("ok");
  } catch (const std::exception& e) {
    co_return std::string(e.what());
  }
}

std::string ums_with_gateway(const std::string& name, std::uint16_t gw_port, const std::string& pair_pin) {
  return R"({"type": "ums", "name": ")" + name + R"(", "settings": {"port": 0,
    "api_tokens": [{"token_sha256": ")" + sha256_hex(service_stack::api_token) + R"(", "user": "automation"}],
    "devices": [)" + service_stack::device_entry("remote") + "], " +
         service_stack::gateway_settings(gw_port, "127.0.0.2", R"("pair_pin": ")" + pair_pin + "\"") + "}}";
}

}  // namespace

TEST_CASE("a gateway without the CA's key pairs with the UMS that pins its self-signed certificate, and is then trusted through the CA, and a wrong pin pairs nothing") {
  service_stack st;
  st.run([&]() -> awaitable<void> {
    // The installation CA (and the UMS's certificate) as the UMS makes them; the gateway (at its own
    // address: a gateway certificate never names the UMS) gets a copy of the CA's certificate only.
    ensure_server_identity(st.dir() + "/ums", st.dir(), {"localhost", "127.0.0.1"});
    fs::create_directories(st.dir() + "/gw-ca");
    fs::copy_file(st.dir() + "/ca.pem", st.dir() + "/gw-ca/ca.pem");
    const auto gw_port = st.start_gateway(R"("listen": "127.0.0.2", "names": ["127.0.0.2"], "ca_dir": ")" + st.dir() + R"(/gw-ca")");
    CHECK_FALSE(fs::exists(st.dir() + "/gw-ca/ca.key"));
    const auto bootstrap_fp = pem_fingerprint(read_file(st.dir() + "/icg/bootstrap.pem"));
    tls_client ca_trust(make_trust(st.ca_file(), ""));
    const auto before = co_await reach(ca_trust, gw_port);
    CHECK(before != "ok");  // self-signed: nobody trusting the CA takes it yet

    // A UMS pinning another fingerprint does not pair.
    const auto wrong_pin = std::string(64, 'a');
    REQUIRE(wrong_pin != bootstrap_fp);
    st.start("[" + ums_with_gateway("ums-wrong", gw_port, wrong_pin) + "]");
    co_await sleep_for(1500ms);
    CHECK_FALSE(fs::exists(st.dir() + "/icg/server.pem"));
    const auto still = co_await reach(ca_trust, gw_port);
    CHECK(still != "ok");
    st.stop_service("ums-wrong");

    // The UMS that pins the gateway's bootstrap certificate pairs it.
    const auto port = st.start("[" + ums_with_gateway("ums", gw_port, bootstrap_fp) + "]");
    st.console(port);
    for (auto until = clock::now() + 10s; !fs::exists(st.dir() + "/icg/server.pem") && clock::now() < until;) co_await sleep_for(50ms);
    REQUIRE(fs::exists(st.dir() + "/icg/server.pem"));
    const auto signed_cert = read_file(st.dir() + "/icg/server.pem");
    CHECK(signed_by(signed_cert, read_file(st.ca_file())));
    CHECK(key_matches_certificate(read_file(st.dir() + "/icg/server.key"), signed_cert));
    const auto after = co_await reach(ca_trust, gw_port);
    CHECK(after == "ok");
    // A device that trusts the CA comes online through the paired gateway.
    st.start("[" + st.agent("remote", "wss://127.0.0.2:" + std::to_string(gw_port) + "/up", R"("enroll": false)") + "]");
    co_await st.wait_online("remote", 15s);
    CHECK_FALSE(fs::exists(st.dir() + "/gw-ca/ca.key"));  // the CA's key never went to the gateway
  }, 60s);
}
