// The benchmark harness's own load client and echo server (a Python client would dominate the
// figures). Modes:
//   loadgen echo PORT                                   TCP echo server on 127.0.0.1:PORT (0: any free one)
//   loadgen measure URL [options]                       measure one path, print one JSON object
//     URL: tcp://127.0.0.1:P | ws://127.0.0.1:P/path | shadowlink://DEVICE@127.0.0.1:P (REST -> tunnel)
//          | webapp://DEVICE@127.0.0.1:P (login cookie -> the Web App's WebSocket, as noVNC does)
//     --round-trips N (20000) --bulk-mib M (256) --setups K (20) --ca FILE --token T --user U --password P
//     --pids "1 2" (relays, for CPU s/GB)
#include "benchmarks/cli.hpp"
#include "benchmarks/measure.hpp"
#include "benchmarks/viewer.hpp"
#include "framework/tcp_stream.hpp"
#include "framework/ws_stream.hpp"
#include "protocol/up_link.hpp"

#include <boost/asio/detached.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <unistd.h>

using namespace shadowlink;
using bench::percentile;
using bench::read_exact;
using namespace net::experimental::awaitable_operators;
namespace json = boost::json;

namespace {

struct options {
  std::string url, ca, token, user, password;
  int round_trips = 20000;
  int setups = 20;
  std::size_t bulk = 256u << 20;
  std::vector<int> pids;
};

// CPU time of the relay processes and of their children (socat and websockify fork one per
// connection), from /proc.
double cpu_seconds(const std::vector<int>& pids) {
  double total = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    auto name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    int pid = std::stoi(name), parent = 0;
    double cpu = bench::cpu_of(pid, parent);
    for (int p : pids)
      if (pid == p || parent == p) total += cpu;
  }
  return total;
}

awaitable<stream_ptr> open_tcp(const std::string& hp) {
  auto sock = co_await connect_tcp(hp.substr(0, hp.find(':')), hp.substr(hp.find(':') + 1), 10s);
  co_return make_tcp_stream(std::move(sock));
}

awaitable<stream_ptr> open_ws(const std::string& url) {
  const std::map<std::string, std::string> none;
  const auto opts = up::tunnel_options();
  const auto target = parse_ws_url(url);
  auto ws = co_await connect_ws(nullptr, target, none, opts);
  co_return ws;
}

// shadowlink://DEVICE@HOST:PORT, set up the real way: REST (create a session), then the tunnel;
// webapp://DEVICE@HOST:PORT the Web App's way.
awaitable<stream_ptr> open_shadowlink(const options& o, std::unique_ptr<tls_client>& tls) {
  auto rest = o.url.substr(o.url.find("://") + 3);
  auto device = rest.substr(0, rest.find('@'));
  auto hp = rest.substr(rest.find('@') + 1);
  tls = std::make_unique<tls_client>(make_trust(o.ca, ""));
  const bench::ums_access ums{hp.substr(0, hp.find(':')), hp.substr(hp.find(':') + 1), o.token};
  if (o.url.rfind("webapp://", 0) == 0) {
    auto s = co_await bench::open_webapp_session(*tls, ums, device, o.user, o.password);
    co_return s;
  }
  auto s = co_await bench::open_shadow_session(*tls, ums, device);
  co_return s;
}

awaitable<stream_ptr> open_path(const options& o, std::unique_ptr<tls_client>& tls) {
  if (o.url.rfind("tcp://", 0) == 0) co_return co_await open_tcp(o.url.substr(6));
  if (o.url.rfind("ws://", 0) == 0) co_return co_await open_ws(o.url);
  co_return co_await open_shadowlink(o, tls);
}

// One way, as a VNC screen update flows: the far end sends `bytes` and the viewer reads them.
// A second connection (a new session): the device ends the first one before it is free again.
awaitable<double> one_way_mb_s(const options& o, std::size_t bytes) {
  std::unique_ptr<tls_client> tls;
  stream_ptr s;
  for (int attempt = 0;; ++attempt) {
    try {
      s = co_await open_path(o, tls);
      break;
    } catch (const std::exception&) {
      if (attempt == 50) throw;
    }
    net::steady_timer t(co_await net::this_coro::executor, 200ms);
    co_await t.async_wait(use_awaitable);
  }
  const std::string ask = "SOURCE " + std::to_string(bytes) + "\n";
  error_code ec;
  auto t0 = clock::now();
  co_await s->write(net::buffer(ask), ec);
  if (ec) throw system_error(ec);
  std::vector<char> buf(256 * 1024);
  for (std::size_t got = 0; got < bytes;) {
    got += co_await s->read_some(net::buffer(buf), ec);
    if (ec) throw system_error(ec);
  }
  const double secs = std::chrono::duration<double>(clock::now() - t0).count();
  co_await close_stream(*s, "done");
  co_return static_cast<double>(bytes) / 1e6 / secs;
}

