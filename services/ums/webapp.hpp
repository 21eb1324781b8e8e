#pragma once
// The Web App: one page served by the UMS, noVNC (Debian's novnc package) in the browser.
#include "framework/ws_stream.hpp"

#include <string>

namespace shadowlink::ums {

// GET / : the page (login, device list, noVNC screen).
http_response webapp_page(const http_request& req);

// GET /novnc/... : noVNC's ES modules from `dir`; refuses anything outside it.
http_response novnc_file(const http_request& req, const std::string& dir);

}  // namespace shadowlink::ums
