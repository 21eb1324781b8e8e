#include "services/ums/webapp.hpp"

#include "framework/certs.hpp"
#include "framework/https_server.hpp"

#include <filesystem>

namespace shadowlink::ums {
namespace {

std::string_view mime_of(const std::filesystem::path& p) {
  auto ext = p.extension().string();
  if (ext == ".js") return "text/javascript";
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".css") return "text/css";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".png") return "image/png";
  if (ext == ".json") return "application/json";
  return "application/octet-stream";
}

// Strict: scripts, styles and images only from files of this origin, the shadowing WebSocket only
// to this origin (the Host the browser used, restricted to host-name characters).
void secure_headers(http_response& res, const http_request& req) {
  res.set(http::field::server, "shadowlink");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("X-Frame-Options", "DENY");
  res.set("Referrer-Policy", "no-referrer");
  std::string host(req[http::field::host]);
  if (host.empty() || host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") != std::string::npos)
    host.clear();
  res.set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                     "font-src 'self'; connect-src 'self'" + (host.empty() ? std::string() : " wss://" + host) +
                                     "; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
}

// A file under `dir` named by `rel`: plain relative paths only (no "..", no hidden files, no odd
// characters), at most 4 MiB; answered with an ETag so that browsers revalidate cheaply.
http_response static_file(const http_request& req, const std::string& dir, std::string_view rel, std::string_view cache) {
  rel = rel.substr(0, rel.find('?'));
  bool ok = !rel.empty() && rel.find("..") == std::string_view::npos && rel.front() != '/' && rel.front() != '.' &&
            rel.find("/.") == std::string_view::npos &&
            rel.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/") == std::string_view::npos;
  std::filesystem::path p = std::filesystem::path(dir) / std::string(rel);
  std::error_code ec;
  if (!ok || !std::filesystem::is_regular_file(p, ec) || std::filesystem::file_size(p, ec) > 4 * 1024 * 1024)
    return error_response(req, http::status::not_found, std::filesystem::exists(dir) ? "not found" : dir + " is not installed");
  const auto size = std::filesystem::file_size(p, ec);
  const auto mtime = std::filesystem::last_write_time(p, ec).time_since_epoch().count();
  const std::string etag = "\"" + std::to_string(size) + "-" + std::to_string(mtime) + "\"";
  http_response res{http::status::ok, req.version()};
  secure_headers(res, req);
  res.set(http::field::etag, etag);
  res.set(http::field::cache_control, cache);
  res.keep_alive(req.keep_alive());
  if (req[http::field::if_none_match] == etag) {
    res.result(http::status::not_modified);
    return res;
  }
  res.set(http::field::content_type, mime_of(p));
  res.body() = read_file(p);
  res.prepare_payload();
  return res;
}

}  // namespace

http_response webapp_file(const http_request& req, const std::string& dir) {
  std::string_view target = req.target();
  target = target.substr(0, target.find('?'));
  if (target == "/" || target == "/index.html") return static_file(req, dir, "index.html", "no-cache");
  if (target == "/favicon.ico") return static_file(req, dir, "favicon.svg", "no-cache");
  return static_file(req, dir, target.substr(1), "no-cache");
}

http_response novnc_file(const http_request& req, const std::string& dir) {
  return static_file(req, dir, req.target().substr(std::string_view("/novnc/").size()), "max-age=3600");
}

}  // namespace shadowlink::ums
