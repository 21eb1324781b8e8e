#pragma once
// The UMS's registry of what administrators create at run time: one-time enrollment keys and the
// devices enrolled with them. In an embedded SQLite file (<data_dir>/<name>/registry.sqlite3, mode
// 0600) by default, or in a PostgreSQL database that several UMS nodes share. The schema is
// versioned; start-up applies the migrations the database has not seen yet, each in its own
// transaction. Every write is durable when it returns: a UMS killed right after an enrollment
// still knows the device.
// Blocking (both engines are): the UMS calls it on a thread of its own, never on the event loop.
#include "services/ums/rights.hpp"
#include "services/ums/sql_engine.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace shadowlink::ums {

// The registry's times: Unix seconds.
inline std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The client certificate a device holds, as the UMS issued it (device_certificates.hpp).
struct issued_certificate {
  std::string fingerprint;  // SHA-256 of the DER certificate (hex); empty after a revocation
  std::string previous;     // the certificate it replaced, still accepted until this one is presented
  std::string key;          // SHA-256 of its public key (SubjectPublicKeyInfo)
  std::string not_after;    // ISO 8601 UTC
  std::chrono::system_clock::time_point issued;
  std::vector<std::string> revoked_keys;  // never certified again (the latest 16)
};

class registry {
 public:
  static constexpr int schema_version = 12;

  // Migrates the database to `up_to` (the current version but in tests of migrations); throws
  // std::runtime_error naming the database.
  explicit registry(std::unique_ptr<sql_engine> db, int up_to = schema_version);
  // The PostgreSQL database `postgresql` names (a libpq connection string), or else the SQLite
  // file, created if need be; throws std::runtime_error naming it.
  static std::unique_ptr<registry> open(const std::string& postgresql, const std::filesystem::path& sqlite_file);
  ~registry();
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  int version() const;
  const std::string& where() const { return db_->where(); }

  struct enrollment_key {
    std::string id;      // the first 12 hex digits of the key's SHA-256: names it in lists and logs
    std::string folder;  // the device group enrolled devices join ("" for none)
    std::string created_by;
    std::int64_t created_at = 0, expires_at = 0;  // Unix seconds
    std::string used_by;                          // the device that enrolled with it ("" while unused)
    std::int64_t used_at = 0;
  };
  // A new key, valid until `expires_at`; only its hash is stored. Returns the key itself (shown
  // once, to whoever created it) and its entry.
  std::pair<std::string, enrollment_key> create_key(const std::string& folder, const std::string& created_by, std::int64_t now,
                                                    std::int64_t expires_at);
  std::vector<enrollment_key> keys() const;  // newest first
  // Removes a key that has not been used; false if there is no such unused key.
  bool delete_key(const std::string& id);

  // What an enrolled device last said about itself once it had proven who it is (its hello and
  // its settings, directly, by REST or relayed by a gateway), kept while it is offline. `peer` is
  // its address as the UMS or the gateway sees it; `ip` the one it reports (behind a NAT they differ).
  struct reported {
    std::string os, agent, peer, legacy_address, legacy_pin;
    std::int64_t at = 0;  // Unix seconds
    std::string name, mac, ip;
    bool same_as(const reported& o) const {
      return os == o.os && agent == o.agent && peer == o.peer && legacy_address == o.legacy_address && legacy_pin == o.legacy_pin &&
             name == o.name && mac == o.mac && ip == o.ip;
    }
  };
  struct device {
    std::string id, name, folder;
    std::string key_sha256;  // the key it enrolled with: its credential until it holds a certificate
    std::int64_t enrolled_at = 0;
    reported last;
  };
  // Enrolls `id` with `key` in one transaction: the key must be unused and unexpired, and the id
  // new; the key is then used up. The device, or why it was refused.
  std::variant<device, std::string> enroll(const std::string& key, const std::string& id, const std::string& name, std::int64_t now);
  std::vector<device> devices() const;  // by id
  std::optional<device> enrolled(const std::string& id) const;
  // Keeps what the device reported; a name it reported becomes its name.
  void report(const std::string& id, const reported& r);
  // A device of an earlier config (config_import.cpp), its credential's SHA-256 standing for the key
  // it would have enrolled with; false if the id is in the registry already.
  bool import_device(const std::string& id, const std::string& name, const std::string& folder, const std::string& credential_sha256,
                     std::int64_t now);
  // Removes an enrolled device; false if there is none by that id.
  bool remove_device(const std::string& id);

