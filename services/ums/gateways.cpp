// The UMS's UP links to its gateways (ICG): kept open from the UMS's side with reconnect and
// jittered backoff; devices behind a gateway are authenticated here and appear online through it.
#include "framework/backoff.hpp"
#include "framework/certs.hpp"
#include "framework/errors.hpp"
#include "framework/log.hpp"
#include "framework/on_exit.hpp"
#include "framework/token.hpp"
#include "services/ums/ums_service.hpp"

namespace shadowlink::ums {
using namespace net::experimental::awaitable_operators;

gateway* ums_service::gateway_of(const device_record& d) {
  auto* live = online_.find(d.id);
  return live ? live->info.gw : nullptr;
}

gateway* ums_service::gateway_named(std::string_view name) {
  for (auto& gw : gateways_)
    if (gw->name == name) return gw.get();
  return nullptr;
}

namespace {
// The key a certificate request asks for; empty if the request is malformed or its signature does
// not prove the key.
std::string request_key_of(std::string_view csr) {
  try {
    return request_key_fingerprint(csr);
  } catch (const std::exception&) {
    return {};
  }
}
}  // namespace

// The gateway's own server certificate, for the names the UMS knows it by (its URLs' hosts),
// whatever the request asks for. Its link is authenticated both ways: the gateway checked our
// credential, and we checked its certificate (CA or pairing pin).
up::message ums_service::sign_gateway_certificate(const gateway& gw, const std::string& csr) {
  up::message out;
  out.type = up::kind::error;
  try {
    std::vector<std::string> names{parse_ws_url(gw.external_url).host};
    if (auto internal = parse_ws_url(gw.url).host; internal != names.front()) names.push_back(internal);
    for (auto& n : names) {
      if (n.size() > 2 && n.front() == '[' && n.back() == ']') n = n.substr(1, n.size() - 2);  // an IPv6 literal
      // A gateway certificate must never name the UMS itself: its holder could stand in for the UMS.
      if (std::find(cfg_.listener.names.begin(), cfg_.listener.names.end(), n) != cfg_.listener.names.end())
        throw std::runtime_error("the gateway's URL names " + n + ", which is the UMS's own name");
    }
    auto pem = sign_server_certificate(env_.shared_dir, csr, names, server_certificate_days);
    log::info(name_, "signed gateway ", gw.name, "'s certificate for ", names.front(), names.size() > 1 ? " and " + names.back() : "",
              ", SHA-256 fingerprint ", pem_fingerprint(pem));
    out.type = up::kind::certificate;
    out.certificate = std::move(pem);
  } catch (const std::exception& e) {
    out.reason = std::string("certificate request refused: ") + e.what();
    log::warn(name_, "gateway ", gw.name, ": ", out.reason);
  }
  return out;
}

up::message ums_service::gateway_certificate_answer(gateway& gw, const std::string& csr, const std::string& presented_key) {
  up::message refusal;
  refusal.type = up::kind::error;
  if (presented_key.empty() || request_key_of(csr) != presented_key) {
    refusal.reason = "certificate request refused: it is not for the key this gateway's certificate holds";
  } else if (clock::now() - gw.last_signed < 1min) {
    refusal.reason = "certificate request refused: one a minute at most";
  } else {
    auto answer = sign_gateway_certificate(gw, csr);
    if (answer.type == up::kind::certificate) gw.last_signed = clock::now();
    return answer;
  }
  log::warn(name_ + "/" + gw.name, "gateway ", gw.name, ": ", refusal.reason);
  return refusal;
}

awaitable<void> ums_service::gateway_link(gateway& gw) {
  backoff delays(500ms, 30s);
  net::steady_timer sleep(co_await net::this_coro::executor);
  const std::string scope = name_ + "/" + gw.name;
  while (!stopping_) {
    try {
      std::map<std::string, std::string> headers{{"Authorization", "Bearer " + gw.credential}};
      // Each node of a cluster keeps its own link to every gateway, by its name (see icg_service).
      if (!cfg_.node.empty()) headers.emplace(up::node_header, cfg_.node);
      const auto opts = up::link_options();
      auto target = parse_ws_url(gw.url + "/up/ums");
      // A gateway that is not paired yet presents its self-signed certificate: trusted by its
      // pinned fingerprint, and only when the installation CA does not vouch for it.
      ws_ptr ws;
      std::string not_by_ca;
      try {
        ws = co_await connect_ws(gw.tls.get(), target, headers, opts);
      } catch (const system_error& e) {
        if (!gw.pair_tls || !is_tls_failure(e.code())) throw;
        not_by_ca = e.what();
      }
      const bool pairing = !ws;
      if (pairing) {
        try {
          ws = co_await connect_ws(gw.pair_tls.get(), target, headers, opts);
        } catch (const std::exception& e) {
          throw std::runtime_error("not trusted through the CA (" + not_by_ca + "), nor by its pairing pin (" + e.what() + ")");
        }
      } else if (gw.pair_tls) {
        // Paired: the pin of its bootstrap certificate is no way in any more.
        gw.pair_tls.reset();
        log::warn(scope, "gateway ", gw.name, " is trusted through the installation CA: its pair_pin is no longer used (remove it from the config)");
      }
      const auto presented_key = ws->server_key_fingerprint();
      up::link link(std::move(ws));
      delays.reset();
      co_await link.serve(serve_gateway(gw, link, presented_key));
      if (!stopping_) log::warn(scope, "connection to gateway ", gw.url, " lost");
    } catch (const std::exception& e) {
      if (stopping_) break;
      log::warn(scope, "cannot reach gateway ", gw.url, ": ", ending_words(e));
    }
    if (stopping_) break;
    sleep.expires_after(delays.next());
    co_await sleep.async_wait(use_tuple);
  }
}

awaitable<void> ums_service::serve_gateway(gateway& gw, up::link& link, const std::string& presented_key) {
  const std::string scope = name_ + "/" + gw.name;
  gw.link = &link;
  log::info(scope, "connected to gateway ", gw.url);
  on_exit lost([&] { gw.link = nullptr; });
  // The devices online through this gateway; they go offline with it (declared after `lost`, so
  // they go first).
  std::map<std::string, up::link_registry<live_link>::registration, std::less<>> behind;
  // Declared after `behind`, so it runs before the devices go: the sessions through this gateway
  // end for what happened to the gateway, not as if each device had gone offline.
  on_exit sessions_end([&] {
    for (auto& [id, s] : sessions_)
      if (s->gateway == gw.name) s->stop("gateway connection lost");
  });
  for (;;) {
    auto m = co_await link.receive();
    switch (m.type) {
      case up::kind::device_hello: {
        co_await learn_enrolled(m.device_id);
        auto d = devices_.find(m.device_id);
        up::message verdict;
        verdict.device_id = m.device_id;
        verdict.link = m.link;  // the verdict is about that link at the gateway, nothing else
        // The gateway checked the certificate's chain and that it names the device; whether it is
        // the device's certificate now (not revoked, not replaced) only the UMS knows.
        const bool by_certificate = !m.fingerprint.empty();
        bool accepted = false;
        if (by_certificate) accepted = co_await certificate_accepted(m.device_id, m.device_id, m.fingerprint);
        else accepted = co_await device_credential_accepted(m.device_id, m.credential, "gateway " + gw.name);
        d = devices_.find(m.device_id);  // (enrolled just now, or removed meanwhile)
        if (d == devices_.end()) accepted = false;
        if (!accepted) {
          metrics_.auth_failed(by_certificate ? "device_certificate" : "device_credential");
          verdict.type = up::kind::device_rejected;
          verdict.reason = by_certificate ? std::string(up::certificate_not_accepted) : "unknown device or wrong credential";
          log::warn(scope, "device ", m.device_id.substr(0, 64), " at the gateway refused: ", verdict.reason);
        } else {
          verdict.type = up::kind::device_accepted;
          auto& dev = d->second;
          dev.os = m.os.empty() ? "12" : m.os;  // behind a gateway every family uses the gateway's tunnels
          behind[dev.id] = online_.attach(dev.id, link, live_link{gw.name, m.reason, &gw, m.link, m.fingerprint}, "");
          dev.last_seen = clock::now();
          log::info(name_, "device ", dev.id, " online through gateway ", gw.name, " from ", m.reason, " (", m.agent, ")");
          registry::reported said{dev.os, m.agent, "gateway " + gw.name + ": " + m.reason, "", "", 0, "", "", ""};
          co_await note_reported(m.device_id, std::move(said), false);
        }
        // Paced: a gateway re-announcing thousands of devices must not overflow our queue to it
        // (reading waits meanwhile; the gateway keeps reading our verdicts).
        if (!co_await link.send_paced(verdict)) co_return;
        break;
      }
      case up::kind::device_offline:
        if (auto b = behind.find(m.device_id); b != behind.end()) {
          auto* live = online_.find(m.device_id);
          // A report about an older link of the device (it reconnected at the gateway) changes nothing.
          if (!b->second.current() || (live && live->info.remote == m.link)) behind.erase(b);
        }
        break;
      case up::kind::certificate_request: {
        if (m.device_id.empty()) {
          // The gateway's own (pairing, or a renewal): only for the key it proved on this link,
          // which its pairing pin or the CA vouched for, so a stolen or swapped key never becomes a
          // certified one. To change its key, a gateway pairs again.
          const auto answer = gateway_certificate_answer(gw, m.csr, presented_key);
          if (!co_await link.send_paced(answer)) co_return;
          break;
        }
        // Only for the device's link at this gateway that the UMS accepted (the link id says which).
        auto* live = online_.find(m.device_id);
        if (!live || live->info.gw != &gw || live->info.remote != m.link) break;
        const auto via = "gateway " + gw.name;
        auto answer = co_await issue_certificate(m.device_id, m.csr, via, !live->info.fingerprint.empty());
        if (answer.type != up::kind::certificate) break;  // (logged; the device asks again on its next connection)
        answer.device_id = m.device_id;
        answer.link = m.link;
        if (!co_await link.send_paced(answer)) co_return;
        break;
      }
      case up::kind::device_settings:
        // Only from the device's link at this gateway that the UMS accepted (the link id says which).
        if (auto* live = online_.find(m.device_id); live && live->info.gw == &gw && live->info.remote == m.link)
          co_await take_settings(m, "gateway " + gw.name + ": " + live->info.peer, false);
        break;
      case up::kind::shadow_asking:
        if (auto s = sessions_.find(m.session_id); s != sessions_.end() && s->second->gateway == gw.name)
          device_asking(*s->second);
        break;
      case up::kind::shadow_accepted:
      case up::kind::shadow_refused:
        if (auto s = sessions_.find(m.session_id); s != sessions_.end() && s->second->gateway == gw.name)
          s->second->device_answer.deliver(m);
        break;
      case up::kind::tunnel_arrived:
      case up::kind::session_ended:
        if (auto s = sessions_.find(m.session_id); s != sessions_.end() && s->second->gateway == gw.name)
          s->second->reports.post(m);
        break;
      default:
        break;
    }
  }
}

}  // namespace shadowlink::ums
