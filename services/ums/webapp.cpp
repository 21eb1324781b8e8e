#include "services/ums/webapp.hpp"

#include "framework/certs.hpp"
#include "framework/https_server.hpp"

#include <filesystem>

namespace shadowlink::ums {
namespace {

constexpr std::string_view page = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>shadowlink</title>
<style>
 body { font-family: sans-serif; margin: 1em; }
 #screen { width: 100%; height: 80vh; background: #222; }
 .hidden { display: none; }
 #status { color: #555; }
</style></head>
<body>
<h1>shadowlink</h1>
<form id="login"><input id="user" placeholder="user" autocomplete="username">
 <input id="password" type="password" placeholder="password" autocomplete="current-password">
 <button>Log in</button></form>
<div id="devices" class="hidden"></div>
<p id="status"></p>
<div id="screen" class="hidden"></div>
<script type="module">
import RFB from '/novnc/core/rfb.js';
const status = (t) => { document.getElementById('status').textContent = t; };
let rfb = null;
async function listDevices() {
  const r = await fetch('/api/v1/devices', {credentials: 'same-origin'});
  if (!r.ok) { status('cannot list devices: ' + r.status); return; }
  const list = document.getElementById('devices');
  list.replaceChildren();
  for (const d of (await r.json()).devices) {
    const b = document.createElement('button');
    b.textContent = d.name + (d.online ? '' : ' (offline)') + (d.shadowed ? ' (being shadowed)' : '');
    b.disabled = !d.online || d.shadowed;
    b.onclick = () => shadow(d.id);
    list.append(b);
  }
  list.classList.remove('hidden');
}
function shadow(id) {
  if (rfb) rfb.disconnect();
  const screen = document.getElementById('screen');
  screen.classList.remove('hidden');
  // Same origin: the browser sends the HttpOnly login cookie and its Origin; no token in the URL.
  rfb = new RFB(screen, 'wss://' + location.host + '/webapp/shadow?device=' + encodeURIComponent(id));
  rfb.scaleViewport = true;
  window.shadowlinkRfb = rfb;
  rfb.addEventListener('connect', () => { status('shadowing ' + id); document.title = 'shadowing ' + id; });
  rfb.addEventListener('disconnect', (e) => { status('session ended' + (e.detail.clean ? '' : ' (connection lost)')); listDevices(); });
}
document.getElementById('login').onsubmit = async (e) => {
  e.preventDefault();
  const r = await fetch('/api/v1/login', {method: 'POST', credentials: 'same-origin',
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({user: document.getElementById('user').value, password: document.getElementById('password').value})});
  if (!r.ok) { status('login failed'); return; }
  document.getElementById('login').classList.add('hidden');
  status('logged in');
  listDevices();
};
</script></body></html>
)HTML";

std::string_view mime_of(const std::filesystem::path& p) {
  auto ext = p.extension().string();
  if (ext == ".js") return "text/javascript";
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".css") return "text/css";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".json") return "application/json";
  return "application/octet-stream";
}

void secure_headers(http_response& res) {
  res.set(http::field::server, "shadowlink");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("X-Frame-Options", "DENY");
  res.set("Content-Security-Policy", "default-src 'self'; connect-src 'self' wss:; style-src 'self' 'unsafe-inline'");
}

}  // namespace

http_response webapp_page(const http_request& req) {
  http_response res{http::status::ok, req.version()};
  secure_headers(res);
  res.set(http::field::content_type, "text/html; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  res.body() = std::string(page);
  res.prepare_payload();
  return res;
}

http_response novnc_file(const http_request& req, const std::string& dir) {
  std::string_view rel = req.target().substr(std::string_view("/novnc/").size());
  rel = rel.substr(0, rel.find('?'));
  // Only plain relative paths: no "..", no hidden files, no odd characters.
  bool ok = !rel.empty() && rel.find("..") == std::string_view::npos && rel.front() != '/' &&
            rel.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/") == std::string_view::npos;
  std::filesystem::path p = std::filesystem::path(dir) / std::string(rel);
  std::error_code ec;
  if (!ok || !std::filesystem::is_regular_file(p, ec) || std::filesystem::file_size(p, ec) > 4 * 1024 * 1024)
    return error_response(req, http::status::not_found, std::filesystem::exists(dir) ? "not found" : "noVNC is not installed");
  http_response res{http::status::ok, req.version()};
  secure_headers(res);
  res.set(http::field::content_type, mime_of(p));
  res.set(http::field::cache_control, "max-age=3600");
  res.keep_alive(req.keep_alive());
  res.body() = read_file(p);
  res.prepare_payload();
  return res;
}

}  // namespace shadowlink::ums