// A new session and the time from its request to its first echoed byte.
awaitable<stream_ptr> open_and_echo_one(const options& o, std::unique_ptr<tls_client>& tls, double& ms) {
  const auto t0 = clock::now();
  stream_ptr s = co_await open_path(o, tls);
  char one = 'x';
  error_code ec;
  co_await s->write(net::buffer(&one, 1), ec);
  if (ec) throw system_error(ec);
  co_await read_exact(*s, &one, 1);
  ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
  co_return s;
}

// Set-up time, as a person starting a session sees it: request to the first echoed byte, each
// set-up a new session on new connections (a console process starts afresh). The device ends the
// previous session asynchronously: a refused attempt is retried 10 ms later and not counted.
awaitable<json::object> setup_times(const options& o) {
  std::vector<double> ms;
  int refused = 0;
  net::steady_timer pause(co_await net::this_coro::executor);
  while (static_cast<int>(ms.size()) < o.setups) {
    std::unique_ptr<tls_client> tls;
    stream_ptr s;
    double took = 0;
    try {
      s = co_await open_and_echo_one(o, tls, took);
    } catch (const std::exception&) {
      if (++refused > 50 + 10 * o.setups) throw;
    }
    if (!s) {
      pause.expires_after(10ms);
      co_await pause.async_wait(use_awaitable);
      continue;
    }
    ms.push_back(took);
    co_await close_stream(*s, "done");
  }
  co_return json::object{{"count", ms.size()}, {"refused_and_retried", refused}, {"p50_ms", percentile(ms, 0.5)},
                         {"p90_ms", percentile(ms, 0.9)}, {"max_ms", percentile(ms, 1.0)}};
}

awaitable<void> measure(options o) {  // by value: the caller's options end before the coroutine runs
  std::unique_ptr<tls_client> tls;  // outlives the stream
  double setup_ms = 0;
  stream_ptr s = co_await open_and_echo_one(o, tls, setup_ms);
  error_code ec;
  json::object out{{"url", o.url}, {"setup_ms", setup_ms}};  // the first: this process's first TLS handshakes too
  for (std::size_t size : {std::size_t{64}, std::size_t{4096}}) {
    std::string msg(size, 'x'), back(size, '\0');
    std::vector<double> us;
    int warm = std::max(100, o.round_trips / 10);
    for (int i = 0; i < o.round_trips + warm; ++i) {
      auto a = clock::now();
      co_await s->write(net::buffer(msg), ec);
      if (ec) throw system_error(ec);
      co_await read_exact(*s, back.data(), size);
      if (i >= warm) us.push_back(std::chrono::duration<double, std::micro>(clock::now() - a).count());
    }
    auto key = size == 64 ? std::string("rtt64") : std::string("rtt4k");
    out[key] = json::object{{"p50_us", percentile(us, 0.5)}, {"p99_us", percentile(us, 0.99)}, {"p999_us", percentile(us, 0.999)}};
  }
  std::string chunk(64 * 1024, 'b');
  double cpu0 = cpu_seconds(o.pids);
  auto b0 = clock::now();
  auto writer = [&]() -> awaitable<void> {
    for (std::size_t sent = 0; sent < o.bulk; sent += chunk.size()) {
      error_code wec;
      co_await s->write(net::buffer(chunk), wec);
      if (wec) throw system_error(wec);
    }
  };
  auto reader = [&]() -> awaitable<void> {
    std::vector<char> buf(256 * 1024);
    for (std::size_t got = 0; got < o.bulk;) {
      error_code rec;
      got += co_await s->read_some(net::buffer(buf), rec);
      if (rec) throw system_error(rec);
    }
  };
  co_await (writer() && reader());
  double secs = std::chrono::duration<double>(clock::now() - b0).count();
  double cpu = cpu_seconds(o.pids) - cpu0;
  // Bytes cross each relay twice (there and back): CPU per GB counts both directions.
  out["bulk_mb_s"] = static_cast<double>(o.bulk) / 1e6 / secs;
  if (!o.pids.empty()) out["relay_cpu_s_per_gb"] = cpu / (2.0 * static_cast<double>(o.bulk) / 1e9);
  co_await close_stream(*s, "done");
  s.reset();
  out["one_way_mb_s"] = co_await one_way_mb_s(o, o.bulk);
  if (o.setups > 0) out["setups"] = co_await setup_times(o);
  std::printf("%s\n", json::serialize(out).c_str());
}

