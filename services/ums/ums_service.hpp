#pragma once
// The UMS server: REST API for consoles, UP endpoint for devices, shadow-tunnel endpoint and the
// Web App's shadow endpoint, all on one TLS port routed by path.
#include "framework/certs.hpp"
#include "framework/failure_penalty.hpp"
#include "framework/https_server.hpp"
#include "framework/rendezvous.hpp"
#include "framework/service.hpp"
#include "framework/tls_listener.hpp"
#include "framework/token.hpp"
#include "protocol/consent.hpp"
#include "protocol/link_registry.hpp"
#include "services/ums/audit.hpp"
#include "services/ums/audit_shipper.hpp"
#include "services/ums/auth.hpp"
#include "services/ums/cluster_bus.hpp"
#include "services/ums/node_seal.hpp"
#include "services/ums/recordings.hpp"
#include "services/ums/registry.hpp"
#include "services/ums/device_certificates.hpp"
#include "services/ums/session.hpp"
#include "services/ums/ums_metrics.hpp"

#include <boost/json/object.hpp>

#include <atomic>
#include <deque>
#include <map>
#include <optional>
#include <set>

namespace shadowlink::ums {

struct device_record {
  std::string id, name;
  // Only the hash is kept: the config never holds what a device presents. Empty: the device has
  // no bootstrap credential and comes in with its certificate only.
  std::string credential_sha256;
  bool accepts(std::string_view credential) const {
    return !credential_sha256.empty() && tokens_equal(sha256_hex(credential), credential_sha256);
  }
  // As the device last reported over its authenticated link: its OS family ("12", or "11": a
  // legacy TLS port on the device, reached at `legacy_address`, its certificate pinned by `legacy_pin`).
  std::string os, legacy_address, legacy_pin;
  up::consent_policy consent = up::consent_policy::ask;  // is the device's user asked first?
  bool record = false;  // are its sessions recorded (at the UMS)? Its own policy or any of its groups'.
  clock::time_point last_seen{};
  std::string busy_with;  // session id while being shadowed
  registry::reported reported;  // its own word about itself (device_settings.cpp); at == 0: nothing yet
  clock::time_point settings_taken{};  // when its last device_settings was (or will be) taken: one a second
};

struct gateway;

// How an online device is reached: its own UP link, or its gateway's (online_ below).
struct live_link {
  std::string connector;  // this UMS's name or a gateway's
  std::string peer;
  gateway* gw = nullptr;  // behind a gateway: which one, and the gateway's id of the device's link
  up::link_id remote = 0;
  std::string fingerprint;  // the client certificate the link was opened with; empty: the credential
};

// An ICG the UMS keeps a UP link to (outbound: the gateway needs no way into the UMS's network).
struct gateway {
  std::string name;
  std::string url;           // internal address, as the UMS reaches it: wss://host:port
  std::string external_url;  // what consoles and devices reach: tunnel URLs handed out use it
  std::string credential;    // presented to the gateway, which only accepts its UMS
  std::string ca_file, pin;
  // The fingerprint of the self-signed certificate a gateway without the CA's key starts with (its
  // log says it): trusted only to pair, when the gateway asks the UMS to sign its own key.
  std::string pair_pin;
  std::string proxy;  // HTTP CONNECT proxy on the way to the gateway, if any
  std::unique_ptr<tls_client> tls, pair_tls;
  up::link* link = nullptr;
  clock::time_point last_signed{};  // its own certificate: one a minute at most, whatever it asks
};

struct ums_settings {
  tls_listener_settings listener;  // public_url: what devices and consoles are told to connect to
  std::vector<std::string> web_origins;  // Origin values the Web App's shadow endpoint accepts
  clock::duration consent_timeout = 60s;  // device answers a shadow request
  clock::duration setup_timeout = 20s;    // a tunnel end arrives
  clock::duration viewer_timeout = 60s;   // the console opens its tunnel after step 4
  clock::duration idle_timeout = 10min;
  // One write to a viewer or device blocked this long: a peer that stopped reading (a frozen
  // viewer) ends its session instead of holding it, and its buffers, forever.
  clock::duration write_stall = 30s;
  std::uint64_t audit_rotate_bytes = 64ull << 20;
  std::string postgresql;  // the registry's database ("": SQLite in the data directory)
  // This node's name in a cluster (UMS nodes on one PostgreSQL database); its public_url must be
  // its own address, not the load balancer's: devices and viewers open their tunnels there.
  std::string node;
  recording_limits recordings;
  clock::duration heartbeat = 5s;  // told to devices in the welcome: how often they report
};

class ums_service final : public service {
 public:
  ums_service(service_env& env, settings& s);
  void start() override;
  void stop() override;
  void reload(settings& s) override;
  std::uint16_t port() const override { return server_ ? server_->port() : 0; }

