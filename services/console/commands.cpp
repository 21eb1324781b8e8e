#include "services/console/commands.hpp"

#include "framework/meeting_point.hpp"
#include "framework/on_exit.hpp"
#include "framework/splice.hpp"
#include "framework/tcp_stream.hpp"
#include "protocol/legacy_password.hpp"
#include "protocol/tunnel_endpoint.hpp"
#include "protocol/up_link.hpp"
#include "services/console/png_writer.hpp"
#include "services/rfb/vnc_client.hpp"
#include "services/console/vnc_window.hpp"

#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/json.hpp>
#include <boost/url/url.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <future>
#include <iostream>
#include <optional>

extern char** environ;

namespace shadowlink::console {
namespace json = boost::json;
using rfb::screen_shot;
using rfb::take_screen_shot;
using namespace net::experimental::awaitable_operators;

namespace {

struct session_info {
  std::string id, tunnel_url, token;
  std::string device_address, device_pin, password;  // OS 11: the console connects in to the device
};

// Console flow steps 1 and 4: ask the UMS for a session, follow its set-up (each step is shown as
// the server reports it, on the terminal and to `on_step`; the server bounds every step) and
// receive its coordinates.
awaitable<session_info> request_session(client& c, const options& o, std::function<void(const std::string&)> on_step = {}) {
  json::object request{{"device", o.device}, {"view_only", o.view_only}, {"wait", false}};
  auto res = co_await c.call(http::verb::post, "/api/v1/sessions", json::serialize(request));
  if (res.result() != http::status::accepted) throw cli_error("cannot shadow " + o.device + ": " + c.error_of(res));
  session_info info;
  std::string_view id;
  if (c.parse(res)["session_id"].get(id)) throw cli_error("server answered without a session id");
  info.id = id;
  // A cluster behind a load balancer: only the node that made the session knows it.
  if (std::string_view node; !c.parse(res)["node_url"].get(node)) c.follow_node(node);
  const auto start = clock::now();
  auto limit = start + 16min;  // until the server names the step's own deadline
  std::string shown;
  std::string next = "/api/v1/sessions/" + info.id;
  std::string waited_on;  // the state the last request asked the server to wait past
  for (;;) {
    const auto asked = clock::now();
    auto st = co_await c.call(http::verb::get, next);
    if (st.result() != http::status::ok) throw cli_error("lost session " + info.id + ": " + c.error_of(st));
    auto doc = c.parse(st);
    std::string_view state, url, token, reason;
    std::int64_t left = 0;
    if (doc["state"].get(state)) throw cli_error("server answered without the session's state");
    if (state == "ended") {
      if (doc["end_reason"].get(reason)) reason = "ended";
      throw cli_error("cannot shadow " + o.device + ": " + std::string(reason));
    }
    if (!doc["tunnel_url"].get(url) && !doc["token"].get(token)) {
      info.tunnel_url = url;
      info.token = token;
      co_return info;
    }
    std::string_view address, pin, password;
    if (!doc["device_address"].get(address) && !doc["device_pin"].get(pin) && !doc["password"].get(password)) {
      info.device_address = address;
      info.device_pin = pin;
      info.password = password;
      co_return info;
    }
    if (!doc["deadline_s"].get(left)) limit = clock::now() + std::chrono::seconds(left) + 10s;
    if (state != shown) {
      shown = state;
      const auto waited = std::chrono::duration_cast<std::chrono::seconds>(clock::now() - start).count();
      std::fprintf(stderr, "%s: %s (%llds so far, %llds left)\n", o.device.c_str(), shown.c_str(),
                   static_cast<long long>(waited), static_cast<long long>(left));
      if (on_step) on_step(shown);
    }
    if (clock::now() > limit) throw cli_error("the server did not finish step '" + shown + "' in time");
    // The next answer comes when the session has left this step (the server holds the request up
    // to 10 s): each step shows the moment it happens. A server that answers at once anyway (an
    // older one) is asked again after a pause instead of in a tight loop.
    boost::urls::url follow("/api/v1/sessions/" + info.id);
    follow.params().set("after", state);
    follow.params().set("wait_s", "10");
    next = std::string(follow.buffer());
    if (!waited_on.empty() && state == waited_on && clock::now() - asked < 50ms) co_await sleep_for(250ms);
    waited_on = state;
  }
}

// Console flow step 5: open the shadowing tunnel with the viewer's one-time token; for an OS 11
// device, the TLS tunnel into the device, its certificate pinned, opened with the session password.
awaitable<stream_ptr> open_tunnel(client& c, const session_info& s) {
  if (!s.password.empty()) {
    c.legacy_tls() = std::make_unique<tls_client>(make_trust("", s.device_pin));
    const legacy::credentials password{s.id, s.password};
    co_return co_await legacy::connect(*c.legacy_tls(), s.device_address, password, 15s);
  }
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

// Step 5 for a session this console asked for: if the tunnel cannot be opened (the device's
// certificate is not the one it reported, the device refused, the network failed), the session is
// ended at once instead of holding the device until the server's deadline.
awaitable<stream_ptr> open_or_end(client& c, const session_info& s) {
  std::exception_ptr failed;
  try {
    co_return co_await open_tunnel(c, s);
  } catch (const std::exception&) {
    failed = std::current_exception();
  }
  try {
    co_await c.call(http::verb::delete_, "/api/v1/sessions/" + s.id);
  } catch (const std::exception&) {
    // The server's own deadline ends it then.
  }
  std::rethrow_exception(failed);
}

// Why a session whose tunnel was spliced with the viewer (end `a`) ended, for the administrator.
std::string ending_words(const splice_end& end, stream& tunnel, const session_info& s) {
  // The server says why it closed the tunnel (the device went away, an administrator ended it,
  // the gateway lost its UMS): more than the splice alone can tell.
  auto words = up::session_ending(end);
  if (auto* ws = dynamic_cast<ws_stream*>(&tunnel); ws && !end.by_a && !ws->close_reason().empty()) words = ws->close_reason();
  // The tunnel's far end is the UMS or the gateway, relaying the device: a tunnel cut without a
  // close (no WebSocket close frame, no TLS close_notify) means that server or the network went
  // away, not the device, which the server would have reported in its close frame.
  using enum splice_end::kind;
  if (!end.by_a && (end.how == truncated || end.how == reset || end.how == failed)) {
    const auto server = s.tunnel_url.empty() ? ws_target{true, s.device_address.empty() ? "the server" : s.device_address, "", ""}
                                             : parse_wss_url(s.tunnel_url);
    words = "lost the connection to " + server.host + (server.port.empty() ? "" : ":" + server.port) +
            (end.how == truncated ? " (closed without TLS close_notify)" : end.how == reset ? " (connection reset)" : " (" + end.detail + ")");
  }
  return words;
}

pid_t launch_viewer(const std::string& cmd, const std::string& address) {
  std::string line = cmd + " " + address;
  const char* argv[] = {"/bin/sh", "-c", line.c_str(), nullptr};
  pid_t pid = 0;
  if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ) != 0)
    throw cli_error("cannot start the viewer: " + cmd);
  return pid;
}

}  // namespace