  // A cluster's nodes and where its devices are online (registry_cluster.cpp). A node says it is
  // alive every few seconds; a node not seen for a while (killed) is not where anything is.
  struct presence {
    std::string node, url;  // the node the device's link is on, and the node's own address
    std::string via;        // that node's name, or the gateway's the device is behind
    std::string os;
  };
  void node_alive(const std::string& node, const std::string& url, std::int64_t now);
  // Forgets nodes not seen since `before` (long gone: their names are told nothing any more).
  void forget_nodes(std::int64_t before);
  // Forgets what a node said was online on it and the sessions it ran (it starts: none are, yet).
  void clear_presence(const std::string& node);
  void set_presence(const std::string& device, const presence& where, std::int64_t now);
  // Only if it is still on `node`: a device that moved on to another node meanwhile stays there.
  void drop_presence(const std::string& device, const std::string& node);
  // Several changes of one node's devices in one transaction (online: where; offline: nothing).
  void change_presence(const std::string& node, const std::vector<std::pair<std::string, std::optional<presence>>>& changes, std::int64_t now);
  // Where the device is online, on a node seen at `alive_since` or later.
  std::optional<presence> presence_of(const std::string& device, std::int64_t alive_since) const;
  std::map<std::string, presence, std::less<>> presences(std::int64_t alive_since) const;
  // The sessions a node runs (its own rows only), changed in one transaction; those of the nodes
  // seen at `alive_since` or later.
  struct session_row {
    std::string id, node, device, user, via;
    bool view_only = false;
    std::string state;
    std::int64_t created = 0;
  };
  void change_sessions(const std::string& node, const std::vector<std::pair<std::string, std::optional<session_row>>>& changes);
  std::vector<session_row> sessions(std::int64_t alive_since) const;
  // Nodes seen at `alive_since` or later, by name, with their addresses.
  std::map<std::string, std::string, std::less<>> nodes(std::int64_t alive_since) const;
  // Device certificates (registry_certificates.cpp): every device's record, one device's (none:
  // never issued), and a record written whole.
  std::map<std::string, issued_certificate, std::less<>> certificates() const;
  std::optional<issued_certificate> certificate(const std::string& device) const;
  void put_certificate(const std::string& device, const issued_certificate& c);
  // Writes `c` only if the record is still `expected` (nothing: no record), in one transaction
  // under the registry's write lock: a change decided from a record that another request or node
  // changed meanwhile (a revocation) is not written over it. False if it was not written.
  bool replace_certificate(const std::string& device, const std::optional<issued_certificate>& expected, const issued_certificate& c);

  // The cluster's audit trail (registry_audit.cpp): each node adds the records (JSON lines) its
  // own trail wrote; one already there (the same node and text) is not added twice. Row by row,
  // without the write lock (each row stands alone): other nodes' writes never wait for a backlog.
  // Returns the latest time among them.
  std::string add_audit(const std::string& node, const std::vector<std::string>& lines);
  // The time of the node's latest record ("" for none): where it takes up again after a restart.
  std::string audit_latest(const std::string& node) const;
  // Every node's records matching (empty: anything; times are ISO 8601 UTC, compared as text), the
  // latest `limit`, oldest first, each with "node" added.
  std::vector<std::string> audit(const std::string& device, const std::string& user, const std::string& since, const std::string& until,
                                 std::size_t limit) const;