 private:
  // Routes.
  awaitable<void> up_endpoint(ws_upgrade& up);
  awaitable<http_response> rest(const http_request& req, const std::string& peer);
  bool from_own_pages(const http_request& req) const;
  awaitable<http_response> create_session(const http_request& req, const std::string& user);
  // `elsewhere`: in a cluster, where the devices are online (cluster_presence()).
  http_response list_devices(const http_request& req, const std::string& user, const std::map<std::string, registry::presence, std::less<>>& elsewhere);
  // `elsewhere`: in a cluster, the other nodes' sessions.
  http_response list_sessions(const http_request& req, const std::string& user, const std::vector<registry::session_row>& elsewhere);
  awaitable<http_response> end_session_by(const http_request& req, std::string_view id, const std::string& user);
  awaitable<http_response> end_other_nodes_session(const http_request& req, std::string id, std::string user);
  awaitable<http_response> read_audit(const http_request& req);
  awaitable<http_response> login(const http_request& req, const std::string& peer);
  // The administrator behind a request (bearer token or, if allowed, the login cookie): an API
  // token, or a login made at any node of the registry (auth::look_up).
  // (`throttled`, if given: set when refused unasked, too many unknown tokens having come from the address.)
  awaitable<std::optional<std::string>> authenticated(const http_request& req, bool allow_cookie, const std::string& peer, bool* throttled = nullptr);
  awaitable<void> end_logins(std::vector<std::string> users);  // (in the registry, of administrators gone)
  void end_logins_later();  // (of those auth_ says it ended)
  awaitable<http_response> administrators_api(const http_request& req, const std::string& user);
  awaitable<http_response> api_tokens_api(const http_request& req, const std::string& user);  // api_tokens.cpp
  // Rights (rights.hpp): what `user` may do with `device`, by the config's grants and the
  // registry's rights on the device's folder (folder_of: "" for the root, where configured devices are).
  access access_to(const std::string& user, std::string_view device) const;
  std::string folder_of(std::string_view device) const;
  bool may(const std::string& user, folder_right r, std::string_view folder) const;  // (an admin: everything)
  // Whether `user` may shadow `device` in this mode (the refusal's words if
  // not), and whether they may see a session.
  std::optional<std::string> may_shadow(const std::string& user, std::string_view device, bool view_only) const;
  // (Of a session `owner` started on `device`: live, or ended a little while ago.)
  bool sees(const std::string& user, const std::string& owner, std::string_view device) const;
  bool sees(const std::string& user, const shadow_session& s) const { return sees(user, s.user, s.device_id); }
  // A request refused before any session existed, recorded before it is answered.
  awaitable<void> record_refusal(const std::string& device, const std::string& user, std::string_view via, std::string_view reason);

  // Flows (shadow_flows.cpp): one coroutine per session, the seed's steps in order.
  awaitable<void> console_flow(session_ptr s);
  awaitable<void> webapp_flow(ws_upgrade& up, session_ptr s);