namespace {
// A listing's answer: its JSON, already printed as it came if --json asked for that (then null).
awaitable<std::optional<simdjson::dom::element>> listing(client& c, const options& o, std::string target, std::string_view what) {
  auto res = co_await c.call(http::verb::get, std::move(target));
  if (res.result() != http::status::ok) throw cli_error("cannot list " + std::string(what) + ": " + c.error_of(res));
  auto doc = c.parse(res);
  if (!o.json) co_return doc;
  std::cout << simdjson::minify(doc) << "\n";
  co_return std::nullopt;
}
}  // namespace

awaitable<int> cmd_devices(client& c, const options& o) {
  auto answer = co_await listing(c, o, "/api/v1/devices", "devices");
  if (!answer) co_return 0;
  auto doc = *answer;
  std::printf("%-20s %-24s %-8s %-9s %-12s %-22s %s\n", "ID", "NAME", "ONLINE", "SHADOWED", "CONNECTOR", "ADDRESS", "OS");
  for (auto d : doc["devices"].get_array()) {
    std::string_view id = d["id"].get_string().value_unsafe(), name = d["name"].get_string().value_unsafe(), peer, connector, os;
    bool online = d["online"].get_bool().value_unsafe(), shadowed = d["shadowed"].get_bool().value_unsafe();
    if (d["peer"].get(peer)) peer = "-";
    if (d["connector"].get(connector)) connector = "-";
    if (d["os"].get(os) || os.empty()) os = "-";
    std::printf("%-20.*s %-24.*s %-8s %-9s %-12.*s %-22.*s %.*s\n", int(id.size()), id.data(), int(name.size()), name.data(),
                online ? "yes" : "no", shadowed ? "yes" : "no", int(connector.size()), connector.data(), int(peer.size()),
                peer.data(), int(os.size()), os.data());
  }
  co_return 0;
}

