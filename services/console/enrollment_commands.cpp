// enrollment-key create | list | delete: the one-time keys new devices enroll with.
#include "services/console/commands.hpp"

#include <boost/json.hpp>

#include <cstdio>
#include <iostream>

namespace shadowlink::console {
namespace json = boost::json;

awaitable<int> cmd_enrollment_key(client& c, const options& o) {
  if (o.device == "create") {
    json::object request{{"valid_for_s", o.valid_for}};
    if (!o.folder.empty()) request["folder"] = o.folder;
    auto res = co_await c.call(http::verb::post, "/api/v1/enrollment-keys", json::serialize(request));
    if (res.result() != http::status::created) throw cli_error("cannot make an enrollment key: " + c.error_of(res));
    auto doc = c.parse(res);
    if (o.json) {
      std::cout << simdjson::minify(doc) << "\n";
      co_return 0;
    }
    std::string_view key, id, expires;
    if (doc["key"].get(key) || doc["id"].get(id) || doc["expires_at"].get(expires)) throw cli_error("the server's answer has no key");
    // The key alone on standard output (a script writes it to the device's enrollment_key_file);
    // what it is, on standard error.
    std::cerr << "enrollment key " << id << ", valid until " << expires << (o.folder.empty() ? "" : ", folder " + o.folder)
              << "; it is shown only now, and enrolls one device\n";
    std::cout << key << "\n";
    co_return 0;
  }
  if (o.device == "delete") {
    auto res = co_await c.call(http::verb::delete_, "/api/v1/enrollment-keys/" + o.output);
    if (res.result() != http::status::no_content) throw cli_error("cannot delete enrollment key " + o.output + ": " + c.error_of(res));
    co_return 0;
  }
  auto res = co_await c.call(http::verb::get, "/api/v1/enrollment-keys");
  if (res.result() != http::status::ok) throw cli_error("cannot list enrollment keys: " + c.error_of(res));
  auto doc = c.parse(res);
  if (o.json) {
    std::cout << simdjson::minify(doc) << "\n";
    co_return 0;
  }
  std::printf("%-13s %-8s %-16s %-14s %-25s %s\n", "ID", "STATE", "FOLDER", "CREATED BY", "EXPIRES", "USED BY");
  for (auto k : doc["enrollment_keys"].get_array()) {
    auto text = [&](const char* key) {
      std::string_view v;
      return k[key].get(v) || v.empty() ? std::string("-") : std::string(v);
    };
    std::printf("%-13s %-8s %-16s %-14s %-25s %s\n", text("id").c_str(), text("state").c_str(), text("folder").c_str(),
                text("created_by").c_str(), text("expires_at").c_str(), text("used_by").c_str());
  }
  co_return 0;
}

}  // namespace shadowlink::console
