// Device certificates, in process: a device enrolls over the link its credential opened (directly
// and through a gateway), comes back with its certificate alone, and a revoked, foreign or
// other device's certificate opens nothing (SECURITY.md, "Device identity").
#include "framework/certs.hpp"
#include "framework/meeting_point.hpp"
#include "framework/token.hpp"
#include "services/flow_checks.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

using namespace shadowlink;
using namespace shadowlink::testing;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

// The UMS's entry for `device` in GET /api/v1/devices.
awaitable<json::object> device_of(service_stack& st, std::string device) {
  auto list = co_await st.get("/api/v1/devices");
  for (auto& d : list.at("devices").as_array())
    if (d.at("id").as_string() == device) co_return d.as_object();
  throw std::runtime_error("no device " + device);
}

// Until the device is online and authenticated by `how` ("certificate" or "credential").
awaitable<json::object> wait_authenticated(service_stack& st, std::string device, std::string how, clock::duration limit) {
  const auto until = clock::now() + limit;
  for (;;) {
    auto d = co_await device_of(st, device);
    if (d.at("online").as_bool() && text(d, "authenticated_by") == how) co_return d;
    if (clock::now() > until) throw std::runtime_error("device " + device + " not online by " + how + ": " + json::serialize(d));
    co_await sleep_for(50ms);
  }
}

// Until `file` exists; its text.
awaitable<std::string> wait_file(std::string file, clock::duration limit) {
  const auto until = clock::now() + limit;
  while (!fs::exists(file)) {
    if (clock::now() > until) throw std::runtime_error(file + " never appeared");
    co_await sleep_for(50ms);
  }
  co_return read_file(file);
}

std::string certificate_on_record(const json::object& device) {
  auto it = device.find("certificate");
  return it == device.end() ? "<none>" : text(it->value().as_object(), "fingerprint");
}

// An agent for `device` named `name`, with the key and certificate `enrolled_name`'s agent got
// (copied into its own data directory) and without a credential unless `credential` is set.
std::string agent_named(service_stack& st, const std::string& name, const std::string& device, const std::string& server_url,
                        const std::string& extra, bool credential) {
  return R"({"type": "device", "name": ")" + name + R"(", "settings": {"device_id": ")" + device + R"(", "demo": true, )" +
         (credential ? R"("credential": ")" + service_stack::credential_of(device) + R"(", )" : std::string()) + R"("servers": [")" +
         server_url + R"("], "ca_file": ")" + st.ca_file() + R"(", "reconnect_min_ms": 100, "reconnect_max_ms": 500, )" + extra + "}}";
}

std::string agent_with_certificate(service_stack& st, const std::string& name, const std::string& device, const std::string& enrolled_name,
                                   const std::string& server_url, const std::string& extra, bool credential) {
  fs::create_directories(st.dir() + "/" + name);
  for (const char* f : {"device.key", "device.pem"})
    fs::copy_file(st.dir() + "/" + enrolled_name + "/" + f, st.dir() + "/" + name + "/" + f, fs::copy_options::overwrite_existing);
  return agent_named(st, name, device, server_url, extra, credential);
}

// A client presenting `cert_pem` (with `key_pem`) that says hello as `device` with no credential:
// the refusal's words, empty if welcomed, or "handshake failed: ..." if TLS did not let it in.
awaitable<std::string> hello_with_certificate(service_stack& st, std::uint16_t port, std::string device, std::string cert_pem,
                                              std::string key_pem) {
  tls_client tls(make_trust(st.ca_file(), ""));
  tls.set_identity(cert_pem, key_pem);
  scripted_device d;
  try {
    const std::string no_credential;
    auto answer = co_await d.hello_with(st.tasks(), tls, port, device, no_credential);
    d.leave();
    co_return answer;
  } catch (const std::exception& e) {
    co_return std::string("handshake failed: ") + e.what();
  }
}

}  // namespace

