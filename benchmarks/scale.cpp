// How many device UP connections and active shadow sessions one shadowlinkd holds, and what each
// costs in resident memory. Prints one JSON object.
//   scale idle   --url wss://127.0.0.1:P/up --ca F --devices N [--prefix scale-] [--credential C]
//                [--sources K] [--pid UMS_PID] [--hold-s S] [--parallel M] [--ums 127.0.0.1:P --token T]
//     N devices (ids PREFIX0.., credentials C0..) connect, say hello and send heartbeats as the
//     agent does. Client sockets leave from 127.0.0.2 .. 127.0.0.(K+1).
//     --start I numbers the devices from I; --silent connects without ever saying hello (a
//     connection that holds a gateway's resources without proving anything: up while open).
//   scale active --ums 127.0.0.1:P --ca F --token T --devices N [--prefix act-] [--pid UMS_PID]
//                [--hold-s S] [--parallel M]
//     N viewers each open a session (REST, then the tunnel) to devices PREFIX0.. that are served by
//     real device agents, then send a 64-byte message every second and wait for its echo.
//   scale vnc    --ums 127.0.0.1:P --ca F --token T --devices N --vnc-port V [--pid UMS_PID]
//                [--agent-pid PID] [--hold-s S] [--parallel M] [profile options]
//     As active, but this tool is also the devices' VNC server on 127.0.0.1:V (the agents'
//     vnc_port) and each session carries a watched office desktop (vnc_load.hpp): screen-update
//     latency, throughput and CPU per session.
#include "benchmarks/cli.hpp"
#include "benchmarks/measure.hpp"
#include "benchmarks/tool_main.hpp"
#include "benchmarks/viewer.hpp"
#include "benchmarks/vnc_load.hpp"
#include "framework/deadline.hpp"
#include "framework/service_host.hpp"
#include "framework/task_group.hpp"
#include "protocol/up_link.hpp"

#include <boost/asio/detached.hpp>
#include <boost/json.hpp>
#include <simdjson.h>

#include <cstdio>
#include <fstream>
#include <optional>
#include <random>
#include <unistd.h>


using namespace shadowlink;
using namespace net::experimental::awaitable_operators;
namespace json = boost::json;