awaitable<void> echo_server(unsigned short port) {
  auto ex = co_await net::this_coro::executor;
  tcp::acceptor acc(ex, tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  // With port 0 the kernel picks one: whoever started us reads it here.
  std::fprintf(stderr, "listening on 127.0.0.1:%u\n", static_cast<unsigned>(acc.local_endpoint().port()));
  for (;;) {
    auto sock = co_await acc.async_accept(use_awaitable);
    net::co_spawn(ex, [s = make_tcp_stream(std::move(sock))]() -> awaitable<void> {
      std::vector<char> buf(256 * 1024);
      // "SOURCE N\n" as a connection's first bytes asks for N bytes one way (see one_way_mb_s).
      error_code ec;
      auto first = co_await s->read_some(net::buffer(buf), ec);
      const std::string_view head(buf.data(), first);
      if (head.starts_with("SOURCE ") && head.find('\n') != std::string_view::npos) {
        std::size_t left = std::stoull(std::string(head.substr(7, head.find('\n') - 7)));
        std::vector<char> out(64 * 1024, 's');
        while (left > 0 && !ec) {
          const auto n = std::min(left, out.size());
          co_await s->write(net::buffer(out.data(), n), ec);
          left -= n;
        }
        while (!ec) co_await s->read_some(net::buffer(buf), ec);  // until the viewer closes
        co_return;
      }
      if (first > 0) co_await s->write(net::buffer(buf.data(), first), ec);
      if (ec) co_return;
      for (;;) {
        auto n = co_await s->read_some(net::buffer(buf), ec);
        if (n > 0) co_await s->write(net::buffer(buf.data(), n), ec);
        if (ec) co_return;
      }
    }, net::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  std::string mode, pids;
  int bulk_mib = static_cast<int>(o.bulk >> 20);
  bench::po::options_description opts("loadgen echo PORT | loadgen measure URL [options]");
  opts.add_options()
      ("mode", bench::po::value(&mode)->required(), "echo or measure")
      ("target", bench::po::value(&o.url)->required(), "echo: the port; measure: the URL")
      ("round-trips", bench::po::value(&o.round_trips)->default_value(o.round_trips), "round trips per message size (at least 10)")
      ("bulk-mib", bench::po::value(&bulk_mib)->default_value(bulk_mib), "MiB sent one way for the bulk figure")
      ("setups", bench::po::value(&o.setups)->default_value(o.setups), "sessions set up one after another for the set-up time (0: none)")
      ("ca", bench::po::value(&o.ca), "CA file of the server")
      ("token", bench::po::value(&o.token), "API token (shadowlink:// URLs)")
      ("user", bench::po::value(&o.user), "user (webapp:// URLs)")
      ("password", bench::po::value(&o.password), "password (webapp:// URLs)")
      ("pids", bench::po::value(&pids), "\"PID ...\": relays whose CPU time is reported per GB");
  bench::po::positional_options_description positional;
  positional.add("mode", 1).add("target", 1);
  bench::po::variables_map vm;
  if (auto done = bench::parse_command_line(argc, argv, "loadgen", opts, positional, vm)) return *done;
  if (mode != "echo" && mode != "measure") {
    std::fprintf(stderr, "loadgen: the mode is echo or measure, not '%s'\n", mode.c_str());
    return 2;
  }
  o.round_trips = std::max(10, o.round_trips);
  o.bulk = static_cast<std::size_t>(std::clamp(bulk_mib, 1, 1 << 20)) << 20;
  std::istringstream in(pids);
  for (int p; in >> p;) o.pids.push_back(p);
  net::io_context ioc(1);
  int rc = 0;
  auto report = [&](std::exception_ptr ep) {
    if (!ep) return;
    rc = 1;
    try { std::rethrow_exception(ep); } catch (const std::exception& e) { std::fprintf(stderr, "loadgen: %s\n", e.what()); }
  };
  if (mode == "echo") {
    int port = -1;
    const auto* end = o.url.data() + o.url.size();
    if (auto [p, ec] = std::from_chars(o.url.data(), end, port); ec != std::errc() || p != end) port = -1;
    if (port < 0 || port > 65535) {
      std::fprintf(stderr, "loadgen: echo needs a port, not '%s'\n", o.url.c_str());
      return 2;
    }
    net::co_spawn(ioc, echo_server(static_cast<unsigned short>(port)), report);
  } else {
    net::co_spawn(ioc, measure(o), report);
  }
  ioc.run();
  return rc;
}
