#pragma once
// The UMS's registry of what administrators create at run time, in an embedded SQLite database
// (<data_dir>/<name>/registry.sqlite3, mode 0600): one-time enrollment keys and the devices
// enrolled with them. The schema is versioned; start-up applies the migrations the file has not
// seen yet, each in its own transaction. Every write is durable when it returns (WAL,
// synchronous=FULL): a UMS killed right after an enrollment still knows the device.
// Blocking (SQLite is): the UMS calls it on a thread of its own, never on the event loop.
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

struct sqlite3;

namespace shadowlink::ums {

class registry {
 public:
  static constexpr int schema_version = 3;

  // Opens (creating it if need be) and migrates; throws std::runtime_error naming the file.
  explicit registry(const std::filesystem::path& file);
  ~registry();
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  int version() const;

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

  // What an enrolled device last said about itself over a link the UMS accepted (its hello,
  // directly or relayed by a gateway), kept while it is offline.
  struct reported {
    std::string os, agent, peer, legacy_address, legacy_pin;
    std::int64_t at = 0;  // Unix seconds
    bool same_as(const reported& o) const {
      return os == o.os && agent == o.agent && peer == o.peer && legacy_address == o.legacy_address && legacy_pin == o.legacy_pin;
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
  std::vector<device> devices() const;
  void report(const std::string& id, const reported& r);
  // Removes an enrolled device; false if there is none by that id.
  bool remove_device(const std::string& id);

 private:
  void migrate();
  sqlite3* db_ = nullptr;
  std::string file_;
  mutable std::mutex m_;
};

}  // namespace shadowlink::ums