  // Steps shared by the flows.
  awaitable<void> ask_device(shadow_session& s, const std::string& device_token);
  awaitable<up::message> await_device_answer(shadow_session& s);  // (its yes)
  awaitable<std::string> splice_session(shadow_session& s, stream_ptr& viewer, stream& device);
  awaitable<void> end_session(shadow_session& s, std::string outcome);
  void offer_tunnel(shadow_session& s, const std::string& viewer_token, clock::duration wait, std::string_view gateway = {});
  std::string console_failed(shadow_session& s, const std::exception& e);
  awaitable<up::message> session_report(shadow_session& s, up::kind k, clock::time_point deadline);
  awaitable<void> record(std::string_view event, shadow_session& s, boost::json::object details);
  awaitable<void> record(std::string_view event, shadow_session& s) { return record(event, s, {}); }
  session_ptr new_session(const std::string& device_id, const std::string& user, std::string via, bool view_only);
  std::string tunnel_url(const std::string& session_id) const;
  // The shadow request for step 2 (to the device, or to its gateway), with the device's consent policy.
  up::message shadow_request(const shadow_session& s) const;

  // OS 11 and earlier, direct (legacy_flows.cpp): the viewer connects in to the device's TLS port.
  awaitable<void> console_legacy_flow(session_ptr s);
  // The same for a device whose sessions are recorded: the UMS relays (console -> UMS -> device).
  awaitable<void> console_legacy_recorded_flow(session_ptr s);
  awaitable<void> webapp_legacy_flow(ws_upgrade& up, session_ptr s);
  awaitable<void> ask_device_legacy(shadow_session& s);
  awaitable<std::string> legacy_session_end(shadow_session& s);

  // Over an ICG (gateways.cpp, gateway_flows.cpp).
  awaitable<void> gateway_link(gateway& gw);
  // pairing: the link was opened trusting the gateway's bootstrap certificate (pair_pin), the only
  // link on which the UMS signs the gateway's own certificate.
  // `presented_key`: the SHA-256 of the public key of the certificate the gateway presented on
  // this link, the only key the UMS signs a certificate for (pairing or renewal).
  awaitable<void> serve_gateway(gateway& gw, up::link& link, const std::string& presented_key);
  awaitable<void> console_icg_flow(session_ptr s, gateway& gw);
  // The same for a device whose sessions are recorded: the UMS joins the path to record it.
  awaitable<void> console_icg_recorded_flow(session_ptr s, gateway& gw);
  awaitable<void> webapp_icg_flow(ws_upgrade& up, session_ptr s, gateway& gw);
  awaitable<void> ask_gateway(shadow_session& s, gateway& gw, const tickets& t);
  gateway* gateway_of(const device_record& d);
  gateway* gateway_named(std::string_view name);  // (a gateway of this node's config)
  up::message sign_gateway_certificate(const gateway& gw, const std::string& csr);
  // A gateway's request for its own certificate (pairing or renewal): signed only for the key it
  // presented on this link, one a minute at most; otherwise an error that says why.
  up::message gateway_certificate_answer(gateway& gw, const std::string& csr, const std::string& presented_key);

  // UP link handling (devices.cpp).
  struct admitted_device {
    std::string id, agent;
  };
  awaitable<std::optional<admitted_device>> admit_device(up::link& link, const peer_certificate& cert);
  awaitable<void> serve_device(up::link& link, peer_certificate cert);
  void on_device_message(device_record& d, up::link& link, const up::message& m);
  void device_gone(const std::string& id, const live_link& how);
  void device_asking(shadow_session& s);

  // Folders, rights on them and groups of administrators (folders.cpp): the registry's, read
  // again when its revision of them changed (`force`: whatever it says); a device moved.
  awaitable<void> read_rules(bool force);
  awaitable<http_response> folders_api(const http_request& req, std::string_view path, const std::string& user);
  awaitable<http_response> move_device(const http_request& req, const std::string& device, const std::string& user);
  void set_folder(const std::string& device, const std::string& folder);
  awaitable<http_response> put_folder_policy(const http_request& req, const std::string& user);
  folder_rules rules_;
  clock::time_point rules_checked_{};  // the registry's revision of them last asked
  // Sessions whose administrator may no longer do what they do (removed, or a right taken away) end.
  void end_sessions_without_rights();