awaitable<int> cmd_snapshot(client& c, const options& o) {
  auto ex = co_await net::this_coro::executor;
  stream_ptr tunnel;
  session_info s;
  if (o.webapp) {
    tunnel = co_await open_webapp_tunnel(c, o);
  } else {
    s = co_await request_session(c, o);
    tunnel = co_await open_or_end(c, s);
  }
  // libvncclient reads the screen on a thread of its own, from one end of a socket pair; the
  // other end is spliced with the tunnel until it has (it closes its end when done).
  net::local::stream_protocol::socket mine(ex), theirs(ex);
  net::local::connect_pair(mine, theirs);
  auto shot = std::async(std::launch::async, [fd = theirs.release()] { return take_screen_shot(fd, 30s); });
  auto local = make_local_stream(std::move(mine), "snapshot");
  splicer sp(*local, *tunnel, {.a_name = "the console's snapshot"});
  // The whole exchange is bounded: a device that greets and then trickles is cut off too.
  net::steady_timer limit(ex, 35s);
  limit.async_wait([&](error_code ec) {
    if (!ec) sp.stop("no complete screen within 35 s");
  });
  const auto end = co_await sp.run();
  limit.cancel();
  screen_shot fb;
  try {
    fb = shot.get();
  } catch (const std::exception& e) {
    // The session's own end says more than the client's view of a closed stream.
    throw cli_error("no snapshot of " + o.device + ": " + (end.by_a ? std::string(e.what()) : ending_words(end, *tunnel, s)));
  }
  write_png(o.output, fb.width, fb.height, fb.rgb);
  std::printf("wrote %s (%dx%d, \"%s\")\n", o.output.c_str(), fb.width, fb.height, fb.name.c_str());
  co_return 0;
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
  auto tunnel = co_await open_or_end(c, s);
  auto address = acc.local_endpoint().address().to_string() + "::" + std::to_string(port);
  std::printf("session %s is ready; connect a VNC viewer:\n  vncviewer %s\n", s.id.c_str(), address.c_str());
  std::fflush(stdout);
  pid_t viewer = o.viewer.empty() ? 0 : launch_viewer(o.viewer, address);
  // One viewer per session; it must come within the tunnel's keep-alive life.
  net::steady_timer wait(ex, 5min);
  // use_tuple: a failed accept ends the race at once instead of waiting out the timer.
  auto accepted = co_await (acc.async_accept(use_tuple) || wait.async_wait(use_awaitable));
  acc.close();
  if (accepted.index() == 1) throw cli_error("no VNC viewer connected within 5 minutes");
  auto [accept_error, sock] = std::move(std::get<0>(accepted));
  if (accept_error) throw cli_error("accepting the VNC viewer failed: " + accept_error.message());
  auto local = make_tcp_stream(std::move(sock));
  splicer sp(*local, *tunnel);
  net::signal_set signals(ex, SIGINT, SIGTERM);
  signals.async_wait([&](error_code ec, int) {
    if (!ec) sp.stop("console interrupted");
  });
  const auto end = co_await sp.run();
  signals.cancel();
  std::printf("session %s ended: %s\n", s.id.c_str(), ending_words(end, *tunnel, s).c_str());
  if (viewer > 0) waitpid(viewer, nullptr, WNOHANG);
  co_return 0;
}

awaitable<int> cmd_view(client& c, const options& o) {
  auto ex = co_await net::this_coro::executor;
  // The window first: without a display the device's user is not asked for nothing.
  vnc_window window(o.device, o.view_only);
  auto s = co_await request_session(c, o, [&](const std::string& step) { window.show_state(step); });
  auto tunnel = co_await open_or_end(c, s);
  if (window.closed_by_user()) {
    co_await close_stream(*tunnel, "window closed");
    std::printf("session %s ended: window closed\n", s.id.c_str());
    co_return 0;
  }
  // The window's thread speaks RFB on one end of a socket pair; the other end is spliced with
  // the tunnel here, as an external viewer's connection is by `shadow`.
  net::local::stream_protocol::socket mine(ex), theirs(ex);
  net::local::connect_pair(mine, theirs);
  window.attach(theirs.release());
  auto local = make_local_stream(std::move(mine), "viewer window");
  splicer sp(*local, *tunnel, {.a_name = "the console's viewer window"});
  net::signal_set signals(ex, SIGINT, SIGTERM);
  signals.async_wait([&](error_code ec, int) {
    if (!ec) sp.stop("console interrupted");
  });
  const auto end = co_await sp.run();
  signals.cancel();
  auto words = ending_words(end, *tunnel, s);
  if (end.by_a) words = window.closed_by_user() ? "window closed" : !window.failure().empty() ? window.failure() : words;
  std::printf("session %s ended: %s\n", s.id.c_str(), words.c_str());
  std::fflush(stdout);
  window.finish(words);
  co_return 0;
}

