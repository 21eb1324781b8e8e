// An active shadow session's round trip, unloaded and while hostile clients flood the same server.
// Prints one JSON object.
//   flood --ums 127.0.0.1:P --ca F --token T --device D [--hostile 2000] [--seconds 30]
//         [--round-trips 2000] [--sources 8] [--ids scale- --id-count N]
// The session (REST, then the tunnel, to device D whose "VNC server" echoes) sends 64 bytes and
// waits for them, back to back, first with nothing else going on, then while --hostile clients,
// a quarter of each kind, run until the end:
//   half-open  TCP connections that send the first 3 bytes of a TLS record and nothing more;
//   hellos     TLS + WebSocket to /up, a hello for an existing device id with a wrong credential;
//   slowloris  TLS, then an HTTP request one header byte every 5 s;
//   logins     POST /api/v1/login with a wrong password for --user (known or not: the UMS checks both
//              at the same cost).
// Each reconnects when the server closes it. Client sockets leave from 127.0.1.2 .. 127.0.1.(K+1):
// the attackers' own addresses, not those of the devices (scale's 127.0.0.x).
// Whether verified device links survive is measured beside it (scale idle's dropped_while_holding).
#include "benchmarks/cli.hpp"
#include "benchmarks/measure.hpp"
#include "benchmarks/tool_main.hpp"
#include "benchmarks/viewer.hpp"
#include "framework/deadline.hpp"
#include "framework/https_client.hpp"
#include "framework/meeting_point.hpp"
#include "framework/on_exit.hpp"
#include "framework/service_host.hpp"
#include "framework/task_group.hpp"
#include "framework/tcp_stream.hpp"
#include "protocol/up_link.hpp"

#include <boost/asio/write.hpp>
#include <wolfssl/wolfcrypt/ecc.h>
#include <boost/json.hpp>

#include <array>
#include <atomic>
#include <cstdio>
#include <thread>

#include <sys/resource.h>
#include <unistd.h>

using namespace shadowlink;
using namespace net::experimental::awaitable_operators;
namespace json = boost::json;