  // Enrollment keys (enrollment_keys.cpp): a device that is not configured comes in once with a
  // key an administrator made; from then on it is in the registry, the key its credential until
  // it holds its certificate. Whether `credential` is `id`'s, enrolling it if it is a key.
  awaitable<bool> device_credential_accepted(const std::string& id, const std::string& credential, std::string_view from);
  // The registry's enrolled devices added to `devices` (and to their folders' groups).
  void add_enrolled(std::map<std::string, device_record, std::less<>>& devices, device_groups& groups) const;
  device_record enrolled_record(const registry::device& d, const device_groups& groups) const;
  // An enrolled device's session policy: its config groups' and its folder's in the registry
  // together (the strictest consent; recorded if either records).
  void apply_policy(device_record& r, std::string_view folder, const device_groups& groups) const;
  bool is_enrolled(const device_record& d) const;  // (not only configured under its id)
  // In a cluster: a device enrolled through another node, read from the registry when it first
  // comes here (its hello, a session for it); one removed through another node, forgotten.
  awaitable<void> learn_enrolled(std::string id);
  // Every enrolled device of the registry known here: for the device list (in a cluster), and at a
  // reload (devices imported, or enrolled by another node, meanwhile).
  awaitable<void> learn_all_enrolled(bool even_alone = false);
  void know_enrolled(const registry::device& d, clock::time_point read_at);
  std::map<std::string, clock::time_point, std::less<>> forgotten_;  // enrolled devices removed through another node, recently
  void forget_enrolled(const std::string& id, const std::string& why);
  // Device settings (device_settings.cpp). A device's own word about itself, from its hello or
  // (`settings`) its device_settings: kept with it, and in the registry when it is enrolled and
  // something has changed.
  awaitable<void> note_reported(std::string id, registry::reported r, bool settings);
  // A device_settings message of a device that has proven who it is; `seen_from`: its address;
  // `direct`: from the device itself (REST, its own link), not relayed. False if it was not
  // taken (no such device, or far too many reports).
  awaitable<bool> take_settings(up::message m, std::string seen_from, bool direct);
  awaitable<http_response> device_settings_rest(const http_request& req, const std::string& peer, const peer_certificate& cert);
  awaitable<http_response> enrollment_keys(const http_request& req, std::string_view path, const std::string& user);

  // Device certificates (enrollment.cpp).
  // Whether a link presenting this certificate (name, fingerprint) is `device`'s; notes its use.
  awaitable<bool> certificate_accepted(std::string device, std::string common_name, std::string fingerprint);
  // The answer to a device's certificate request: a `certificate`, or an `error` saying why not.
  // A link opened by a certificate may only renew for that certificate's key.
  awaitable<up::message> issue_certificate(std::string device, std::string csr, std::string via, bool opened_by_certificate);
  awaitable<void> answer_certificate_request(std::string device, std::string csr);  // (over the device's own link)
  // The revoked certificate's fingerprint ("": there was none); throws if it cannot be recorded.
  awaitable<std::string> revoke_certificate_of(std::string device);
  // A device's certificate record: written to the registry, then applied to certs_; read again
  // from the registry (in a cluster, where another node may have changed it).
  // Written only over the record `expected` (the one the change was decided from); throws if
  // another request or node changed it meanwhile (the view is read again then).
  awaitable<void> store_certificate(std::string device, std::optional<issued_certificate> expected, issued_certificate c);
  awaitable<void> refresh_certificate(std::string device);  // (in a cluster)
  awaitable<void> reread_certificate(std::string device);
  // Waits (10 s at most) until no other change of the device's record is under way here; the
  // caller then holds certificates_pending_'s entry for it until it is done.
  awaitable<void> certificate_turn(std::string device);
  std::set<std::string, std::less<>> certificates_pending_;   // devices whose certificate record is being changed
  std::map<std::string, int, std::less<>> certificates_revoking_;  // devices whose revocations wait for their turn (how many)
  awaitable<http_response> revoke_certificate(const http_request& req, std::string_view device, const std::string& user);
  // Closes the device's link (direct, or at its gateway) and tells every gateway that links opened
  // by `fingerprint` (if any) are no longer the device's.
  // In a cluster the other nodes do the same (`from_node`: this is another node's word, not passed on).
  void drop_device(const std::string& id, const std::string& fingerprint, const std::string& why, bool from_node = false);
  // DELETE /api/v1/devices/ID (admins, and managers of its folder): an enrolled device leaves the registry, its certificate is
  // revoked and its links close; it would need a new key to come back.
  awaitable<http_response> remove_enrolled(const http_request& req, std::string_view device, const std::string& user);