TEST_CASE("a device enrolls over the link its credential opened and comes back with its certificate alone, and another device's or another CA's certificate opens nothing") {
  service_stack st;
  xvnc vnc;
  st.run([&]() -> awaitable<void> {
    co_await vnc.start(st.dir(), "#ff0000");
    const auto port = st.start("[" + st.ums(service_stack::device_entry("tc-1") + "," + service_stack::device_entry("tc-2")) + "]");
    st.start("[" + st.agent("tc-1", up_url(port), socket_of(vnc)) + "," + st.agent("tc-2", up_url(port), socket_of(vnc)) + "]");
    st.console(port);
    const auto cert = co_await wait_file(st.dir() + "/tc-1/device.pem", 10s);
    const auto cert2 = co_await wait_file(st.dir() + "/tc-2/device.pem", 10s);
    const auto key = read_file(st.dir() + "/tc-1/device.key");
    CHECK(inspect_certificate(cert).common_name == "tc-1");
    CHECK(key_matches_certificate(key, cert));
    CHECK(fs::status(st.dir() + "/tc-1/device.key").permissions() == (fs::perms::owner_read | fs::perms::owner_write));
    auto first = co_await device_of(st, "tc-1");
    CHECK(text(first, "authenticated_by") == "credential");  // until it reconnects
    CHECK(certificate_on_record(first) == pem_fingerprint(cert));

    // The same device from a fresh agent that has only the key and certificate.
    st.stop_service("tc-1");
    st.start("[" + agent_with_certificate(st, "tc-1-again", "tc-1", "tc-1", up_url(port), socket_of(vnc), false) + "]");
    auto again = co_await wait_authenticated(st, "tc-1", "certificate", 10s);
    CHECK(text(again, "authenticated_by") == "certificate");
    tls_client tls(make_trust(st.ca_file(), ""));
    const auto fb = co_await capture_session(st, tls, "tc-1");
    CHECK(pixel(fb, 10, 10) == red);

    // tc-2's genuine certificate does not make anyone tc-1; its own device is let in with it (positive control).
    const auto key2 = read_file(st.dir() + "/tc-2/device.key");
    REQUIRE(pem_fingerprint(cert2) != pem_fingerprint(cert));
    const auto other_device = co_await hello_with_certificate(st, port, "tc-1", cert2, key2);
    CHECK(other_device == up::certificate_not_accepted);
    // A certificate for tc-1 from another CA fails the TLS handshake.
    const auto rogue_ca = st.dir() + "/rogue-ca";
    ensure_server_identity(st.dir() + "/rogue", rogue_ca, {"127.0.0.1"});
    const auto rogue_key = make_private_key_pem();
    const auto rogue = sign_client_certificate(rogue_ca, make_certificate_request(rogue_key, "tc-1"), "tc-1", 30);
    REQUIRE(inspect_certificate(rogue).common_name == "tc-1");
    const auto other_ca = co_await hello_with_certificate(st, port, "tc-1", rogue, rogue_key);
    CHECK_THAT(other_ca, Catch::StartsWith("handshake failed: "));
    // A link tc-2's certificate opened renews that certificate's key and gets nothing for another
    // key: knowing a certificate is not holding its key.
    st.stop_service("tc-2");
    tls_client t2(make_trust(st.ca_file(), ""));
    t2.set_identity(cert2, key2);
    scripted_device d2;
    const std::string no_credential;
    const auto welcomed = co_await d2.hello_with(st.tasks(), t2, port, "tc-2", no_credential);
    REQUIRE(welcomed.empty());
    up::message ask;
    ask.type = up::kind::certificate_request;
    ask.csr = make_certificate_request(make_private_key_pem(), "tc-2");
    d2.send(ask);
    const auto other_key = co_await d2.next(up::kind::error, 5s);
    CHECK_THAT(other_key.reason, Catch::Contains("renews only that certificate's key"));
    ask.csr = make_certificate_request(key2, "tc-2");
    d2.send(ask);
    const auto same_key = co_await d2.next(up::kind::error, 5s);  // past the key check: only the rate limit stops it
    CHECK_THAT(same_key.reason, Catch::Contains("less than a minute ago"));
    d2.leave();
    // The genuine tc-1 was never displaced.
    auto still = co_await device_of(st, "tc-1");
    CHECK(still.at("online").as_bool());
    CHECK(text(still, "authenticated_by") == "certificate");
    CHECK(text(still, "peer") == text(again, "peer"));
    co_await vnc.stop();
  }, 60s);
}

