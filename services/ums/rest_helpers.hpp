#pragma once
// Small pieces the UMS's REST handlers share: times as the API writes them, a request's query and
// string fields, an empty answer.
#include "framework/https_server.hpp"
#include "framework/log.hpp"

#include <boost/url/parse.hpp>
#include <simdjson.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace shadowlink::ums {

// Unix seconds as ISO 8601 UTC.
inline std::string iso(std::int64_t unix_s) { return log::utc_iso(std::chrono::system_clock::time_point(std::chrono::seconds(unix_s))); }

inline std::map<std::string, std::string, std::less<>> query_of(const http_request& req) {
  std::map<std::string, std::string, std::less<>> out;
  if (auto url = boost::urls::parse_origin_form(req.target()))
    for (auto p : url->params()) out[p.key] = p.value;
  return out;
}

// The string fields of a JSON object body, in the order named; nothing if it is not one or a
// named field is missing or no string.
inline std::optional<std::vector<std::string>> fields_of(const http_request& req, std::initializer_list<const char*> names) {
  simdjson::dom::parser p;
  simdjson::dom::element body;
  if (p.parse(req.body()).get(body) || !body.is_object()) return std::nullopt;
  std::vector<std::string> out;
  for (const char* n : names) {
    std::string_view v;
    if (body[n].get(v)) return std::nullopt;
    out.emplace_back(v);
  }
  return out;
}

inline http_response no_content(const http_request& req) {
  http_response res{http::status::no_content, req.version()};
  res.keep_alive(req.keep_alive());
  return res;
}

}  // namespace shadowlink::ums