namespace {

struct options {
  std::string ums, ca, token, device, ids = "scale-", user = "admin";
  int hostile = 2000, seconds = 30, round_trips = 2000, sources = 8, id_count = 100;
  int hostile_nice = 0;  // the hostile thread's nice value: 19 stands in for attackers on other machines
};

struct kind_stats {
  std::uint64_t attempts = 0, refused_at_once = 0;  // connections made; closed or refused right away
};

// The hostile clients run on a thread and io_context of their own: the measured session must not
// queue behind them in the measuring process (that would measure this tool, not the server).
struct flood_state {
  std::atomic<bool> running{true};
  std::array<kind_stats, 4> kinds{};  // written by the hostile thread only; read after it ended
};
constexpr std::array<const char*, 4> kind_names{"half_open", "hellos", "slowloris", "logins"};

// Round trips of 64 bytes on the session, back to back; the samples in microseconds.
awaitable<std::vector<double>> round_trips(stream& s, int n) {
  std::vector<double> us;
  std::string msg(64, 'f'), back(64, '\0');
  for (int i = 0; i < n; ++i) {
    const auto a = clock::now();
    error_code ec;
    co_await s.write(net::buffer(msg), ec);
    if (ec) throw system_error(ec, "session write");
    co_await with_deadline(bench::read_exact(s, back.data(), back.size()), 10s, "echo");
    us.push_back(std::chrono::duration<double, std::micro>(clock::now() - a).count());
  }
  co_return us;
}

awaitable<tcp::socket> connect_from(const options& o, const std::string& source) {
  auto colon = o.ums.rfind(':');
  co_return co_await connect_tcp(o.ums.substr(0, colon), o.ums.substr(colon + 1), 5s, source);
}

// Reads until the server closes (or `limit`): how a hostile client holds its connection.
awaitable<void> hold(tcp::socket& s, clock::duration limit) {
  char sink[512];
  net::steady_timer t(s.get_executor(), limit);
  auto drain = [&]() -> awaitable<void> {
    for (;;) {
      auto [ec, n] = co_await s.async_read_some(net::buffer(sink), use_tuple);
      (void)n;
      if (ec) co_return;
    }
  };
  co_await (drain() || t.async_wait(use_tuple));
}

awaitable<void> half_open(const options& o, std::string source, flood_state& st) {
  while (st.running) {
    ++st.kinds[0].attempts;
    bool failed = false;
    try {
      auto s = co_await connect_from(o, source);
      const unsigned char record_start[3] = {0x16, 0x03, 0x01};  // a handshake record, never finished
      co_await net::async_write(s, net::buffer(record_start), use_awaitable);
      const auto a = clock::now();
      co_await hold(s, 60s);
      if (clock::now() - a < 100ms) ++st.kinds[0].refused_at_once;
    } catch (const std::exception&) {
      ++st.kinds[0].refused_at_once;
      failed = true;
    }
    if (failed) co_await sleep_for(100ms);  // (not in the handler: g++ 12)
  }
}

awaitable<void> wrong_hellos(const options& o, tls_client& tls, int n, flood_state& st) {
  const auto target = parse_ws_url("wss://" + o.ums + "/up");
  for (int i = 0; st.running; ++i) {
    ++st.kinds[1].attempts;
    bool failed = false;
    try {
      const std::map<std::string, std::string> none;
      const auto opts = up::link_options();
      up::link link(co_await connect_ws(&tls, target, none, opts));
      up::message hello;
      hello.type = up::kind::hello;
      hello.device_id = o.ids + std::to_string((n + i) % std::max(1, o.id_count));
      hello.credential = "a-wrong-credential-" + std::to_string(i);
      hello.agent = "shadowlink-flood";
      link.send(hello);
      auto answer = [&]() -> awaitable<void> { (void)co_await link.receive(); };
      co_await (link.write_loop() || settle(answer()));
    } catch (const std::exception&) {
      ++st.kinds[1].refused_at_once;
      failed = true;
    }
    if (failed) co_await sleep_for(100ms);  // (not in the handler: g++ 12)
  }
}

awaitable<void> slowloris(const options& o, tls_client& tls, flood_state& st) {
  while (st.running) {
    ++st.kinds[2].attempts;
    bool failed = false;
    try {
      auto colon = o.ums.rfind(':');
      auto s = co_await connect_tls(tls, o.ums.substr(0, colon), o.ums.substr(colon + 1), 10s);
      const std::string request = "GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + std::string(4096, 'a');
      for (char ch : request) {
        auto [ec, n] = co_await net::async_write(*s, net::buffer(&ch, 1), use_tuple);
        (void)n;
        if (ec || !st.running) break;
        co_await sleep_for(5s);
      }
    } catch (const std::exception&) {
      ++st.kinds[2].refused_at_once;
      failed = true;
    }
    if (failed) co_await sleep_for(100ms);  // (not in the handler: g++ 12)
  }
}

awaitable<void> login_guesses(const options& o, tls_client& tls, flood_state& st) {
  auto colon = o.ums.rfind(':');
  const rest_target target{o.ums.substr(0, colon), o.ums.substr(colon + 1)};
  for (int i = 0; st.running; ++i) {
    ++st.kinds[3].attempts;
    bool failed = false;
    try {
      http_request req{http::verb::post, "/api/v1/login", 11};
      req.set(http::field::content_type, "application/json");
      req.body() = json::serialize(json::object{{"user", o.user}, {"password", "guess-" + std::to_string(i)}});
      req.prepare_payload();
      auto res = co_await https_request(tls, target, std::move(req), 10s);
      if (res.result() == http::status::too_many_requests || res.result() == http::status::service_unavailable)
        ++st.kinds[3].refused_at_once;
    } catch (const std::exception&) {
      ++st.kinds[3].refused_at_once;
      failed = true;
    }
    if (failed) co_await sleep_for(100ms);  // (not in the handler: g++ 12)
  }
}

// The hostile clients, a quarter of each kind, until st.running is false (then cancelled). Their
// TLS clients and task group belong to the caller, so they outlive every client's coroutine.
awaitable<void> flood(const options& o, flood_state& st, std::vector<std::unique_ptr<tls_client>>& tls,
                      const std::vector<std::string>& sources, task_group& hostile) {
  for (int i = 0; i < o.hostile && st.running; ++i) {
    const auto k = static_cast<std::size_t>(i) % sources.size();
    switch (i % 4) {
      case 0: hostile.spawn(half_open(o, sources[k], st), "half-open"); break;
      case 1: hostile.spawn(wrong_hellos(o, *tls[k], i, st), "hello"); break;
      case 2: hostile.spawn(slowloris(o, *tls[k], st), "slowloris"); break;
      default: hostile.spawn(login_guesses(o, *tls[k], st), "login"); break;
    }
    if (i % 50 == 49) co_await sleep_for(10ms);  // a ramp of a few hundred milliseconds, not one burst
  }
  while (st.running) co_await sleep_for(50ms);
  hostile.cancel();
  co_await hostile.wait_empty(clock::now() + 5s);
}

json::object summary(const std::vector<double>& us) {
  return json::object{{"round_trips", us.size()},
                      {"p50_us", bench::percentile(us, 0.5)},
                      {"p99_us", bench::percentile(us, 0.99)},
                      {"max_us", bench::percentile(us, 1.0)}};
}

awaitable<void> run(options o, int& rc) {
  auto ex = co_await net::this_coro::executor;
  auto colon = o.ums.rfind(':');
  const bench::ums_access ums{o.ums.substr(0, colon), o.ums.substr(colon + 1), o.token};
  tls_client viewer_tls(make_trust(o.ca, ""));
  auto session = co_await bench::open_shadow_session(viewer_tls, ums, o.device);
  (void)co_await round_trips(*session, 200);  // warm-up
  const auto unloaded = co_await round_trips(*session, o.round_trips);
  std::fprintf(stderr, "flood: unloaded p50 %.0f us; starting %d hostile clients\n", bench::percentile(unloaded, 0.5), o.hostile);

  flood_state st;
  std::vector<std::unique_ptr<tls_client>> tls;
  std::vector<std::string> sources;
  for (int k = 0; k < std::max(1, o.sources); ++k) {
    sources.push_back("127.0.1." + std::to_string(2 + k));
    tls.push_back(std::make_unique<tls_client>(make_trust(o.ca, "")));
    tls.back()->set_source_address(sources.back());
  }
  net::io_context hostile_ioc(1);
  task_group hostile(hostile_ioc.get_executor());
  bool flood_failed = false;
  net::co_spawn(hostile_ioc, flood(o, st, tls, sources, hostile), [&](std::exception_ptr ep) {
    if (ep) {
      flood_failed = true;
      try { std::rethrow_exception(ep); } catch (const std::exception& e) { std::fprintf(stderr, "flood: the hostile clients failed: %s\n", e.what()); }
    }
    hostile_ioc.stop();
  });
  std::thread hostile_thread([&] {
    if (o.hostile_nice != 0 && ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), o.hostile_nice) != 0)
      std::fprintf(stderr, "flood: cannot set the hostile thread's nice value to %d\n", o.hostile_nice);
    hostile_ioc.run();
#ifdef FP_ECC
    wc_ecc_fp_free();  // wolfSSL's per-thread cache of ECC points; the main thread's is freed at exit
#endif
  });
  // Whatever ends this coroutine (a failed round trip too), the hostile thread is stopped first.
  shadowlink::on_exit stop_hostile([&] {
    st.running = false;
    if (hostile_thread.joinable()) hostile_thread.join();
  });
  co_await sleep_for(std::chrono::seconds(std::max(1, o.seconds / 3)));  // the flood at full strength
  const auto t0 = clock::now();
  const auto loaded = co_await round_trips(*session, o.round_trips);
  const auto measured_s = std::chrono::duration<double>(clock::now() - t0).count();
  const auto rest = std::chrono::seconds(o.seconds) - std::chrono::duration_cast<std::chrono::seconds>(clock::now() - t0);
  if (rest > 0s) co_await sleep_for(rest);
  stop_hostile.run();
  if (flood_failed) throw std::runtime_error("no flood ran: the numbers under it would be unloaded ones");
  json::object kinds;
  for (std::size_t k = 0; k < kind_names.size(); ++k)
    kinds[kind_names[k]] = json::object{{"attempts", st.kinds[k].attempts}, {"refused_or_closed_at_once", st.kinds[k].refused_at_once}};
  co_await close_stream(*session, "flood done");
  const double ratio = bench::percentile(loaded, 0.99) / std::max(1.0, bench::percentile(unloaded, 0.99));
  json::object out{{"hostile_clients", o.hostile}, {"sources", std::max(1, o.sources)},
                   {"unloaded", summary(unloaded)}, {"under_flood", summary(loaded)}, {"p99_ratio", ratio},
                   {"measured_under_flood_s", measured_s}, {"hostile", kinds}};
  std::printf("%s\n", json::serialize(out).c_str());
  std::fflush(stdout);
  rc = 0;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  bench::po::options_description opts("flood [options]");
  opts.add_options()
      ("ums", bench::po::value(&o.ums)->required(), "HOST:PORT of the server (REST, /up, TLS)")
      ("ca", bench::po::value(&o.ca)->required(), "CA file of the server")
      ("token", bench::po::value(&o.token)->required(), "API token (for the measured session)")
      ("device", bench::po::value(&o.device)->required(), "the device whose session is measured (its VNC server echoes)")
      ("hostile", bench::po::value(&o.hostile)->default_value(o.hostile), "hostile clients, a quarter of each kind")
      ("seconds", bench::po::value(&o.seconds)->default_value(o.seconds), "how long the flood runs")
      ("round-trips", bench::po::value(&o.round_trips)->default_value(o.round_trips), "64-byte round trips measured, unloaded and under the flood")
      ("sources", bench::po::value(&o.sources)->default_value(o.sources), "source addresses 127.0.1.2 .. 127.0.1.(K+1)")
      ("ids", bench::po::value(&o.ids)->default_value(o.ids), "prefix of the device ids the wrong hellos name")
      ("id-count", bench::po::value(&o.id_count)->default_value(o.id_count), "how many such ids (PREFIX0 ..)")
      ("user", bench::po::value(&o.user)->default_value(o.user), "the user whose password is guessed")
      ("hostile-nice", bench::po::value(&o.hostile_nice)->default_value(o.hostile_nice),
       "nice value of the hostile clients' thread (19: they barely take this machine's CPU, as from other machines)");
  bench::po::positional_options_description none;
  bench::po::variables_map vm;
  if (auto done = bench::parse_command_line(argc, argv, "flood", opts, none, vm)) return *done;
  raise_open_file_limit();
  return bench::run_tool("flood", [&](int& rc) { return run(o, rc); });
}