TEST_CASE("a revoked device certificate loses its link at once and opens nothing again, the device does not fall back to its credential on the server's word, and enrolls anew once its certificate is moved away") {
  service_stack st;
  st.run([&]() -> awaitable<void> {
    const auto port = st.start("[" + st.ums(service_stack::device_entry("tc-1")) + "]");
    st.start("[" + st.agent("tc-1", up_url(port), "") + "]");
    st.console(port);
    const auto cert = co_await wait_file(st.dir() + "/tc-1/device.pem", 10s);
    const auto key = read_file(st.dir() + "/tc-1/device.key");
    st.stop_service("tc-1");
    // With its credential too: a revoked certificate sends it back to enrolling.
    st.start("[" + agent_with_certificate(st, "tc-1b", "tc-1", "tc-1", up_url(port), R"("heartbeat_s": 5)", true) + "]");
    co_await wait_authenticated(st, "tc-1", "certificate", 10s);
    const auto old_fp = pem_fingerprint(cert);

    auto& c = st.console(port);
    auto none = co_await c.call(http::verb::delete_, "/api/v1/devices/no-such-device/certificate", "");
    CHECK(none.result() == http::status::not_found);
    auto revoked = co_await c.call(http::verb::delete_, "/api/v1/devices/tc-1/certificate", "");
    REQUIRE(revoked.result() == http::status::ok);
    CHECK(json::parse(revoked.body()).at("revoked").as_string() == old_fp);
    // The device holds its credential, but a refusal is only a server's word (a compromised gateway
    // could claim one to learn the credential): it stays out, presenting its certificate.
    co_await sleep_for(1500ms);  // several reconnects, 100-500 ms apart
    const auto out = co_await device_of(st, "tc-1");
    CHECK_FALSE(out.at("online").as_bool());
    CHECK(certificate_on_record(out) == "<none>");
    // Someone who may touch the device moves its certificate and key away: back in with the
    // credential, and enrolled again with a new certificate for a new key.
    st.stop_service("tc-1b");
    fs::create_directories(st.dir() + "/set-aside");
    for (const char* f : {"device.key", "device.pem"})
      fs::rename(st.dir() + "/tc-1b/" + f, st.dir() + "/set-aside/" + f);
    st.start("[" + agent_named(st, "tc-1b", "tc-1", up_url(port), R"("heartbeat_s": 5)", true) + "]");
    co_await wait_authenticated(st, "tc-1", "credential", 10s);
    std::string renewed;
    for (auto until = clock::now() + 10s; clock::now() < until;) {
      const auto d = co_await device_of(st, "tc-1");
      renewed = certificate_on_record(d);
      if (renewed != "<none>") break;
      co_await sleep_for(50ms);
    }
    CHECK(renewed.size() == 64);
    CHECK(renewed != old_fp);
    const auto new_cert = co_await wait_file(st.dir() + "/tc-1b/device.pem", 5s);
    CHECK(pem_fingerprint(new_cert) == renewed);
    CHECK_FALSE(key_matches_certificate(key, new_cert));  // the revoked key is gone
    CHECK(key_matches_certificate(read_file(st.dir() + "/tc-1b/device.key"), new_cert));
    // The revoked certificate opens nothing, and the device stays online through it all.
    const auto with_revoked = co_await hello_with_certificate(st, port, "tc-1", cert, key);
    CHECK(with_revoked == up::certificate_not_accepted);
    const auto after = co_await device_of(st, "tc-1");
    CHECK(after.at("online").as_bool());
    auto audit = co_await st.get("/api/v1/audit?device=tc-1");
    std::string events;
    for (auto& r : audit.at("records").as_array())
      if (text(r.as_object(), "event").starts_with("certificate_")) events += std::string(text(r.as_object(), "event")) + " ";
    CHECK(events == "certificate_issued certificate_revoked certificate_issued ");
  }, 60s);
}

TEST_CASE("behind a gateway a device enrolls through the relay, comes back with its certificate alone, and a revocation closes its link at the gateway") {
  service_stack st;
  xvnc vnc;
  st.run([&]() -> awaitable<void> {
    co_await vnc.start(st.dir(), "#0000ff");
    const auto gw_port = st.start_gateway();
    const std::string gw_url = "wss://127.0.0.1:" + std::to_string(gw_port);
    const auto port = st.start("[" + st.ums(service_stack::device_entry("remote"), service_stack::gateway_settings(gw_port)) + "]");
    st.start("[" + st.agent("remote", gw_url + "/up", socket_of(vnc)) + "]");
    st.console(port);
    const auto cert = co_await wait_file(st.dir() + "/remote/device.pem", 15s);
    const auto enrolled = co_await device_of(st, "remote");
    CHECK(certificate_on_record(enrolled) == pem_fingerprint(cert));
    st.stop_service("remote");
    st.start("[" + agent_with_certificate(st, "remote-again", "remote", "remote", gw_url + "/up", socket_of(vnc), false) + "]");
    auto back = co_await wait_authenticated(st, "remote", "certificate", 15s);
    CHECK(text(back, "connector") == "icg");
    tls_client tls(make_trust(st.ca_file(), ""));
    const auto fb = co_await capture_session(st, tls, "remote");
    CHECK(pixel(fb, 10, 10) == blue);

    auto& c = st.console(port);
    auto revoked = co_await c.call(http::verb::delete_, "/api/v1/devices/remote/certificate", "");
    REQUIRE(revoked.result() == http::status::ok);
    // Without a credential the device cannot enroll again: it stays out.
    bool offline = false;
    for (auto until = clock::now() + 5s; clock::now() < until && !offline;) {
      const auto d = co_await device_of(st, "remote");
      offline = !d.at("online").as_bool();
      if (!offline) co_await sleep_for(50ms);
    }
    CHECK(offline);
    co_await sleep_for(1500ms);  // several reconnect attempts (100-500 ms apart)
    const auto later = co_await device_of(st, "remote");
    CHECK_FALSE(later.at("online").as_bool());
    co_await vnc.stop();
  }, 60s);
}
