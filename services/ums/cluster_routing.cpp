// Several UMS nodes on one PostgreSQL database. Each node writes which of its devices are online
// (the registry's presence table) and says every few seconds that it is alive. A console or a
// browser may reach any node; when the device's UP link is on another node, the session still
// runs where it was asked for: that node sends step 2 to the device's node, which passes it down
// the device's link and passes the device's answers back. The device opens its tunnel to the
// session's node (the request's tunnel URL names it), so the VNC data crosses no second node.
#include "framework/log.hpp"
#include "framework/offload.hpp"
#include "services/ums/ums_service.hpp"

#include <boost/json.hpp>

#include <cstdlib>

namespace shadowlink::ums {
namespace json = boost::json;

namespace {
constexpr auto node_heartbeat = 5s;
constexpr auto presence_every = 1s;            // how often presence changes are written
constexpr std::size_t presence_batch = 1000;  // changes a transaction
// How often the links held here are checked against the registry (and at every reconnection of
// the bus): another node's word that a certificate was revoked or a device removed may be lost.
constexpr auto links_check_every = 30s;
// A node not heard from in three heartbeats is dead (killed, or cut off from the database): where
// its devices were, they are not any more.
constexpr std::int64_t node_alive_s = 15;
std::int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
// A database clock read that took longer than this says too little about the time it was read at.
constexpr std::int64_t clock_read_max_ms = 2000;
// Bounds the sessions relayed for other nodes (each ends with the device's answer or its end).
constexpr std::size_t max_relayed = 4096;
// After a failed audit shipment (the records are read again from the file): not every second.
constexpr auto audit_retry_after = 10s;
}  // namespace

std::int64_t ums_service::cluster_now_ms() const { return unix_now_ms() + clock_offset_ms_.load(); }

void ums_service::set_cluster_clock() {
  const auto before = unix_now_ms();
  const auto server = registry_->database_time_ms();
  const auto after = unix_now_ms();
  if (after - before > clock_read_max_ms) return;
  const auto offset = server - (before + after) / 2;
  // Said once when it matters (the liveness window is 15 s), not at every heartbeat.
  if (std::abs(offset) >= 5000 && std::abs(offset - clock_offset_ms_.load()) >= 1000)
    log::warn(name_, "this node's clock is ", (std::abs(offset) + 500) / 1000, " s ", offset < 0 ? "ahead of" : "behind",
              " the database server's: the cluster's times follow the database server");
  clock_offset_ms_ = offset;
}

void ums_service::start_cluster() {
  if (cfg_.postgresql.empty()) return;
  set_cluster_clock();
  // (On the event loop, once, at start: as the registry's other start-up reads.) Two nodes under
  // one name would take each other's devices and messages.
  const auto alive = registry_->nodes(cluster_now() - node_alive_s);
  if (auto same = alive.find(cfg_.node); same != alive.end() && same->second != cfg_.listener.public_url)
    throw config_error(name_ + ".node: node " + cfg_.node + " is already in the cluster, at " + same->second + ": give each node a name of its own");
  registry_->node_alive(cfg_.node, cfg_.listener.public_url, cluster_now());
  registry_->clear_presence(cfg_.node);  // what it had online before a restart, it has not now
  registry_->forget_nodes(cluster_now() - 7 * 24 * 3600);
  shipper_.start(registry_->audit_latest(cfg_.node));
  audit_->on_written([this](std::string_view lines) { shipper_.written(lines); });
  seal_ = node_seal::from_ca_key(env_.shared_dir / "ca.key");
  bus_ = std::make_unique<cluster_bus>(cfg_.postgresql, cfg_.node);
  online_.on_attached = [this](const std::string& id, const up::link_registry<live_link>::entry& now) { presence_changed(id, &now.info); };
  env_.tasks.spawn(bus_->run([this](std::string_view payload) { on_node_message(payload); }, [this] { links_checked_ = {}; }),
                   name_ + "/cluster");
  env_.tasks.spawn(keep_node_alive(), name_ + "/cluster");
  log::info(name_, "cluster node ", cfg_.node, " at ", cfg_.listener.public_url);
}

// (keep_node_alive() then leaves: its last write, after every write queued before it.)
void ums_service::leave_cluster() {
  cluster_timer_.cancel();
  if (bus_) bus_->stop();
}

awaitable<void> ums_service::keep_node_alive() {
  auto said_alive = clock::now();
  while (!stopping_) {
    cluster_timer_.expires_after(presence_every);
    auto [ec] = co_await cluster_timer_.async_wait(use_tuple);
    if (ec || stopping_) break;
    // "Alive" first: a slow batch of presence or session rows must not make the others think this node dead.
    if (clock::now() - said_alive >= node_heartbeat) {
      said_alive = clock::now();
      try {
        std::function<bool()> alive = [this] {
          set_cluster_clock();
          registry_->node_alive(cfg_.node, cfg_.listener.public_url, cluster_now());
          return true;
        };
        co_await offload(registry_thread_, std::move(alive));
      } catch (const std::exception& e) {
        log::warn(name_, "cluster: cannot tell the database this node is alive: ", e.what());
      }
    }
    if (stopping_) break;
    co_await write_presence();
    if (stopping_) break;
    co_await ship_audit();
    if (stopping_) break;
    co_await read_rules(false);  // (changed through another node)
    if (stopping_) break;
    if (clock::now() - links_checked_ >= links_check_every) {
      links_checked_ = clock::now();
      co_await check_links();
    }
  }
  // Stopping: the others send nothing more here and list nothing of this node's; what this node's
  // trail wrote last is theirs to read too.
  audit_ship_resume_ = {};
  co_await ship_audit();
  try {
    std::function<bool()> leave = [this] {
      registry_->node_alive(cfg_.node, cfg_.listener.public_url, 0);
      registry_->clear_presence(cfg_.node);
      return true;
    };
    co_await offload(registry_thread_, std::move(leave));
  } catch (const std::exception& e) {
    log::warn(name_, "cluster: cannot tell the database this node stops (the others will notice within ", node_alive_s, " s): ", e.what());
  }
}

// Written together, a batch at a time: thousands of devices coming online at once (a node's
// start, another node's devices after it died) make a few transactions a second, not thousands.
void ums_service::presence_changed(const std::string& device, const live_link* now) {
  if (!clustered()) return;
  std::optional<registry::presence> where;
  if (now) {
    const auto via = now->gw ? now->connector : cfg_.node;
    where = registry::presence{cfg_.node, cfg_.listener.public_url, via, devices_.contains(device) ? devices_.at(device).os : ""};
  }
  presence_pending_.insert_or_assign(device, std::move(where));  // (the latest change of a device is the one that counts)
}

void ums_service::session_listed(const shadow_session& s, bool running) {
  if (!clustered()) return;
  std::optional<registry::session_row> row;
  if (running) {
    const auto age = std::chrono::duration_cast<std::chrono::seconds>(clock::now() - s.created).count();
    row = registry::session_row{s.id, cfg_.node, s.device_id, s.user, s.via, s.view_only, s.started == clock::time_point{} ? "setting up" : "active",
                                cluster_now() - age};
  }
  sessions_pending_.insert_or_assign(s.id, std::move(row));
}

awaitable<std::vector<registry::session_row>> ums_service::other_nodes_sessions() {
  std::vector<registry::session_row> out;
  if (!clustered()) co_return out;
  std::function<std::vector<registry::session_row>()> read = [this] { return registry_->sessions(cluster_now() - node_alive_s); };
  try {
    out = co_await offload(registry_thread_, std::move(read));
  } catch (const std::exception& e) {
    log::warn(name_, "cluster: cannot read the other nodes' sessions: ", e.what());
  }
  std::erase_if(out, [this](const registry::session_row& r) { return r.node == cfg_.node; });
  co_return out;
}

awaitable<void> ums_service::write_presence() {
  if (!sessions_pending_.empty()) {
    std::vector<std::pair<std::string, std::optional<registry::session_row>>> batch;
    for (auto& [id, row] : sessions_pending_) batch.emplace_back(id, std::move(row));
    sessions_pending_.clear();
    std::function<bool()> write = [this, &batch] {
      registry_->change_sessions(cfg_.node, batch);
      return true;
    };
    try {
      co_await offload(registry_thread_, std::move(write));
    } catch (const std::exception& e) {
      log::warn(name_, "cluster: cannot record this node's ", batch.size(), " session change(s) (trying again): ", e.what());
      for (auto& [id, row] : batch) sessions_pending_.try_emplace(id, std::move(row));
    }
  }
  while (!presence_pending_.empty() && !stopping_) {
    std::vector<std::pair<std::string, std::optional<registry::presence>>> batch;
    while (!presence_pending_.empty() && batch.size() < presence_batch) {
      auto first = presence_pending_.begin();
      batch.emplace_back(first->first, std::move(first->second));
      presence_pending_.erase(first);
    }
    std::function<bool()> write = [this, &batch] {
      registry_->change_presence(cfg_.node, batch, cluster_now());
      return true;
    };
    try {
      co_await offload(registry_thread_, std::move(write));
    } catch (const std::exception& e) {
      log::warn(name_, "cluster: cannot record where ", batch.size(), " device(s) are online (trying again): ", e.what());
      for (auto& [device, where] : batch) presence_pending_.try_emplace(device, std::move(where));  // (unless changed since)
      co_return;
    }
  }
}

awaitable<void> ums_service::ship_audit() {
  if (clock::now() < audit_ship_resume_) co_return;
  auto b = shipper_.take();
  try {
    if (b.read_again) b.lines = co_await audit_->lines_since(shipper_.since(), audit_shipper::per_shipment);
    if (b.lines.empty()) co_return;
    const bool full = b.read_again && b.lines.size() == audit_shipper::per_shipment;
    std::function<std::string()> add = [this, &b] { return registry_->add_audit(cfg_.node, b.lines); };
    shipper_.shipped(co_await offload(registry_thread_, std::move(add)), full);
  } catch (const std::exception& e) {
    log::warn(name_, "cluster: cannot add audit records to the database (they are in this node's file; trying again): ", e.what());
    shipper_.failed();
    audit_ship_resume_ = clock::now() + audit_retry_after;
  }
}

awaitable<void> ums_service::check_links() {
  struct now_known {
    std::map<std::string, issued_certificate, std::less<>> certificates;
    std::map<std::string, std::string, std::less<>> enrolled;  // id: its key's hash
    std::set<std::string, std::less<>> nodes;
  };
  std::function<now_known()> read = [this] {
    now_known k{registry_->certificates(), {}, {}};
    for (auto& d : registry_->devices()) k.enrolled.emplace(std::move(d.id), std::move(d.key_sha256));
    for (auto& [node, url] : registry_->nodes(cluster_now() - node_alive_s)) k.nodes.insert(node);
    return k;
  };
  now_known k;
  const auto read_from = cluster_now();  // (a device enrolled since is not in what is read)
  try {
    k = co_await offload(registry_thread_, std::move(read));
  } catch (const std::exception& e) {
    log::warn(name_, "cluster: cannot check the links held here against the registry: ", e.what());
    co_return;
  }
  // (Decided from what was read, not from the view here: a hello reads a device's record anew anyway.)
  auto accepted = [&k](const std::string& id, const std::string& fingerprint) {
    auto c = k.certificates.find(id);
    return c != k.certificates.end() && !c->second.fingerprint.empty() && (c->second.fingerprint == fingerprint || c->second.previous == fingerprint);
  };
  std::vector<std::pair<std::string, std::string>> revoked;  // (device, the fingerprint its link was opened by)
  std::vector<std::string> removed;
  for (const auto& [id, e] : online_.entries())
    if (!e.info.fingerprint.empty() && !accepted(id, e.info.fingerprint)) revoked.emplace_back(id, e.info.fingerprint);
  // Enrolled devices known here, linked or not, that the registry no longer has (or has enrolled
  // anew, with another key): removed through another node while this one was not listening.
  for (const auto& [id, d] : devices_)
    if (is_enrolled(d) && enrolled_.at(id).enrolled_at < read_from)
      if (auto now = k.enrolled.find(id); now == k.enrolled.end() || now->second != d.credential_sha256) removed.push_back(id);
  for (const auto& [id, fingerprint] : revoked) {
    log::warn(name_, "device ", id, ": the certificate its link was opened by is no longer accepted: closing it");
    drop_device(id, fingerprint, "device certificate revoked", true);
  }
  for (const auto& id : removed) {
    drop_device(id, "", "device removed", true);
    forget_enrolled(id, "no longer in the registry");
  }
  // Sessions relayed for a node that died will hear no end from it.
  std::erase_if(relayed_, [&k](const auto& r) { return !k.nodes.contains(r.second.node); });
}

awaitable<std::optional<registry::presence>> ums_service::where_is(std::string device) {
  if (!clustered()) co_return std::nullopt;
  std::function<std::optional<registry::presence>()> read = [this, device] { return registry_->presence_of(device, cluster_now() - node_alive_s); };
  std::optional<registry::presence> p;
  try {
    p = co_await offload(registry_thread_, std::move(read));
  } catch (const std::exception& e) {
    log::warn(name_, "cluster: cannot read where device ", device, " is online: ", e.what());
  }
  // (Its link here just ended, and the row saying so is being deleted: it is offline.)
  if (p && p->node == cfg_.node) p.reset();
  co_return p;
}

awaitable<std::map<std::string, registry::presence, std::less<>>> ums_service::cluster_presence() {
  if (!clustered()) co_return std::map<std::string, registry::presence, std::less<>>{};
  std::function<std::map<std::string, registry::presence, std::less<>>()> read = [this] {
    return registry_->presences(cluster_now() - node_alive_s);
  };
  try {
    co_return co_await offload(registry_thread_, std::move(read));
  } catch (const std::exception& e) {
    log::warn(name_, "cluster: cannot read where the devices are online: ", e.what());
  }
  co_return std::map<std::string, registry::presence, std::less<>>{};
}

awaitable<ums_service::shadow_admission> ums_service::where_to_shadow(std::string device) {
  shadow_admission a;
  const auto refuse = [&a](http::status status, std::string why) {
    a.status = status;
    a.refusal = std::move(why);
    return a;
  };
  if (!devices_.contains(device)) co_return refuse(http::status::not_found, "unknown device");
  if (auto* live = online_.find(device)) {
    a.gw = live->info.gw;
    a.os = devices_.at(device).os;
  } else {
    // In a cluster the device's link may be on another node: the session is made here all the same.
    auto p = co_await where_is(device);
    if (!devices_.contains(device)) co_return refuse(http::status::not_found, "unknown device");  // (a reload meanwhile)
    if (!p) co_return refuse(http::status::conflict, "device is offline");
    a.os = p->os;
    if (p->via != p->node) {
      // Behind a gateway, announced to another node: this node asks the gateway on its own link.
      a.gw = gateway_named(p->via);
      if (!a.gw || !a.gw->link)
        co_return refuse(http::status::conflict, "device is behind gateway " + p->via + ", which node " + cfg_.node + " is not linked to: ask node " + p->node);
    } else {
      a.elsewhere = std::move(p);
    }
  }
  if (!devices_.at(device).busy_with.empty()) co_return refuse(http::status::conflict, "device is already being shadowed");
  co_return a;
}

awaitable<void> ums_service::send_to_node(std::string node, std::string what, std::string device, up::message m, std::string by) {
  json::object envelope{{"from", cfg_.node}, {"what", what}, {"device", device}, {"up", up::serialize(m)}};
  if (!by.empty()) envelope["by"] = by;
  const auto payload = seal_->seal(json::serialize(envelope), cluster_now_ms());
  // PostgreSQL's limit for a notification is 8000 bytes; these are a few hundred.
  if (payload.size() > 7900) throw std::length_error("message for node " + node + " too long");
  std::function<bool()> send = [this, channel = cluster_bus::channel_of(node), payload] {
    registry_->notify(channel, payload);
    return true;
  };
  co_await offload(registry_thread_, std::move(send));
}

void ums_service::post_to_node(const std::string& node, std::string_view what, const std::string& device, const up::message& m, std::string by) {
  env_.tasks.spawn(
      [](ums_service& self, std::string node, std::string what, std::string device, up::message m, std::string by) -> awaitable<void> {
        try {
          co_await self.send_to_node(node, what, device, std::move(m), std::move(by));
        } catch (const std::exception& e) {
          log::warn(self.name_, "cluster: cannot pass device ", device, "'s message to node ", node, ": ", e.what());
        }
      }(*this, node, std::string(what), device, m, std::move(by)),
      name_ + "/cluster");
}

// From another node, through the database: its sessions' step 2 and end for devices linked here,
// or (for sessions here) the device's answers its node passes back.
void ums_service::on_node_message(std::string_view sealed) {
  auto opened = seal_->open(sealed, cluster_now_ms());
  if (!opened.message) {
    log::warn(name_, "cluster: refused a message on this node's channel: ", opened.refusal, " (", sealed.substr(0, 80), ")");
    return;
  }
  const std::string_view payload = *opened.message;
  std::string from, what, device, by;
  up::message m;
  try {
    auto v = json::parse(payload).as_object();
    if (auto* b = v.if_contains("by")) by = json::value_to<std::string>(*b);
    from = json::value_to<std::string>(v.at("from"));
    what = json::value_to<std::string>(v.at("what"));
    device = json::value_to<std::string>(v.at("device"));
    m = up::parse(json::value_to<std::string>(v.at("up")));
  } catch (const std::exception& e) {
    log::warn(name_, "cluster: unreadable message from another node: ", e.what());
    return;
  }
  if (what == "ask") return ask_for_node(from, device, std::move(m));
  if (what == "report") return session_report(device, m, from);
  if (what == "end") {
    auto r = relayed_.find(m.session_id);
    if (r == relayed_.end() || r->second.node != from || r->second.device != device) return;
    relayed_.erase(r);
    if (auto* e = online_.find(device); e && !e->info.gw) e->l->send(m);
    return;
  }
  if (what == "drop") return drop_device(device, m.fingerprint, m.reason, true);
  if (what == "stop") {
    // An administrator at another node ended one of this node's sessions (that node checked the rights).
    auto s = sessions_.find(m.session_id);
    if (s == sessions_.end() || s->second->device_id != device || by.empty()) return;
    env_.tasks.spawn(
        [](ums_service& self, session_ptr s, std::string by) -> awaitable<void> {
          json::object details{{"by", by}};  // (named: g++ 12 and temporaries in a co_await expression)
          try {
            co_await self.audit_->session("session_end_requested", *s, std::move(details));
          } catch (const system_error& e) {
            log::error(self.name_, "audit trail: cannot record that ", by, " ended ", s->id, ": ", e.what());
          }
          log::info(self.name_, "session ", s->id, " ended by ", by);
          s->stop("ended by " + by);
        }(*this, s->second, by + " at node " + from),
        scope(*s->second));
    return;
  }
  if (what == "forget") {
    drop_device(device, m.fingerprint, m.reason, true);
    return forget_enrolled(device, m.reason);
  }
  log::warn(name_, "cluster: unknown message '", what.substr(0, 32), "' from node ", from);
}

void ums_service::tell_other_nodes(const std::string& device, std::string what, const std::string& fingerprint, const std::string& why) {
  if (!clustered()) return;
  up::message m;
  m.type = up::kind::device_revoked;  // (its words: which device, the certificate that opens nothing any more, and why)
  m.device_id = device;
  m.fingerprint = fingerprint;
  m.reason = why;
  env_.tasks.spawn(
      [](ums_service& self, std::string device, std::string what, up::message m) -> awaitable<void> {
        std::function<std::map<std::string, std::string, std::less<>>()> read = [&self] { return self.registry_->nodes(0); };
        std::map<std::string, std::string, std::less<>> nodes;
        try {
          nodes = co_await offload(self.registry_thread_, std::move(read));
        } catch (const std::exception& e) {
          log::warn(self.name_, "cluster: cannot tell the other nodes about device ", device, ": ", e.what());
        }
        for (const auto& [node, url] : nodes)
          if (node != self.cfg_.node) self.post_to_node(node, what, device, m);
      }(*this, device, std::move(what), std::move(m)),
      name_ + "/cluster");
}

// Step 2 of a session on node `from` for a device linked here: down the device's link, and its
// answers back to `from` (session_report).
void ums_service::ask_for_node(const std::string& from, const std::string& device, up::message req) {
  auto refuse = [&](std::string why) {
    up::message no;
    no.type = up::kind::shadow_refused;
    no.session_id = req.session_id;
    no.reason = std::move(why);
    post_to_node(from, "report", device, no);
  };
  auto* e = online_.find(device);
  if (req.type != up::kind::shadow_request || !e || e->info.gw) return refuse("device is no longer linked to node " + cfg_.node);
  if (relayed_.size() >= max_relayed) return refuse("node " + cfg_.node + " relays too many sessions");
  if (!req.password.empty()) {
    // An OS 11 session: the password is derived from the nonce that came (ask_device_legacy).
    auto d = devices_.find(device);
    if (d == devices_.end() || d->second.legacy_address.empty() || d->second.legacy_pin.empty())
      return refuse("the device has not reported its legacy port and certificate");
    req.password = seal_->session_password(req.session_id, req.password);
  }
  log::info(name_, "device ", device, ": shadow request ", req.session_id, " of node ", from);
  relayed_[req.session_id] = {from, device};
  if (!e->l->send(req)) {
    relayed_.erase(req.session_id);
    refuse("device link is congested");
  }
}

// A device's message about session `m.session_id`: from its own link here (`from_node` empty), or
// passed back by the node its link is on. A session another node asked for is passed on to it.
void ums_service::session_report(const std::string& device, const up::message& m, const std::string& from_node) {
  auto s = sessions_.find(m.session_id);
  if (s == sessions_.end()) {
    auto r = relayed_.find(m.session_id);
    if (!from_node.empty() || r == relayed_.end() || r->second.device != device) return;
    // The device's yes carries what its link here says of its OS 11 port: where the session's
    // node connects to it, and the certificate it must find there.
    auto passed = m;
    if (auto d = devices_.find(device); m.type == up::kind::shadow_accepted && d != devices_.end()) {
      passed.address = d->second.legacy_address;
      passed.pin = d->second.legacy_pin;
    }
    post_to_node(r->second.node, "report", device, passed);
    if (m.type == up::kind::shadow_refused || m.type == up::kind::shadow_ended) relayed_.erase(r);
    return;
  }
  auto& session = *s->second;
  // Only the device the session is for may answer for it, and only through the node it is linked to.
  if (session.device_id != device || session.device_node != from_node) return;
  switch (m.type) {
    case up::kind::heartbeat:
      session.last_report = clock::now();
      return;
    case up::kind::shadow_asking:
      return device_asking(session);
    case up::kind::tunnel_arrived:  // OS 11: the viewer reached the device's legacy port
      session.reports.post(m);
      return;
    case up::kind::shadow_ended:
      log::info(scope(session), "device reports the session ended: ", m.reason);
      session.reports.post(m);
      // (Its link on the other node ended before its tunnel came: nothing else will tell us.)
      if (!from_node.empty() && !session.active) session.stop(m.reason);
      return;
    case up::kind::shadow_accepted:
    case up::kind::shadow_refused:
      session.device_answer.deliver(m);
      return;
    default:
      return;
  }
}

}  // namespace shadowlink::ums
