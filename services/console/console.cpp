#include "services/console/console.hpp"

#include "framework/errors.hpp"
#include "framework/https_client.hpp"
#include "framework/log.hpp"
#include "framework/splice.hpp"
#include "framework/tcp_stream.hpp"
#include "protocol/rfb_client.hpp"
#include "protocol/up_link.hpp"
#include "services/console/png_writer.hpp"

#include <boost/asio/signal_set.hpp>
#include <boost/json.hpp>
#include <boost/program_options.hpp>
#include <boost/url/parse.hpp>
#include <simdjson.h>

#include <spawn.h>
#include <sys/wait.h>

#include <iostream>

extern char** environ;

namespace shadowlink::console {
namespace po = boost::program_options;
namespace json = boost::json;
using namespace net::experimental::awaitable_operators;

namespace {

struct options {
  std::string server = "https://127.0.0.1:8443";
  std::string user, password, token, ca_file, pin;
  std::string command, device, output, listen = "127.0.0.1:0", viewer;
  bool view_only = false, webapp = false;
};

// A failure the user must read: printed as one line, exit code 1.
struct cli_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class client {
 public:
  explicit client(const options& o) : o_(o), tls_(make_trust(o.ca_file, o.pin)) {
    auto u = boost::urls::parse_uri(o.server);
    if (!u || u->scheme() != "https") throw cli_error("--server must be an https:// URL: " + o.server);
    target_.host = u->host_address();
    target_.port = u->has_port() ? std::string(u->port()) : "443";
  }

  awaitable<http_response> call(http::verb verb, std::string target, std::string body = {}) {
    co_await ensure_login();
    http_request req{verb, target, 11};
    req.set(http::field::authorization, "Bearer " + token_);
    if (!body.empty()) {
      req.set(http::field::content_type, "application/json");
      req.body() = std::move(body);
    }
    co_return co_await https_request(tls_, target_, std::move(req), 90s);
  }

  // Logs in with user and password (unless an API token was given); remembers the cookie too.
  awaitable<void> ensure_login() {
    if (!token_.empty()) co_return;
    if (!o_.token.empty()) {
      token_ = o_.token;
      co_return;
    }
    if (o_.user.empty()) throw cli_error("give --token, or --user with --password (or SHADOWLINK_PASSWORD)");
    http_request req{http::verb::post, "/api/v1/login", 11};
    req.set(http::field::content_type, "application/json");
    req.body() = json::serialize(json::object{{"user", o_.user}, {"password", o_.password}});
    auto res = co_await https_request(tls_, target_, std::move(req), 30s);
    auto doc = parse(res);
    std::string_view t;
    if (res.result() != http::status::ok || doc["token"].get(t)) throw cli_error("login failed: " + error_of(res));
    token_ = std::string(t);
    cookie_ = std::string(res[http::field::set_cookie]);
    cookie_ = cookie_.substr(0, cookie_.find(';'));
  }

  simdjson::dom::element parse(const http_response& res) {
    simdjson::dom::element e;
    if (parser_.parse(res.body()).get(e)) throw cli_error("server sent invalid JSON (HTTP " + std::to_string(res.result_int()) + ")");
    return e;
  }
  std::string error_of(const http_response& res) {
    simdjson::dom::parser p;
    std::string_view msg;
    simdjson::dom::element e;
    if (!p.parse(res.body()).get(e) && !e["error"].get(msg)) return std::string(msg) + " (HTTP " + std::to_string(res.result_int()) + ")";
    return "HTTP " + std::to_string(res.result_int());
  }

  tls_client& tls() { return tls_; }
  const rest_target& target() const { return target_; }
  const std::string& cookie() const { return cookie_; }

