#pragma once
// The Web App: static files (services/ums/webapp/, or the config's webapp_dir) served by the UMS
// under a strict Content-Security-Policy, noVNC (Debian's novnc package) in the browser.
#include "framework/ws_stream.hpp"

#include <string>

namespace shadowlink::ums {

// GET / and GET /FILE : the page (login, device list, noVNC screen), its script, style and icon
// from `dir`; ETag revalidation.
http_response webapp_file(const http_request& req, const std::string& dir);

// GET /novnc/... : noVNC's ES modules from `dir`; refuses anything outside it.
http_response novnc_file(const http_request& req, const std::string& dir);

}  // namespace shadowlink::ums
