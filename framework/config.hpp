#pragma once
// Configuration: JSON parsed with simdjson (DOM), validated as it is read. Every error names the
// offending key ("services[1].settings.port: expected an integer in 1..65535"); keys nobody
// asked for are errors too (settings::finish, which also checks every nested object read through
// object()/objects(), so a typo in a nested entry cannot pass silently), and so is a key given
// twice in one object (JSON allows it, a reader would silently take one of them).
#include <simdjson.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace shadowlink {

struct config_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class settings {
 public:
  // Throws config_error naming the first key that appears twice.
  settings(simdjson::dom::object obj, std::string path);

  std::string str(std::string_view key, std::string def);
  std::string required_str(std::string_view key);
  std::int64_t integer(std::string_view key, std::int64_t def, std::int64_t min, std::int64_t max);
  std::uint16_t port(std::string_view key, std::uint16_t def) {
    return static_cast<std::uint16_t>(integer(key, def, 0, 65535));
  }
  bool boolean(std::string_view key, bool def);
  // Read into the field they configure, whose initializer is the default: each default is written
  // once, next to the field, not again at the key.
  template <class Int>
  void number(std::string_view key, Int& field, std::int64_t min, std::int64_t max) {
    field = static_cast<Int>(integer(key, static_cast<std::int64_t>(field), min, max));
  }
  void seconds(std::string_view key, std::chrono::steady_clock::duration& field, std::int64_t min, std::int64_t max);
  void milliseconds(std::string_view key, std::chrono::steady_clock::duration& field, std::int64_t min, std::int64_t max);
  std::vector<std::string> strings(std::string_view key, std::vector<std::string> def);
  // A secret the process presents (its credential): from the file named by KEY_file, which only
  // its owner may read (trailing whitespace dropped). Inline as KEY only where `allow_inline` (the
  // demo, whose config is printed on screen): the main config is read by more people and tools.
  std::string secret(std::string_view key, bool allow_inline);
  // What the process checks a peer's secret against: KEY_sha256 (64 lowercase hex digits), or KEY
  // in plain text (at least 16 characters, hashed here) only where `allow_plain`. Returns the hex hash.
  std::string verifier(std::string_view key, bool allow_plain);
  // Nested objects: checked by this object's finish(). Asking again for the same key gives the
  // same objects (copies of a settings share what was read), so two readers of one entry add up.
  std::vector<settings> objects(std::string_view key);  // array of objects; empty if absent
  std::optional<settings> object(std::string_view key);
  // A nested object that its own reader checks with its own finish() (a service's settings,
  // read after the file is): this object's finish() leaves it alone.
  std::optional<settings> detached_object(std::string_view key);
  bool has(std::string_view key) const;

  // Throws config_error for any key that no accessor asked for, here or in a nested object.
  void finish() const;
  const std::string& path() const { return node_->path; }
  [[noreturn]] void reject(std::string_view key, std::string_view why) const;

 private:
  struct node {
    simdjson::dom::object obj;
    std::string path;
    std::set<std::string, std::less<>> used;
    std::map<std::string, std::vector<settings>, std::less<>> children;
  };
  std::optional<simdjson::dom::element> get(std::string_view key);
  std::vector<settings> read_objects(std::string_view key);

  std::shared_ptr<node> node_;
};

struct service_config {
  std::string type;
  std::string name;
  settings options;
};

class config_file {
 public:
  // From a file or from JSON text; throws config_error.
  static config_file load(const std::string& path);
  static config_file parse(std::string_view json);

  std::string log_level = "info";
  std::string log_format = "text";  // or "json": one object per line
  std::string data_dir = "shadowlink-data";
  std::int64_t shutdown_grace_ms = 3000;
  std::vector<service_config> services;

 private:
  void read(simdjson::dom::element root);
  std::unique_ptr<simdjson::dom::parser> parser_ = std::make_unique<simdjson::dom::parser>();
  std::unique_ptr<simdjson::dom::parser> empty_parser_ = std::make_unique<simdjson::dom::parser>();
};

}  // namespace shadowlink
