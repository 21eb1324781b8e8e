#pragma once
// The ICG gateway: for devices the UMS cannot reach. The UMS and the devices both connect *out* to
// it (UP WebSockets); it relays UP commands between them and pairs and splices shadow tunnels.
#include "framework/certs.hpp"
#include "framework/failure_penalty.hpp"
#include "framework/https_server.hpp"
#include "framework/meeting_point.hpp"
#include "framework/metrics.hpp"
#include "framework/rendezvous.hpp"
#include "framework/service.hpp"
#include "framework/splice.hpp"
#include "framework/tls_listener.hpp"
#include "protocol/link_registry.hpp"

#include <deque>
#include <functional>
#include <map>

namespace shadowlink::icg {

// A verified device's link, as the gateway keeps it.
struct device_info {
  std::string peer;
  // Kept to re-announce the device when the UMS reconnects: the fingerprint of its certificate
  // (nothing secret), or the bootstrap credential of a device that has none yet.
  std::string credential;
  std::string fingerprint;
  std::string agent;
  std::string os;  // the device's OS family, for the UMS's device list
};

// A device's link between its hello and the UMS's verdict. It displaces nobody and is bounded in
// number, in total and per source address.
struct unverified_link {
  up::link* link = nullptr;
  up::message hello;
  std::string peer;
  meeting_point<up::message>* verdict = nullptr;
};

// The limits on links that have not proven who they are.
struct unverified_limits {
  int total = 1000;
  int per_address = 100;  // many genuine devices can share one address (NAT, proxies)
  clock::duration hello_timeout = 10s;
  clock::duration verdict_timeout = 20s;
};

class icg_service final : public service {
 public:
  icg_service(service_env& env, settings& s);
  void start() override;
  void stop() override;
  std::uint16_t port() const override { return server_ ? server_->port() : 0; }

 private:
  awaitable<void> ums_endpoint(ws_upgrade& up);
  awaitable<void> device_endpoint(ws_upgrade& up);
  awaitable<void> serve_ums(up::link& link, std::string node);
  // Devices are announced to one UMS link at a time (every node of a cluster shares the registry,
  // so any one decides); when it goes, the next one linked is told every device anew.
  void make_home(up::link& link, const std::string& node);
  awaitable<void> announce(up::link& link);
  awaitable<void> serve_device(up::link& link, std::function<void()> verified, peer_certificate cert);
  awaitable<void> drop_devices_without_ums();
  void on_ums_message(up::link& from, const up::message& m);
  // Pairing (a gateway without the CA's key): the certificate the UMS signed for our own key;
  // renewed by the UMS when a third of its validity is left (checked hourly while linked).
  void request_own_certificate(up::link& ums);
  void take_own_certificate(const up::message& m);
  awaitable<void> renew_own_certificate(up::link& ums);
  void note_own_certificate(const std::string& pem);
  void on_verdict(const up::message& m);
  void refuse_verified(const std::string& device, up::link& l, const std::string& why);
  void to_home(const up::message& m);
  // To the UMS link that asked for the session, if it is still linked.
  void to_session_ums(const std::string& session_id, const up::message& m);
  // The sessions the UMS on `link` asked for (all of them with nullptr).
  void end_sessions_of(const up::link* link, const std::string& reason);
  // Ends one session however far it got (its splice, or its wait for tunnel ends); tells its device.
  void end_session(const std::string& id, const std::string& reason);
  void to_ums_paced(up::message m);
  up::message hello_for_ums(const std::string& device, up::link_id id, const up::message& hello, const std::string& peer) const;

  // icg_flow.cpp: the gateway's part of a shadow session, one linear coroutine.
  awaitable<void> relay_session(up::message request, up::link* asked_by);

  std::string status() const;

  service_env env_;
  std::string name_;
  tls_listener_settings listener_;  // public_url ("external_url"): what devices and consoles are told
  std::string ums_credential_sha256_;
  std::string ca_dir_;
  clock::duration device_grace_ = 30s;
  clock::duration session_timeout_ = 90s;
  clock::duration write_stall_ = 30s;  // a viewer or device that stops reading this long ends its session
  unverified_limits limits_;
  bool started_ = false;
  bool paired_ = true;  // false while serving the self-signed bootstrap certificate
  bool signed_by_ums_ = false;  // serving a certificate the UMS signed (not files, nor our own CA key)
  std::chrono::system_clock::time_point own_not_before_{}, own_not_after_{};  // its validity
  bool own_asked_ = false;  // a certificate request is out on the home link

  rendezvous rv_;
  std::unique_ptr<https_server> server_;
  // The UMS nodes linked here, by the name each gives ("" for a UMS that is no cluster's node): a
  // node's newer link replaces its older one, other nodes' links stay. Each node asks for sessions
  // on its own link; devices are announced on home_ only.
  std::map<std::string, up::link*, std::less<>> ums_links_;
  up::link* home_ = nullptr;
  std::string home_node_;
  clock::time_point ums_lost_ = clock::now();
  up::link_registry<device_info> devices_;                                  // verified links only
  std::map<up::link_id, unverified_link> unverified_;                       // awaiting the UMS's verdict
  std::map<std::string, int, std::less<>> unverified_by_address_;           // upgraded, not yet verified
  int unverified_count_ = 0;
  std::deque<up::message> outbox_;  // hellos and offline reports for the UMS, sent paced by announce()
  net::steady_timer* outbox_wake_ = nullptr;  // announce()'s, while it runs
  struct session_owner {
    std::string device;
    up::link* ums = nullptr;  // the link that asked for it: its reports go there, and it ends with it
  };
  std::map<std::string, session_owner, std::less<>> sessions_;              // session id ->
  std::map<std::string, splicer*, std::less<>> active_;                     // session id -> splice
  // Sessions ended before their splice began, with why: both tunnel ends may already have been
  // delivered when the end comes, so relay_session checks here before it splices.
  std::map<std::string, std::string, std::less<>> ended_early_;
  bool stopping_ = false;

  // GET /metrics (with metrics_token_sha256): the gateway's tables read when scraped, refusals counted.
  std::string metrics_token_sha256_;
  // Wrong UMS credentials by source address: attempts within the penalty get 429 unheard.
  failure_penalty ums_failures_{{.first = 1s, .max = 60s, .forget_after = 15min, .max_keys = 4096}};
  // Refused hellos by the device id they named: later hellos naming it wait before they go to the
  // UMS (from any address; never refused, so the real device still comes in).
  failure_penalty id_failures_{{.first = 250ms, .max = 5s, .forget_after = 10min, .max_keys = 4096}};
  prometheus::Registry metrics_;
  prometheus::Family<prometheus::Gauge>& gauges_ = prometheus::BuildGauge()
      .Name("shadowlink_gateway").Help("The gateway's links and sessions now").Register(metrics_);
  prometheus::Family<prometheus::Counter>& auth_failures_ = prometheus::BuildCounter()
      .Name("shadowlink_auth_failures_total").Help("Refused credentials, by what was refused").Register(metrics_);
  void refresh_metrics();
};

void register_icg(service_registry& r);

}  // namespace shadowlink::icg
