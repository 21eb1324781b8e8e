#include "framework/config.hpp"

#include "framework/token.hpp"

#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>

namespace shadowlink {

settings::settings(simdjson::dom::object obj, std::string path) : node_(std::make_shared<node>()) {
  node_->obj = obj;
  node_->path = std::move(path);
  std::set<std::string_view> seen;
  for (auto field : obj)
    if (!seen.insert(field.key).second) reject(field.key, "given twice in one object (which one counts?)");
}

[[noreturn]] void settings::reject(std::string_view key, std::string_view why) const {
  throw config_error(node_->path + "." + std::string(key) + ": " + std::string(why));
}

bool settings::has(std::string_view key) const {
  simdjson::dom::element e;
  return node_->obj[key].get(e) == simdjson::SUCCESS;
}

std::optional<simdjson::dom::element> settings::get(std::string_view key) {
  node_->used.emplace(key);
  simdjson::dom::element e;
  if (node_->obj[key].get(e) != simdjson::SUCCESS) return std::nullopt;
  return e;
}

std::string settings::str(std::string_view key, std::string def) {
  auto e = get(key);
  if (!e) return def;
  std::string_view v;
  if (e->get(v) != simdjson::SUCCESS) reject(key, "expected a string");
  return std::string(v);
}

std::string settings::required_str(std::string_view key) {
  if (!has(key)) reject(key, "is required");
  auto v = str(key, {});
  if (v.empty()) reject(key, "must not be empty");
  return v;
}

std::int64_t settings::integer(std::string_view key, std::int64_t def, std::int64_t min, std::int64_t max) {
  auto e = get(key);
  if (!e) return def;
  std::int64_t v;
  if (e->get(v) != simdjson::SUCCESS || v < min || v > max)
    reject(key, "expected an integer in " + std::to_string(min) + ".." + std::to_string(max));
  return v;
}

void settings::seconds(std::string_view key, std::chrono::steady_clock::duration& field, std::int64_t min, std::int64_t max) {
  const auto def = std::chrono::duration_cast<std::chrono::seconds>(field).count();
  field = std::chrono::seconds(integer(key, def, min, max));
}

void settings::milliseconds(std::string_view key, std::chrono::steady_clock::duration& field, std::int64_t min, std::int64_t max) {
  const auto def = std::chrono::duration_cast<std::chrono::milliseconds>(field).count();
  field = std::chrono::milliseconds(integer(key, def, min, max));
}

bool settings::boolean(std::string_view key, bool def) {
  auto e = get(key);
  if (!e) return def;
  bool v;
  if (e->get(v) != simdjson::SUCCESS) reject(key, "expected true or false");
  return v;
}

std::string settings::secret(std::string_view key, bool allow_inline) {
  const std::string file_key = std::string(key) + "_file";
  if (has(key) && has(file_key)) reject(key, "give either " + std::string(key) + " or " + file_key + ", not both");
  if (has(key) && !allow_inline)
    reject(key, "plain-text secrets are refused in the main config: put it in a file only the service's user can read and name it in " + file_key);
  if (!has(file_key)) {
    if (!allow_inline) reject(file_key, "is required");
    return required_str(key);
  }
  const auto path = required_str(file_key);
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) reject(file_key, "cannot read " + path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) reject(file_key, path + " is not a regular file");
  if (st.st_mode & 077) reject(file_key, path + " is readable by others: chmod 600 it (only the service's user may read a secret)");
  if (st.st_size > 4096) reject(file_key, path + " is larger than 4 KiB: not a credential");
  std::ifstream in(path, std::ios::binary);
  std::string value((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in && !in.eof()) reject(file_key, "cannot read " + path);
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) value.pop_back();
  if (value.empty()) reject(file_key, path + " is empty");
  return value;
}

std::string settings::verifier(std::string_view key, bool allow_plain) {
  const std::string hash_key = std::string(key) + "_sha256";
  if (has(key) && has(hash_key)) reject(key, "give either " + std::string(key) + " or " + hash_key + ", not both");
  if (has(key)) {
    if (!allow_plain)
      reject(key, "plain-text secrets are refused: put \"" + hash_key + "\" (printf %s SECRET | sha256sum) here instead");
    auto plain = required_str(key);
    if (plain.size() < 16) reject(key, "must be at least 16 characters");
    return sha256_hex(plain);
  }
  auto hashed = required_str(hash_key);
  if (hashed.size() != 64 || hashed.find_first_not_of("0123456789abcdef") != std::string::npos)
    reject(hash_key, "expected 64 lowercase hex digits (printf %s SECRET | sha256sum)");
  return hashed;
}