 private:
  const options& o_;
  tls_client tls_;
  rest_target target_;
  std::string token_, cookie_;
  simdjson::dom::parser parser_;
};

struct session_info {
  std::string id, tunnel_url, token;
};

// Console flow steps 1 and 4: ask the UMS for a session and receive its coordinates.
awaitable<session_info> request_session(client& c, const options& o) {
  json::object request;
  request["device"] = o.device;
  request["view_only"] = o.view_only;
  auto body = json::serialize(request);
  auto res = co_await c.call(http::verb::post, "/api/v1/sessions", std::move(body));
  if (res.result() != http::status::created) throw cli_error("cannot shadow " + o.device + ": " + c.error_of(res));
  auto doc = c.parse(res);
  std::string_view id, url, token;
  if (doc["session_id"].get(id) || doc["tunnel_url"].get(url) || doc["token"].get(token))
    throw cli_error("server answered without session information");
  session_info info;
  info.id = id;
  info.tunnel_url = url;
  info.token = token;
  co_return info;
}

// Console flow step 5: open the shadowing tunnel with the viewer's one-time token.
awaitable<stream_ptr> open_tunnel(client& c, const session_info& s) {
  const std::map<std::string, std::string> headers{{"Authorization", "Bearer " + s.token}};
  const auto opts = up::tunnel_options();
  co_return co_await connect_ws(&c.tls(), parse_wss_url(s.tunnel_url), headers, opts);
}

// The Web App's way in: the login cookie and the page's Origin, no token in the URL.
awaitable<stream_ptr> open_webapp_tunnel(client& c, const options& o) {
  co_await c.ensure_login();
  if (c.cookie().empty()) throw cli_error("--webapp needs --user and --password (a browser logs in for its cookie)");
  ws_target t{true, c.target().host, c.target().port, "/webapp/shadow?device=" + o.device};
  const std::map<std::string, std::string> headers{{"Cookie", c.cookie()}, {"Origin", o.server}};
  const auto opts = up::tunnel_options();
  co_return co_await connect_ws(&c.tls(), t, headers, opts);
}

awaitable<int> cmd_devices(client& c) {
  auto res = co_await c.call(http::verb::get, "/api/v1/devices");
  if (res.result() != http::status::ok) throw cli_error("cannot list devices: " + c.error_of(res));
  auto doc = c.parse(res);
  std::printf("%-20s %-24s %-8s %-9s %-12s %s\n", "ID", "NAME", "ONLINE", "SHADOWED", "CONNECTOR", "ADDRESS");
  for (auto d : doc["devices"].get_array()) {
    std::string_view id = d["id"].get_string().value_unsafe(), name = d["name"].get_string().value_unsafe(), peer, connector;
    bool online = d["online"].get_bool().value_unsafe(), shadowed = d["shadowed"].get_bool().value_unsafe();
    if (d["peer"].get(peer)) peer = "-";
    if (d["connector"].get(connector)) connector = "-";
    std::printf("%-20.*s %-24.*s %-8s %-9s %-12.*s %.*s\n", int(id.size()), id.data(), int(name.size()), name.data(),
                online ? "yes" : "no", shadowed ? "yes" : "no", int(connector.size()), connector.data(), int(peer.size()), peer.data());
  }
  co_return 0;
}

awaitable<int> cmd_snapshot(client& c, const options& o) {
  stream_ptr tunnel;
  if (o.webapp) {
    tunnel = co_await open_webapp_tunnel(c, o);
  } else {
    auto s = co_await request_session(c, o);
    tunnel = co_await open_tunnel(c, s);
  }
  auto fb = co_await rfb::capture(*tunnel, 30s);
  co_await close_stream(*tunnel, "snapshot taken");
  write_png(o.output, fb.width, fb.height, fb.rgb);
  std::printf("wrote %s (%dx%d, \"%s\")\n", o.output.c_str(), fb.width, fb.height, fb.name.c_str());
  co_return 0;
}

pid_t launch_viewer(const std::string& cmd, const std::string& address) {
  std::string line = cmd + " " + address;
  const char* argv[] = {"/bin/sh", "-c", line.c_str(), nullptr};
  pid_t pid = 0;
  if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ) != 0)
    throw cli_error("cannot start the viewer: " + cmd);
  return pid;
}

awaitable<int> cmd_shadow(client& c, const options& o) {
  auto ex = co_await net::this_coro::executor;
  auto colon = o.listen.rfind(':');
  if (colon == std::string::npos) throw cli_error("--listen expects ADDRESS:PORT");
  tcp::endpoint ep;
  try {
    ep = tcp::endpoint(net::ip::make_address(o.listen.substr(0, colon)), static_cast<unsigned short>(std::stoi(o.listen.substr(colon + 1))));
  } catch (const std::exception&) {
    throw cli_error("--listen expects ADDRESS:PORT, got " + o.listen);
  }
  tcp::acceptor acc(ex);
  try {
    acc.open(ep.protocol());
    acc.set_option(tcp::acceptor::reuse_address(true));
    acc.bind(ep);
    acc.listen(1);
  } catch (const system_error& e) {
    throw cli_error("cannot listen on " + o.listen + ": " + e.code().message());
  }
  auto port = acc.local_endpoint().port();
  auto s = co_await request_session(c, o);
  auto tunnel = co_await open_tunnel(c, s);
  auto address = acc.local_endpoint().address().to_string() + "::" + std::to_string(port);
  std::printf("session %s is ready; connect a VNC viewer:\n  vncviewer %s\n", s.id.c_str(), address.c_str());
  std::fflush(stdout);
  pid_t viewer = o.viewer.empty() ? 0 : launch_viewer(o.viewer, address);
  // One viewer per session; it must come within the tunnel's keep-alive life.
  net::steady_timer wait(ex, 5min);
  auto accepted = co_await (acc.async_accept(use_awaitable) || wait.async_wait(use_awaitable));
  acc.close();
  if (accepted.index() == 1) throw cli_error("no VNC viewer connected within 5 minutes");
  auto local = make_tcp_stream(std::move(std::get<0>(accepted)));
  splicer sp(*local, *tunnel);
  net::signal_set signals(ex, SIGINT, SIGTERM);
  signals.async_wait([&](error_code ec, int) {
    if (!ec) sp.stop("console interrupted");
  });
  const auto end = co_await sp.run();
  signals.cancel();
  std::printf("session %s ended: %s\n", s.id.c_str(), end.words("viewer", "device side").c_str());
  if (viewer > 0) waitpid(viewer, nullptr, WNOHANG);
  co_return 0;
}