  // Session state for the REST API (rest.cpp): live sessions, and ended ones for a while so that
  // whoever follows a set-up can read how it ended.
  boost::json::object session_json(const shadow_session& s, bool with_ticket) const;
  void remember_ended(const shadow_session& s);
  awaitable<http_response> session_state(const http_request& req, std::string id, std::string user);

  std::string scope(const shadow_session& s) const { return name_ + "/" + s.id; }

  // A cluster of UMS nodes on one PostgreSQL database (cluster_routing.cpp): which node each
  // online device is linked to, and step 2 and the device's answers for a session on another node
  // than the device's link, passed between the two nodes (cluster_bus.hpp says how, and why).
  bool clustered() const { return bus_ != nullptr; }
  // The cluster's clock: this node's, set right by the database server's at every heartbeat, so
  // that node liveness, session ages and the seals' minute compare times of one clock (a node
  // whose own clock is off by minutes still works; the database server's should be kept right).
  std::atomic<std::int64_t> clock_offset_ms_{0};
  std::int64_t cluster_now_ms() const;
  std::int64_t cluster_now() const { return cluster_now_ms() / 1000; }
  void set_cluster_clock();  // (on the registry's thread)
  void start_cluster();
  void leave_cluster();  // (stopping: the others no longer send anything here)
  awaitable<void> keep_node_alive();
  // Where a device not linked here is online, if it is (on a live node); nothing outside a cluster.
  awaitable<std::optional<registry::presence>> where_is(std::string device);
  awaitable<std::map<std::string, registry::presence, std::less<>>> cluster_presence();
  // Why a session with a device on another node cannot be made (or nothing: it can).
  // Whether a session with `device` can be made here now (after the rights): the refusal (status
  // and words: unknown, offline, busy, or on another node in a way that cannot cross), or where
  // the device is when its link is on another node of the cluster.
  struct shadow_admission {
    std::optional<registry::presence> elsewhere;  // linked directly to another node (step 2 goes through it)
    gateway* gw = nullptr;                        // behind a gateway (this node's own link to it)
    std::string os;                               // the device's OS family
    boost::beast::http::status status = boost::beast::http::status::ok;
    std::string refusal;
  };
  awaitable<shadow_admission> where_to_shadow(std::string device);
  // Sends `m`, about `device`, to node `node`: "ask" (step 2), "report" (the device's answers), "end".
  // `by`: who asked (a "stop": an administrator ending another node's session).
  awaitable<void> send_to_node(std::string node, std::string what, std::string device, up::message m, std::string by = {});
  void post_to_node(const std::string& node, std::string_view what, const std::string& device, const up::message& m, std::string by = {});
  void on_node_message(std::string_view payload);
  // Tells every other live node: "drop" (close the device's links), "forget" (an enrolled device removed).
  void tell_other_nodes(const std::string& device, std::string what, const std::string& fingerprint, const std::string& why);
  void ask_for_node(const std::string& from, const std::string& device, up::message req);
  // A device's message about a session: one of this node's, or one it relays for another node.
  void session_report(const std::string& device, const up::message& m, const std::string& from_node);
  void presence_changed(const std::string& device, const live_link* now);
  awaitable<void> write_presence();  // (and the sessions' rows)
  awaitable<void> ship_audit();      // this node's new audit records, into the registry's table
  // The session's row for the other nodes' lists (`running`: written or updated; else removed).
  void session_listed(const shadow_session& s, bool running);
  awaitable<std::vector<registry::session_row>> other_nodes_sessions();
  // What the registry says now (certificates, enrolled devices, live nodes) against the links and
  // relayed sessions held here: another node's word may have been lost.
  awaitable<void> check_links();