std::vector<std::string> settings::strings(std::string_view key, std::vector<std::string> def) {
  auto e = get(key);
  if (!e) return def;
  simdjson::dom::array arr;
  if (e->get(arr) != simdjson::SUCCESS) reject(key, "expected an array of strings");
  std::vector<std::string> out;
  for (auto item : arr) {
    std::string_view v;
    if (item.get(v) != simdjson::SUCCESS) reject(key, "expected an array of strings");
    out.emplace_back(v);
  }
  return out;
}

std::vector<settings> settings::objects(std::string_view key) {
  if (auto known = node_->children.find(key); known != node_->children.end()) return known->second;
  auto out = read_objects(key);
  node_->children.emplace(std::string(key), out);
  return out;
}

std::vector<settings> settings::read_objects(std::string_view key) {
  auto e = get(key);
  if (!e) return {};
  simdjson::dom::array arr;
  if (e->get(arr) != simdjson::SUCCESS) reject(key, "expected an array of objects");
  std::vector<settings> out;
  std::size_t i = 0;
  for (auto item : arr) {
    simdjson::dom::object o;
    auto p = node_->path + "." + std::string(key) + "[" + std::to_string(i++) + "]";
    if (item.get(o) != simdjson::SUCCESS) throw config_error(p + ": expected an object");
    out.emplace_back(o, p);
  }
  return out;
}

std::optional<settings> settings::detached_object(std::string_view key) {
  auto e = get(key);
  if (!e) return std::nullopt;
  simdjson::dom::object o;
  if (e->get(o) != simdjson::SUCCESS) reject(key, "expected an object");
  return settings(o, node_->path + "." + std::string(key));
}

std::optional<settings> settings::object(std::string_view key) {
  // (The cache holds what object() put there: one entry. A key read both ways is a programming error.)
  if (auto known = node_->children.find(key); known != node_->children.end()) {
    if (known->second.size() != 1) reject(key, "read as an object and as a list of objects");
    return known->second.front();
  }
  auto o = detached_object(key);
  if (o) node_->children.emplace(std::string(key), std::vector<settings>{*o});
  return o;
}

void settings::finish() const {
  for (auto field : node_->obj)
    if (!node_->used.count(field.key)) reject(field.key, "unknown key");
  for (auto& [key, nested] : node_->children)
    for (auto& n : nested) n.finish();
}

config_file config_file::load(const std::string& path) {
  config_file c;
  simdjson::dom::element root;
  auto err = c.parser_->load(path).get(root);
  if (err == simdjson::IO_ERROR) throw config_error(path + ": cannot read the file");
  if (err) throw config_error(path + ": not valid JSON (" + std::string(simdjson::error_message(err)) + ")");
  c.read(root);
  return c;
}

config_file config_file::parse(std::string_view json) {
  config_file c;
  simdjson::dom::element root;
  auto err = c.parser_->parse(json.data(), json.size()).get(root);
  if (err) throw config_error(std::string("config: not valid JSON (") + simdjson::error_message(err) + ")");
  c.read(root);
  return c;
}

void config_file::read(simdjson::dom::element root) {
  simdjson::dom::object obj;
  if (root.get(obj) != simdjson::SUCCESS) throw config_error("config: the top level must be an object");
  settings top(obj, "config");
  log_level = top.str("log_level", log_level);
  if (log_level != "debug" && log_level != "info" && log_level != "warn" && log_level != "error")
    top.reject("log_level", "expected one of debug, info, warn, error");
  log_format = top.str("log_format", log_format);
  if (log_format != "text" && log_format != "json") top.reject("log_format", "expected text or json");
  data_dir = top.str("data_dir", data_dir);
  shutdown_grace_ms = top.integer("shutdown_grace_ms", shutdown_grace_ms, 0, 600000);
  if (!top.has("services")) top.reject("services", "is required (a list of service instances)");
  std::set<std::string> names;
  // A separate parser keeps one "{}" document alive for services given without settings.
  simdjson::dom::object none;
  if (empty_parser_->parse("{}", 2).get(none)) throw config_error("config: internal parser error");
  for (auto& s : top.objects("services")) {
    settings entry = s;
    auto type = entry.required_str("type");
    auto name = entry.str("name", type);
    if (!names.insert(name).second) entry.reject("name", "duplicate service name '" + name + "'");
    auto opts = entry.detached_object("settings");  // checked by create_services, once the service has read it
    if (!opts) {
      opts.emplace(none, entry.path() + ".settings");
    }
    services.push_back({type, name, *opts});
  }
  top.finish();
}

}  // namespace shadowlink