  // The folder tree, rights on its folders and groups of administrators (registry_folders.cpp),
  // read whole; every change counts up their revision in its own transaction, under the write
  // lock, so a node that sees a new revision reads them again.
  folder_rules rules() const;
  std::int64_t rules_revision() const;
  std::map<std::string, std::string, std::less<>> device_folders() const;
  // The database server's clock, Unix milliseconds (the cluster's clock: registry_cluster.cpp).
  std::int64_t database_time_ms() const;  // every enrolled device's folder, by id
  // Each returns why it changed nothing (nothing: done).
  // A folder below an existing one (or the root).
  std::optional<std::string> add_folder(const std::string& path, const std::string& by, std::int64_t now);
  // An empty folder: no folders, devices or unused enrollment keys in it; its rights go with it.
  std::optional<std::string> remove_folder(const std::string& path);
  // A folder's own policy: what is given changes (a consent of nullopt inside: none of its own).
  std::optional<std::string> set_folder_policy(const std::string& path, std::optional<std::optional<up::consent_policy>> consent,
                                               std::optional<bool> record);
  // An enrolled device into an existing folder ("": the root): the folder it was in, or why not.
  struct moved {
    std::string from;
  };
  // Only from `from` (where the decision to move it saw it): one moved meanwhile stays.
  std::variant<moved, std::string> move_device(const std::string& id, const std::string& folder, const std::string& from);
  std::optional<std::string> put_rule(const folder_rule& r);  // (granted or denied: the rule replaces one for the same subject, folder and right)
  bool remove_rule(const std::string& subject, const std::string& folder, folder_right r);
  bool add_member(const std::string& group, const std::string& user);
  bool remove_member(const std::string& group, const std::string& user);

  // Administrators made at run time (registry_logins.cpp); a change counts up the rules' revision
  // (every node reads them with the rights). `role` is admin, operator or auditor.
  struct administrator {
    std::string name, role, password_hash, created_by;
    std::int64_t created_at = 0;
  };
  std::vector<administrator> administrators() const;
  std::optional<std::string> add_administrator(const administrator& a);  // why not (nothing: added)
  // Removed (with the rights that name them and their memberships), or given a new password: their
  // logins end with it. False: no such administrator.
  bool remove_administrator(const std::string& name);
  bool set_password(const std::string& name, const std::string& password_hash);

  // API tokens for automation, by their SHA-256 (the token itself is never stored), each acting as
  // an administrator (registry_logins.cpp). Few: every node reads them whole with the rules, whose
  // revision a change counts up, and removing the administrator removes them.
  struct api_token {
    std::string sha256, user, created_by;
    std::int64_t created_at = 0, expires_at = 0;
    std::string id() const { return sha256.substr(0, 12); }  // (what lists show, and delete takes)
  };
  std::vector<api_token> api_tokens() const;
  std::optional<std::string> add_api_token(const api_token& t);  // why not (nothing: added)
  bool remove_api_token(const std::string& id);                 // false: none has that id

  // Every node's logins, by the SHA-256 of their token (the token itself is never stored).
  struct login {
    std::string user;
    std::int64_t expires = 0, last_used = 0;  // Unix seconds
    std::string password;  // which password it was made with (auth::password_fingerprint)
  };
  // (Expired logins are dropped here: the table holds those of the last hours only.)
  void add_login(const std::string& token_sha256, const login& l, std::int64_t now);
  // The login, if it has not expired nor been idle longer than `idle_s` (counting a use at a node,
  // `used_here`, that the registry has not seen yet, which it then keeps); an ended one is removed.
  std::optional<login> check_login(const std::string& token_sha256, std::int64_t used_here, std::int64_t now, std::int64_t idle_s);
  void remove_login(const std::string& token_sha256);
  void remove_logins_of(const std::vector<std::string>& users);

  // PostgreSQL only: a notification on `channel` (LISTEN/NOTIFY), delivered once sent.
  void notify(const std::string& channel, const std::string& payload);

 private:
  void migrate(int up_to);
  // A change of the folders, rights, groups, administrators or devices' folders: `body` runs under
  // the lock in a write transaction; unless it says why not, the rules' revision counts up (every
  // node reads them again) and the change is committed.
  std::optional<std::string> change_rules(const std::function<std::optional<std::string>()>& body);
  std::optional<issued_certificate> certificate_unlocked(const std::string& device) const;
  void put_certificate_unlocked(const std::string& device, const issued_certificate& c);
  std::unique_ptr<sql_engine> db_;
  mutable std::mutex m_;
};

}  // namespace shadowlink::ums