  service_env env_;  // a copy: the one passed to the factory is temporary
  std::string name_;
  ums_settings cfg_;
  std::string novnc_dir_ = "/usr/share/novnc", webapp_dir_;
  bool web_origins_given_ = false;
  ums_metrics metrics_;
  std::string metrics_token_sha256_;  // empty: /metrics is off
  clock::time_point audit_failed_at_{};  // the last failed session record: /health says so for a minute
  void session_started(shadow_session& s);
  http_response health(const http_request& req) const;
  void refresh_metrics();
  device_groups groups_;
  auth auth_;
  audit_shipper shipper_;  // (before audit_: the journal's thread, which feeds it, stops first)
  clock::time_point audit_ship_resume_{};  // after a failed shipment, the next waits a little
  std::unique_ptr<audit_trail> audit_;  // opened at start()
  std::unique_ptr<recording_store> recordings_;  // opened at start()
  rendezvous rv_;
  std::unique_ptr<https_server> server_;
  std::map<std::string, device_record, std::less<>> devices_;
  std::map<std::string, device_record, std::less<>> read_devices(settings& s, bool demo, const device_groups& groups) const;
  static std::vector<device_groups::member> unknown_members(const device_groups& groups, const std::map<std::string, device_record, std::less<>>& configured,
                                                  const std::map<std::string, registry::device, std::less<>>& enrolled);
  up::link_registry<live_link> online_;  // verified links of the devices online now
  std::unique_ptr<device_certificates> certs_;  // opened at start()
  std::unique_ptr<registry> registry_;          // opened at start()
  std::map<std::string, registry::device, std::less<>> enrolled_;  // what the registry holds, by id, kept here for reloads
  std::vector<device_groups::member> unconfirmed_members_;  // group members not configured: enrolled, or a config error at start()
  std::string groups_path_;                       // where they are in the config, for that error
  net::thread_pool registry_thread_{1};         // the database blocks: never on the event loop
  int certificate_days_ = 365;
  // Failed device hellos by source address: the next hello from there waits before it is checked
  // (never refused: devices behind one NAT with a misconfigured one must still come in).
  failure_penalty hello_failures_{{.first = 250ms, .max = 5s, .forget_after = 10min, .max_keys = 4096}};
  // Login-shaped tokens no node knows, by source address: each costs the registry a lookup. From
  // the fifth such miss within two minutes on, the next unknown one from that address within the
  // wait is refused unasked (429); a stale cookie now and then, even behind a shared NAT, is not.
  failure_penalty unknown_tokens_{{.first = 100ms, .max = 5s, .forget_after = 2min, .max_keys = 4096}};
  static constexpr int unknown_tokens_allowed = 4;
  std::map<std::string, session_ptr, std::less<>> sessions_;
  struct ended_session {
    clock::time_point at;
    std::string id, user, ref, device;
    boost::json::object view;
  };
  std::deque<ended_session> recent_;  // newest last; bounded in number and age
  std::vector<std::unique_ptr<gateway>> gateways_;
  bool stopping_ = false;
  // The cluster (cluster_routing.cpp); no bus outside a cluster.
  struct relayed_session {
    std::string node, device;
  };
  std::unique_ptr<cluster_bus> bus_;
  std::optional<node_seal> seal_;  // (what nodes send one another is sealed: node_seal.hpp)
  std::map<std::string, relayed_session, std::less<>> relayed_;  // other nodes' sessions with devices linked here
  net::steady_timer cluster_timer_{env_.ex};                     // the next presence write and "alive"
  clock::time_point links_checked_{};                            // check_links(): when last (zero: due)
  std::map<std::string, std::optional<registry::presence>, std::less<>> presence_pending_;  // not yet written (nothing: offline)
  std::map<std::string, std::optional<registry::session_row>, std::less<>> sessions_pending_;  // (nothing: ended)
};

void register_ums(service_registry& r);
// The registry's administrators as auth takes them (administrators.cpp).
std::vector<auth::stored_administrator> stored_administrators(const std::vector<registry::administrator>& rows);
std::map<std::string, auth::stored_token, std::less<>> stored_tokens(const std::vector<registry::api_token>& rows);

}  // namespace shadowlink::ums