awaitable<int> cmd_sessions(client& c) {
  auto res = co_await c.call(http::verb::get, "/api/v1/sessions");
  if (res.result() != http::status::ok) throw cli_error("cannot list sessions: " + c.error_of(res));
  std::cout << res.body() << "\n";
  co_return 0;
}

awaitable<int> cmd_end(client& c, const options& o) {
  auto res = co_await c.call(http::verb::delete_, "/api/v1/sessions/" + o.device);
  if (res.result() != http::status::no_content) throw cli_error("cannot end session " + o.device + ": " + c.error_of(res));
  co_return 0;
}

awaitable<int> dispatch(const options& o) {
  client c(o);
  if (o.command == "devices") co_return co_await cmd_devices(c);
  if (o.command == "shadow") co_return co_await cmd_shadow(c, o);
  if (o.command == "snapshot") co_return co_await cmd_snapshot(c, o);
  if (o.command == "sessions") co_return co_await cmd_sessions(c);
  if (o.command == "end") co_return co_await cmd_end(c, o);
  throw cli_error("unknown command '" + o.command + "'");
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  po::options_description desc(
      "Usage:\n"
      "  shadowlink [options] devices\n"
      "  shadowlink [options] shadow DEVICE [--listen 127.0.0.1:PORT] [--viewer CMD] [--view-only]\n"
      "  shadowlink [options] snapshot DEVICE OUT.png [--webapp]\n"
      "  shadowlink [options] sessions | end SESSION\n"
      "Options");
  desc.add_options()("help,h", "show this help")(
      "server,s", po::value(&o.server)->default_value(o.server), "UMS address (https://HOST:PORT)")(
      "user,u", po::value(&o.user), "administrator name")("password,p", po::value(&o.password),
                                                            "password (or the SHADOWLINK_PASSWORD environment variable)")(
      "token", po::value(&o.token), "API token instead of user and password")("ca", po::value(&o.ca_file),
                                                                                "CA certificate file to trust")(
      "pin", po::value(&o.pin), "SHA-256 fingerprint of the server's or its CA's certificate")(
      "listen", po::value(&o.listen)->default_value(o.listen), "shadow: local address for the VNC viewer")(
      "viewer", po::value(&o.viewer), "shadow: viewer command to launch; the address is appended")(
      "view-only", po::bool_switch(&o.view_only), "ask for a view-only session")(
      "webapp", po::bool_switch(&o.webapp), "snapshot: go the Web App's way (login cookie, Origin)")(
      "command", po::value(&o.command), "")("device", po::value(&o.device), "")("output", po::value(&o.output), "");
  po::positional_options_description pos;
  pos.add("command", 1).add("device", 1).add("output", 1);
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(desc).positional(pos).run(), vm);
    po::notify(vm);
    if (vm.count("help") || o.command.empty()) {
      std::cout << desc;
      return vm.count("help") ? 0 : 2;
    }
  } catch (const po::error& e) {
    std::cerr << "shadowlink: " << e.what() << "\n";
    return 2;
  }
  if (o.password.empty())
    if (const char* p = std::getenv("SHADOWLINK_PASSWORD")) o.password = p;
  if (const char* ca = std::getenv("SHADOWLINK_CA"); ca && o.ca_file.empty() && o.pin.empty()) o.ca_file = ca;
  bool needs_device = o.command == "shadow" || o.command == "snapshot" || o.command == "end";
  if (needs_device && o.device.empty()) {
    std::cerr << "shadowlink: " << o.command << " needs a " << (o.command == "end" ? "session id" : "device id") << "\n";
    return 2;
  }
  if (o.command == "snapshot" && o.output.empty()) {
    std::cerr << "shadowlink: snapshot needs an output file (OUT.png)\n";
    return 2;
  }
  log::set_level(log::level::warn);
  net::io_context ioc(1);
  int rc = 1;
  net::co_spawn(ioc, dispatch(o), [&](std::exception_ptr ep, int r) {
    if (!ep) {
      rc = r;
      return;
    }
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      std::cerr << "shadowlink: " << e.what() << "\n";
    }
  });
  ioc.run();
  return rc;
}

}  // namespace shadowlink::console
