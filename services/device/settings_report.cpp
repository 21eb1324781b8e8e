// The device's settings (the seed's "device settings are sent to the UMS Server through REST"):
// its name, OS family, agent, the IP and MAC address of the interface it reaches its server
// through, and an OS 11 device's legacy port and certificate. Sent once per link and again when
// something changes (checked at every heartbeat): by REST with the device certificate where the
// welcome names a path (a UMS), over the link otherwise (a gateway relays it), and over the link
// too when REST fails. One message format for both ways: up::kind::device_settings.
#include "framework/https_client.hpp"
#include "framework/log.hpp"
#include "services/device/agent.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstdio>

namespace shadowlink::device {

namespace {

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return {};
  return buf;
}

std::string text_of(const sockaddr* a) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (a->sa_family == AF_INET) ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(a)->sin_addr, buf, sizeof buf);
  else if (a->sa_family == AF_INET6) ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr, buf, sizeof buf);
  return buf;
}

// The hardware address of the interface that holds `ip` ("" if none has it).
std::string mac_of(const std::string& ip) {
  ifaddrs* all = nullptr;
  if (ip.empty() || ::getifaddrs(&all) != 0) return {};
  std::string iface, mac;
  for (auto* a = all; a && iface.empty(); a = a->ifa_next)
    if (a->ifa_addr && (a->ifa_addr->sa_family == AF_INET || a->ifa_addr->sa_family == AF_INET6) && text_of(a->ifa_addr) == ip)
      iface = a->ifa_name;
  for (auto* a = all; a && !iface.empty() && mac.empty(); a = a->ifa_next) {
    if (!a->ifa_addr || a->ifa_addr->sa_family != AF_PACKET || iface != a->ifa_name) continue;
    const auto* ll = reinterpret_cast<const sockaddr_ll*>(a->ifa_addr);
    for (int i = 0; i < ll->sll_halen && i < 8; ++i) {
      char byte[4];
      std::snprintf(byte, sizeof byte, i ? ":%02x" : "%02x", ll->sll_addr[i]);
      mac += byte;
    }
  }
  ::freeifaddrs(all);
  return mac;
}

}  // namespace

up::message agent::own_settings(up::link& link) const {
  up::message m;
  m.type = up::kind::device_settings;
  m.device_id = cfg_.device_id;
  m.name = cfg_.name.empty() ? host_name() : cfg_.name;
  m.os = cfg_.os;
  m.agent = "shadowlink-device/0.1";
  m.ip = link.stream().local_address();
  m.mac = mac_of(m.ip);
  if (cfg_.os == "11") {
    m.address = cfg_.advertise;
    m.pin = legacy_pin_;
  }
  return m;
}

awaitable<void> agent::report_settings(up::link& link, clock::duration period) {
  net::steady_timer t(co_await net::this_coro::executor);
  std::string sent;  // what the server has, on this link
  for (;;) {
    const auto m = own_settings(link);
    if (auto text = up::serialize(m); text != sent) {
      bool by_rest = false;
      if (!settings_path_.empty() && certificate_) by_rest = co_await send_settings_by_rest(text);
      if (!by_rest && !link.send(m)) co_return;
      log::info(name_, "settings sent ", by_rest ? "by REST" : "over the link", ": name \"", m.name, "\", IP ", m.ip.empty() ? "-" : m.ip);
      sent = std::move(text);
    }
    t.expires_after(period);
    co_await t.async_wait(use_awaitable);
  }
}

// POSTs them to the current connector with the device certificate; false (said why) if that did
// not work, and the link carries them instead.
awaitable<bool> agent::send_settings_by_rest(const std::string& text) {
  http_request req{http::verb::post, settings_path_, 11};
  req.set(http::field::content_type, "application/json");
  req.body() = text;
  req.prepare_payload();
  // (Named, not made inside the co_await expression: g++ 12 loses such temporaries.)
  const rest_target target{targets_.at(current_index_).host, targets_.at(current_index_).port};
  try {
    auto res = co_await https_request(*tls_, target, std::move(req), 10s);
    if (res.result() == http::status::no_content) co_return true;
    log::warn(name_, "the server did not take the settings by REST (", res.result_int(), " ", res.body().substr(0, 200), "): sending them over the link");
  } catch (const std::exception& e) {
    log::warn(name_, "cannot send the settings by REST (", e.what(), "): sending them over the link");
  }
  co_return false;
}

}  // namespace shadowlink::device