namespace {

struct options {
  std::string mode, url, ca, prefix, credential = "scale-credential-", token, ums;
  int devices = 1000, sources = 8, pid = 0, hold_s = 20, parallel = 64, start = 0, agent_pid = 0;
  unsigned short vnc_port = 0;
  bench::vnc_profile profile;
  bool silent = false;
};

struct counters {
  int connecting = 0, up = 0, failed = 0, dropped = 0;
  std::uint64_t round_trips = 0;
  std::vector<double> rtt_us;
  std::vector<double> setup_us;  // a session's set-up: REST request to an open tunnel
  std::string first_error;
  bool holding = true;
};

long resident_kib(int pid) {
  std::ifstream f("/proc/" + (pid ? std::to_string(pid) : std::string("self")) + "/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

void note_failure(counters& c, std::string_view why) {
  ++c.failed;
  if (c.first_error.empty()) c.first_error = why;
}

// One of the links or sessions this tool holds: counted up while it lives; one that ends while
// the load is held counts as dropped.
struct held {
  counters& c;
  explicit held(counters& c) : c(c) { ++c.up; }
  ~held() {
    --c.up;
    if (c.holding) ++c.dropped;
  }
  held(const held&) = delete;
  held& operator=(const held&) = delete;
};

// Ids are spread over source addresses so that no single 127.0.0.x runs out of ephemeral ports.
std::vector<std::unique_ptr<tls_client>> clients(const options& o) {
  std::vector<std::unique_ptr<tls_client>> v;
  for (int k = 0; k < std::max(1, o.sources); ++k) {
    v.push_back(std::make_unique<tls_client>(make_trust(o.ca, "")));
    v.back()->set_source_address("127.0.0." + std::to_string(2 + k));
  }
  return v;
}

awaitable<void> silent_link(up::link& link, counters& c) {
  --c.connecting;
  held guard{c};
  auto drain = [&]() -> awaitable<void> {
    for (;;) (void)co_await link.receive();
  };
  co_await (link.write_loop() || settle(drain()));
}

awaitable<void> idle_device(tls_client& tls, ws_target target, std::string id, std::string credential, bool silent, counters& c) {
  std::optional<up::link> link;
  try {
    const std::map<std::string, std::string> none;
    const auto opts = up::link_options();
    link.emplace(co_await connect_ws(&tls, target, none, opts));
    if (silent) {
      co_await silent_link(*link, c);
      co_return;
    }
    up::message hello;
    hello.type = up::kind::hello;
    hello.device_id = id;
    hello.credential = credential;
    hello.agent = "shadowlink-scale/0.1";
    link->send(hello);
  } catch (const std::exception& e) {
    --c.connecting;
    note_failure(c, e.what());
    co_return;
  }
  bool welcomed = false;
  std::string why = "link ended before the welcome";
  auto beats = [&](clock::duration period) -> awaitable<void> {
    std::mt19937 rng(static_cast<unsigned>(std::hash<std::string>{}(id)));
    net::steady_timer t(co_await net::this_coro::executor);
    // The first beat at a random point of the period, as real devices spread out.
    t.expires_after(std::chrono::milliseconds(rng() % static_cast<unsigned>(std::chrono::duration_cast<std::chrono::milliseconds>(period).count())));
    for (;;) {
      co_await t.async_wait(use_awaitable);
      up::message hb;
      hb.type = up::kind::heartbeat;
      if (!link->send(hb)) co_return;
      t.expires_after(period);
    }
  };
  auto drain = [&]() -> awaitable<void> {
    for (;;) (void)co_await link->receive();
  };
  auto session = [&]() -> awaitable<void> {
    auto welcome = co_await link->receive();
    if (welcome.type != up::kind::welcome) {
      why = "refused: " + welcome.reason;
      co_return;
    }
    welcomed = true;
    --c.connecting;
    held guard{c};
    co_await (beats(std::chrono::seconds(std::max<std::int64_t>(1, welcome.heartbeat_s))) || settle(drain()));
  };
  try {
    co_await (link->write_loop() || settle(session()));
  } catch (const std::exception& e) {
    why = e.what();
  }
  if (!welcomed) {
    --c.connecting;
    note_failure(c, why);
  }
}

// A viewer's session (REST, then the tunnel), or nothing if it was refused (counted as failed).
awaitable<stream_ptr> open_session(tls_client& tls, const bench::ums_access& ums, const std::string& device, counters& c) {
  stream_ptr s;
  const auto asked = clock::now();
  try {
    s = co_await bench::open_shadow_session(tls, ums, device);
    c.setup_us.push_back(std::chrono::duration<double, std::micro>(clock::now() - asked).count());
  } catch (const std::exception& e) {
    note_failure(c, e.what());
  }
  --c.connecting;
  co_return s;
}

awaitable<void> active_viewer(tls_client& tls, bench::ums_access ums, std::string device, counters& c) {
  auto s = co_await open_session(tls, ums, device, c);
  if (!s) co_return;
  held guard{c};
  std::string msg(64, 'v'), back(64, '\0');
  net::steady_timer t(co_await net::this_coro::executor);
  try {
    // Each viewer at its own phase of the second, as independent people would be.
    t.expires_after(std::chrono::milliseconds(std::hash<std::string>{}(device) % 1000));
    co_await t.async_wait(use_awaitable);
    for (;;) {
      auto a = clock::now();
      error_code ec;
      co_await s->write(net::buffer(msg), ec);
      if (ec) throw system_error(ec);
      co_await with_deadline(bench::read_exact(*s, back.data(), back.size()), 10s, "echo");
      ++c.round_trips;
      if (c.rtt_us.size() < 1'000'000) c.rtt_us.push_back(std::chrono::duration<double, std::micro>(clock::now() - a).count());
      t.expires_after(1s);
      co_await t.async_wait(use_awaitable);
    }
  } catch (const std::exception& e) {
    if (c.holding) note_failure(c, e.what());
  }
}

awaitable<void> vnc_viewer(tls_client& tls, bench::ums_access ums, std::string device, bench::vnc_profile profile,
                           counters& c, bench::vnc_viewer_stats& stats) {
  auto s = co_await open_session(tls, ums, device, c);
  if (!s) co_return;
  held guard{c};
  try {
    co_await bench::watch_screen(*s, profile, static_cast<std::uint32_t>(std::hash<std::string>{}(device)), stats);
  } catch (const std::exception& e) {
    if (c.holding) note_failure(c, e.what());
  }
}

double cpu_s(int pid) {
  int parent = 0;
  return pid ? bench::cpu_of(pid, parent) : 0.0;
}

json::object percentiles_ms(std::vector<double> us) {  // (sorted once: millions of samples)
  if (us.empty()) return {};
  std::sort(us.begin(), us.end());
  const auto at = [&](double p) { return bench::percentile_of_sorted(us, p) / 1000; };
  return {{"p50_ms", at(0.5)}, {"p99_ms", at(0.99)}, {"p999_ms", at(0.999)}, {"max_ms", at(1.0)}};
}

awaitable<void> sleep_s(double s) {
  net::steady_timer t(co_await net::this_coro::executor, std::chrono::milliseconds(static_cast<long>(s * 1000)));
  co_await t.async_wait(use_awaitable);
}

bench::ums_access parse_ums(const options& o) {
  auto colon = o.ums.rfind(':');
  if (colon == std::string::npos) throw std::invalid_argument("--ums expects HOST:PORT");
  return {o.ums.substr(0, colon), o.ums.substr(colon + 1), o.token};
}

// How many entries of a REST list have `key` equal to `value` (the server's own live count).
awaitable<long> server_count(tls_client& tls, const bench::ums_access& ums, std::string path, std::string list,
                             std::string key, std::string value) {
  auto body = co_await bench::rest_get(tls, ums, path);
  simdjson::dom::parser p;
  long n = 0;
  for (auto e : p.parse(body)[list].get_array()) {
    auto v = e[key];
    if (v.is_bool() ? (v.get_bool().value() == (value == "true")) : (v.is_string() && v.get_string().value() == value)) ++n;
  }
  co_return n;
}

awaitable<void> run(options o, int& rc) {
  auto ex = co_await net::this_coro::executor;
  task_group tasks(ex);
  auto tls = clients(o);
  counters c;
  const bool idle = o.mode == "idle", vnc = o.mode == "vnc";
  std::optional<bench::vnc_screen_server> screens;
  if (vnc) screens.emplace(o.vnc_port, o.profile);
  bench::vnc_viewer_stats screen_stats;
  const long server_before = resident_kib(o.pid), self_before = resident_kib(0);
  const auto t0 = clock::now();
  for (int i = 0; i < o.devices; ++i) {
    while (c.connecting >= o.parallel) co_await sleep_s(0.002);
    ++c.connecting;
    auto& client = *tls[static_cast<std::size_t>(i) % tls.size()];
    const auto id = o.prefix + std::to_string(o.start + i);
    if (idle)
      tasks.spawn(idle_device(client, parse_ws_url(o.url), id, o.credential + std::to_string(o.start + i), o.silent, c), "device " + id);
    else if (vnc)
      tasks.spawn(vnc_viewer(client, parse_ums(o), id, o.profile, c, screen_stats), "viewer " + id);
    else
      tasks.spawn(active_viewer(client, parse_ums(o), id, c), "viewer " + id);
  }
  while (c.connecting > 0) co_await sleep_s(0.01);
  const double ramp_s = std::chrono::duration<double>(clock::now() - t0).count();
  std::fprintf(stderr, "scale: %d up, %d failed after %.1f s; holding %d s\n", c.up, c.failed, ramp_s, o.hold_s);
  c.rtt_us.clear();  // latency under the steady load only
  if (screens) {
    screens->moving = true;
    co_await sleep_s(1);  // (the first updates are under way everywhere)
  }
  screen_stats.measuring = true;
  const auto updates0 = screen_stats.updates, bytes0 = screen_stats.bytes, input0 = screen_stats.input_events;
  const double ums_cpu0 = cpu_s(o.pid), agent_cpu0 = cpu_s(o.agent_pid), self_cpu0 = cpu_s(static_cast<int>(getpid()));
  const auto h0 = clock::now();
  co_await sleep_s(o.hold_s);
  const double held_s = std::chrono::duration<double>(clock::now() - h0).count();
  screen_stats.measuring = false;
  const long server_after = resident_kib(o.pid), self_after = resident_kib(0);
  json::object out{{"mode", o.mode}, {"target", o.devices}, {"up", c.up}, {"failed", c.failed},
                   {"dropped_while_holding", c.dropped}, {"ramp_s", ramp_s}, {"hold_s", o.hold_s},
                   {"server_rss_kib_before", server_before}, {"server_rss_kib_after", server_after},
                   {"client_kib_per_end", c.up ? static_cast<double>(self_after - self_before) / c.up : 0.0}};
  if (!idle && !c.setup_us.empty()) out["session_setup"] = percentiles_ms(c.setup_us);
  if (vnc && c.up) {
    const double per_session_s = held_s * c.up;
    out["screen"] = json::object{
        {"updates", screen_stats.updates - updates0}, {"update_latency", percentiles_ms(screen_stats.latency_us)},
        {"mb_s_to_viewers", static_cast<double>(screen_stats.bytes - bytes0) / 1e6 / held_s},
        {"input_events_per_s", static_cast<double>(screen_stats.input_events - input0) / held_s},
        {"vnc_connections", screens->connections.load()}};
    // CPU time per session-second, in milliseconds: what one watched screen costs each process.
    out["cpu_ms_per_session_s"] = json::object{{"ums", (cpu_s(o.pid) - ums_cpu0) * 1000 / per_session_s},
                                               {"device_agents", (cpu_s(o.agent_pid) - agent_cpu0) * 1000 / per_session_s},
                                               {"load_generator", (cpu_s(static_cast<int>(getpid())) - self_cpu0) * 1000 / per_session_s}};
  }
  if (c.up) out[idle ? "server_kib_per_connection" : "server_kib_per_session"] = static_cast<double>(server_after - server_before) / c.up;
  if (!c.first_error.empty()) out["first_error"] = c.first_error;
  if (!o.ums.empty() && !o.token.empty()) {
    // The server's own count, read while the load is still there.
    tls_client rest(make_trust(o.ca, ""));
    try {
      out["server_counted"] = idle ? co_await server_count(rest, parse_ums(o), "/api/v1/devices", "devices", "online", "true")
                                   : co_await server_count(rest, parse_ums(o), "/api/v1/sessions", "sessions", "state", "active");
    } catch (const std::exception& e) {
      out["server_count_error"] = e.what();  // e.g. the server is at its connection limit
    }
  }
  if (!idle && !vnc) {
    out["round_trips"] = c.round_trips;
    if (!c.rtt_us.empty())
      out["rtt64_under_load"] = json::object{{"p50_us", bench::percentile(c.rtt_us, 0.5)}, {"p99_us", bench::percentile(c.rtt_us, 0.99)}};
  }
  std::printf("%s\n", json::serialize(out).c_str());
  std::fflush(stdout);
  rc = c.up == o.devices && c.dropped == 0 ? 0 : 1;
  c.holding = false;
  tasks.cancel();
  co_await tasks.wait_empty(clock::now() + 5s);
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  bench::po::options_description opts("scale idle|active [options]");
  opts.add_options()
      ("mode", bench::po::value(&o.mode)->required(), "idle, active or vnc")
      ("url", bench::po::value(&o.url), "idle: the UP URL (wss://127.0.0.1:P/up)")
      ("ums", bench::po::value(&o.ums), "HOST:PORT of the UMS's REST API")
      ("ca", bench::po::value(&o.ca), "CA file of the server")
      ("token", bench::po::value(&o.token), "API token")
      ("devices", bench::po::value(&o.devices)->default_value(o.devices), "how many device links or sessions")
      ("prefix", bench::po::value(&o.prefix), "device id prefix (idle: scale-, active: act-)")
      ("credential", bench::po::value(&o.credential)->default_value(o.credential), "credential prefix (the device's number follows)")
      ("sources", bench::po::value(&o.sources)->default_value(o.sources), "source addresses 127.0.0.2 .. 127.0.0.(K+1)")
      ("pid", bench::po::value(&o.pid)->default_value(o.pid), "the server's PID (its resident memory is reported)")
      ("hold-s", bench::po::value(&o.hold_s)->default_value(o.hold_s), "seconds to hold the links once all are up")
      ("parallel", bench::po::value(&o.parallel)->default_value(o.parallel), "connections being set up at once")
      ("start", bench::po::value(&o.start)->default_value(o.start), "the first device's number")
      ("silent", bench::po::bool_switch(&o.silent), "connect without ever saying hello")
      ("vnc-port", bench::po::value(&o.vnc_port), "vnc: the port on 127.0.0.1 the device agents' VNC server is to listen on")
      ("agent-pid", bench::po::value(&o.agent_pid)->default_value(o.agent_pid), "vnc: the device agents' process (its CPU is reported)")
      ("updates-per-s", bench::po::value(&o.profile.updates_per_s)->default_value(o.profile.updates_per_s), "vnc: screen updates a second")
      ("mean-update", bench::po::value(&o.profile.mean_update)->default_value(o.profile.mean_update), "vnc: mean update size, bytes")
      ("big-update", bench::po::value(&o.profile.big_update)->default_value(o.profile.big_update), "vnc: the periodic large update, bytes")
      ("big-every-s", bench::po::value(&o.profile.big_every_s)->default_value(o.profile.big_every_s), "vnc: seconds between large updates")
      ("input-per-s", bench::po::value(&o.profile.input_events_per_s)->default_value(o.profile.input_events_per_s), "vnc: input events a second");
  bench::po::positional_options_description positional;
  positional.add("mode", 1);
  bench::po::variables_map vm;
  if (auto done = bench::parse_command_line(argc, argv, "scale", opts, positional, vm)) return *done;
  if (o.mode != "idle" && o.mode != "active" && o.mode != "vnc") {
    std::fprintf(stderr, "scale: the mode is idle, active or vnc, not '%s'\n", o.mode.c_str());
    return 2;
  }
  if (o.mode == "vnc" && (o.vnc_port == 0 || o.profile.updates_per_s <= 0 || o.profile.input_events_per_s <= 0 ||
                          o.profile.big_every_s <= 0 || o.profile.mean_update < 16 || o.profile.big_update < 16 ||
                          o.profile.big_update > (64u << 20))) {
    std::fprintf(stderr, "scale: vnc needs --vnc-port, positive rates, and update sizes from 16 bytes to 64 MiB\n");
    return 2;
  }
  if (o.prefix.empty()) o.prefix = o.mode == "idle" ? "scale-" : "act-";
  o.parallel = std::max(1, o.parallel);
  raise_open_file_limit();
  return bench::run_tool("scale", [&](int& rc) { return run(o, rc); });
}