awaitable<int> cmd_sessions(client& c, const options& o) {
  auto answer = co_await listing(c, o, "/api/v1/sessions", "sessions");
  if (!answer) co_return 0;
  auto doc = *answer;
  std::printf("%-18s %-20s %-14s %-10s %-26s %-10s %s\n", "ID", "DEVICE", "USER", "VIA", "STATE", "VIEW-ONLY", "AGE");
  for (auto s : doc["sessions"].get_array()) {
    auto text = [&](const char* key) {
      std::string_view v;
      return s[key].get(v) ? std::string("-") : std::string(v);
    };
    bool view_only = false;
    std::int64_t age = 0;
    if (s["view_only"].get(view_only)) view_only = false;
    if (s["age_s"].get(age)) age = 0;
    std::printf("%-18s %-20s %-14s %-10s %-26s %-10s %llds\n", text("id").c_str(), text("device").c_str(), text("user").c_str(),
                text("via").c_str(), text("state").c_str(), view_only ? "yes" : "no", static_cast<long long>(age));
  }
  co_return 0;
}

awaitable<int> cmd_recordings(client& c, const options& o) {
  auto answer = co_await listing(c, o, "/api/v1/recordings", "recordings");
  if (!answer) co_return 0;
  auto doc = *answer;
  std::printf("%-16s %-16s %-14s %-26s %-12s %s\n", "SESSION", "DEVICE", "USER", "STARTED", "KIB", "STATE");
  for (auto r : doc["recordings"].get_array()) {
    auto text = [&](const char* key) {
      std::string_view v;
      return r[key].get(v) ? std::string("-") : std::string(v);
    };
    std::uint64_t screen = 0, input = 0;
    if (r["screen_bytes"].get(screen)) screen = 0;
    if (r["input_bytes"].get(input)) input = 0;
    std::printf("%-16s %-16s %-14s %-26s %-12llu %s\n", text("session").c_str(), text("device").c_str(), text("user").c_str(),
                text("started").c_str(), static_cast<unsigned long long>((screen + input + 1023) / 1024), text("state").c_str());
  }
  co_return 0;
}

awaitable<int> cmd_end(client& c, const options& o) {
  auto res = co_await c.call(http::verb::delete_, "/api/v1/sessions/" + o.device);
  // (202: a session another node of a cluster runs; that node ends it.)
  if (res.result() != http::status::no_content && res.result() != http::status::accepted)
    throw cli_error("cannot end session " + o.device + ": " + c.error_of(res));
  co_return 0;
}

awaitable<int> cmd_remove_device(client& c, const options& o) {
  boost::urls::url target;
  target.set_path_absolute(true);
  target.segments() = {"api", "v1", "devices", o.device};
  auto res = co_await c.call(http::verb::delete_, std::string(target.buffer()));
  if (res.result() != http::status::no_content) throw cli_error("cannot remove " + o.device + ": " + c.error_of(res));
  std::printf("removed device %s\n", o.device.c_str());
  co_return 0;
}

awaitable<int> cmd_revoke_certificate(client& c, const options& o) {
  boost::urls::url target;
  target.set_path_absolute(true);
  target.segments() = {"api", "v1", "devices", o.device, "certificate"};
  auto res = co_await c.call(http::verb::delete_, std::string(target.buffer()));
  if (res.result() != http::status::ok) throw cli_error("cannot revoke the certificate of " + o.device + ": " + c.error_of(res));
  auto doc = c.parse(res);
  std::string_view fp;
  if (doc["revoked"].get(fp)) fp = "?";
  std::printf("revoked certificate %s of %s\n", std::string(fp).c_str(), o.device.c_str());
  co_return 0;
}

awaitable<int> cmd_audit(client& c, const options& o) {
  boost::urls::url target;
  target.set_path("/api/v1/audit");
  auto add = [&](std::string_view key, const std::string& value) {
    if (!value.empty()) target.params().append({key, value});
  };
  add("device", o.device);
  add("user", o.by);
  add("since", o.since);
  add("until", o.until);
  add("limit", std::to_string(o.limit));
  auto res = co_await c.call(http::verb::get, std::string(target.buffer()));
  if (res.result() != http::status::ok) throw cli_error("cannot read the audit trail: " + c.error_of(res));
  auto doc = c.parse(res);
  if (!o.json) std::printf("%-24s %-18s %-12s %-14s %-16s %s\n", "TIME", "EVENT", "USER", "DEVICE", "SESSION", "DETAILS");
  for (auto r : doc["records"].get_array()) {
    if (o.json) {
      std::cout << simdjson::minify(r) << "\n";
      continue;
    }
    auto text = [&](const char* key) {
      std::string_view v;
      return r[key].get(v) ? std::string("-") : std::string(v);
    };
    std::string details;
    for (const char* key : {"outcome", "answer", "reason", "via", "peer", "gateway"}) {
      std::string_view v;
      if (!r[key].get(v) && !v.empty()) details += std::string(details.empty() ? "" : " ") + key + "=" + std::string(v);
    }
    std::printf("%-24s %-18s %-12s %-14s %-16s %s\n", text("time").c_str(), text("event").c_str(), text("user").c_str(),
                text("device").c_str(), text("session").c_str(), details.c_str());
  }
  co_return 0;
}

}  // namespace shadowlink::console
