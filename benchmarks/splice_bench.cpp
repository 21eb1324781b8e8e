// In-process micro-benchmarks of the splice pump: a client, the relay and an echo server run as
// coroutines on one io_context (one thread), over real loopback sockets, real TLS and real
// WebSockets. Round-trip latency percentiles for small and 4 KiB messages, and bulk throughput.
//
//   splice_bench [--round-trips N] [--bulk-mib M] [--json FILE]
#include "benchmarks/cli.hpp"
#include "benchmarks/measure.hpp"
#include "framework/certs.hpp"
#include "framework/https_server.hpp"
#include "framework/splice.hpp"
#include "framework/tcp_stream.hpp"
#include "framework/tls.hpp"
#include "framework/ws_stream.hpp"
#include "protocol/up_link.hpp"
#include "services/ums/recordings.hpp"

#include <boost/asio/write.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <unistd.h>
#include <vector>

using namespace shadowlink;
using bench::percentile;
using bench::read_exact;
using namespace net::experimental::awaitable_operators;

namespace {

struct result {
  std::string path;
  double p50_64 = 0, p99_64 = 0, p999_64 = 0, p50_4k = 0, p99_4k = 0, p999_4k = 0, mb_s = 0;
};

awaitable<void> echo(stream& s) {
  std::vector<char> buf(64 * 1024);
  for (;;) {
    error_code ec;
    auto n = co_await s.read_some(net::buffer(buf), ec);
    if (n > 0) co_await s.write(net::buffer(buf.data(), n), ec);
    if (ec) co_return;
  }
}

awaitable<void> measure(stream& client, int round_trips, std::size_t bulk, result& r) {
  for (std::size_t size : {std::size_t{64}, std::size_t{4096}}) {
    std::string msg(size, 'x'), back(size, '\0');
    std::vector<double> us;
    for (int i = 0; i < round_trips + round_trips / 10; ++i) {
      auto t0 = clock::now();
      error_code ec;
      co_await client.write(net::buffer(msg), ec);
      if (ec) throw system_error(ec);
      co_await read_exact(client, back.data(), size);
      if (i >= round_trips / 10) us.push_back(std::chrono::duration<double, std::micro>(clock::now() - t0).count());
    }
    double p50 = percentile(us, 0.5), p99 = percentile(us, 0.99), p999 = percentile(us, 0.999);
    (size == 64 ? r.p50_64 : r.p50_4k) = p50;
    (size == 64 ? r.p99_64 : r.p99_4k) = p99;
    (size == 64 ? r.p999_64 : r.p999_4k) = p999;
  }
  // Bulk: one writer and one reader of the echoed bytes at the same time.
  std::string chunk(64 * 1024, 'b');
  auto t0 = clock::now();
  auto writer = [&]() -> awaitable<void> {
    for (std::size_t sent = 0; sent < bulk; sent += chunk.size()) {
      error_code ec;
      co_await client.write(net::buffer(chunk), ec);
      if (ec) throw system_error(ec);
    }
  };
  auto reader = [&]() -> awaitable<void> {
    std::vector<char> buf(64 * 1024);
    for (std::size_t got = 0; got < bulk;) {
      error_code ec;
      got += co_await client.read_some(net::buffer(buf), ec);
      if (ec) throw system_error(ec);
    }
  };
  co_await (writer() && reader());
  r.mb_s = static_cast<double>(bulk) / 1e6 / std::chrono::duration<double>(clock::now() - t0).count();
}

struct bench_run {
  int round_trips;
  std::size_t bulk;
  const identity& id;
  std::string dir;  // scratch: recordings go to dir/recordings
  std::vector<result> results;

  // client <-> echo directly over TCP: the floor.
  awaitable<void> direct_tcp() {
    auto ex = co_await net::this_coro::executor;
    tcp::acceptor acc(ex, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    auto port = std::to_string(acc.local_endpoint().port());
    auto server = [&]() -> awaitable<void> {
      auto s = make_tcp_stream(co_await acc.async_accept(use_awaitable));
      co_await echo(*s);
    };
    auto client = [&]() -> awaitable<void> {
      auto c = make_tcp_stream(co_await connect_tcp("127.0.0.1", port, 5s));
      result r{"direct TCP (no relay)"};
      co_await measure(*c, round_trips, bulk, r);
      results.push_back(r);
      c->abort();
    };
    co_await (server() && client());
  }

  // client -TCP-> splice -TCP-> echo; with `recorded`, the splice records both directions as the
  // UMS does for a recorded device (FBS files written by the recordings' own thread).
  awaitable<void> tcp_tcp(bool recorded = false) {
    auto ex = co_await net::this_coro::executor;
    tcp::acceptor echo_acc(ex, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    tcp::acceptor relay_acc(ex, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    auto echo_port = std::to_string(echo_acc.local_endpoint().port());
    auto relay_port = std::to_string(relay_acc.local_endpoint().port());
    auto server = [&]() -> awaitable<void> {
      auto s = make_tcp_stream(co_await echo_acc.async_accept(use_awaitable));
      co_await echo(*s);
    };
    // Room for everything this run relays, so that only the disk can stop the recording.
    ums::recording_limits limits;
    limits.per_session = limits.total = 8 * bulk + (64u << 20);
    ums::recording_store store(dir + "/recordings", limits, "splice_bench");
    std::shared_ptr<ums::recording> rec;
    auto relay = [&]() -> awaitable<void> {
      auto a = make_tcp_stream(co_await relay_acc.async_accept(use_awaitable));
      auto b = make_tcp_stream(co_await connect_tcp("127.0.0.1", echo_port, 5s));
      if (recorded) {
        rec = store.start("s-" + std::to_string(results.size()), "bench", "bench");
        a = ums::make_recorded(std::move(a), rec, ums::recording::direction::from_viewer);
        b = ums::make_recorded(std::move(b), rec, ums::recording::direction::to_viewer);
      }
      splicer sp(*a, *b);
      co_await sp.run();
      if (rec) rec->finish();
    };
    auto client = [&]() -> awaitable<void> {
      auto c = make_tcp_stream(co_await connect_tcp("127.0.0.1", relay_port, 5s));
      result r{recorded ? "splice TCP <-> TCP, recorded" : "splice TCP <-> TCP"};
      co_await measure(*c, round_trips, bulk, r);
      results.push_back(r);
      co_await close_stream(*c, "done");
    };
    co_await (server() && relay() && client());
    if (rec) std::fprintf(stderr, "splice_bench: recording %s (%llu MiB)\n", rec->state().c_str(), static_cast<unsigned long long>(rec->bytes() >> 20));
  }

  // client -TLS-> splice -TLS-> TLS echo
  awaitable<void> tls_tls() {
    auto ex = co_await net::this_coro::executor;
    auto sctx = make_server_tls(id.cert_chain_pem, id.key_pem);
    tls_client cli(client_trust{id.ca_pem, {}});
    tcp::acceptor echo_acc(ex, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    tcp::acceptor relay_acc(ex, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    auto echo_port = std::to_string(echo_acc.local_endpoint().port());
    auto relay_port = std::to_string(relay_acc.local_endpoint().port());
    auto accept_one = [&](tcp::acceptor& acc) -> awaitable<stream_ptr> {
      auto s = std::make_unique<tls_socket>(co_await acc.async_accept(use_awaitable), *sctx);
      s->next_layer().set_option(tcp::no_delay(true));
      co_await accept_tls(*s, 5s);
      co_return make_tls_stream(std::move(s));
    };
    auto server = [&]() -> awaitable<void> {
      auto s = co_await accept_one(echo_acc);
      co_await echo(*s);
    };
    auto relay = [&]() -> awaitable<void> {
      auto a = co_await accept_one(relay_acc);
      auto b = make_tls_stream(co_await connect_tls(cli, "127.0.0.1", echo_port, 5s));
      splicer sp(*a, *b);
      co_await sp.run();
    };
    auto client = [&]() -> awaitable<void> {
      auto c = make_tls_stream(co_await connect_tls(cli, "127.0.0.1", relay_port, 5s));
      result r{"splice TLS <-> TLS"};
      co_await measure(*c, round_trips, bulk, r);
      results.push_back(r);
      co_await close_stream(*c, "done");
    };
    co_await (server() && relay() && client());
  }

  // client -WebSocket over TLS-> HTTPS listener + splice -TCP-> echo (a device agent's shape)
  awaitable<void> wss_tcp() {
    auto ex = co_await net::this_coro::executor;
    task_group tasks(ex);
    https_server server(tasks, make_server_tls(id.cert_chain_pem, id.key_pem), "bench");
    tcp::acceptor echo_acc(ex, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    auto echo_port = std::to_string(echo_acc.local_endpoint().port());
    server.add_ws("/t", [&](ws_upgrade& up) -> awaitable<void> {
      const auto opts = up::tunnel_options();
      auto a = co_await up.accept(opts);
      auto b = make_tcp_stream(co_await connect_tcp("127.0.0.1", echo_port, 5s));
      splicer sp(*a, *b);
      co_await sp.run();
    });
    server.listen("127.0.0.1", 0);
    tls_client cli(client_trust{id.ca_pem, {}});
    auto echo_server = [&]() -> awaitable<void> {
      auto s = make_tcp_stream(co_await echo_acc.async_accept(use_awaitable));
      co_await echo(*s);
    };
    auto client = [&]() -> awaitable<void> {
      ws_target t{true, "127.0.0.1", std::to_string(server.port()), "/t"};
      const std::map<std::string, std::string> none;
      const auto opts = up::tunnel_options();
      auto c = co_await connect_ws(&cli, t, none, opts);
      result r{"splice WebSocket/TLS <-> TCP"};
      co_await measure(*c, round_trips, bulk, r);
      results.push_back(r);
      co_await close_stream(*c, "done");
    };
    co_await (echo_server() && client());
    server.stop();
    tasks.cancel();
    co_await tasks.wait_empty(clock::now() + 5s);
  }
};

}  // namespace

int main(int argc, char** argv) {
  int round_trips = 20000;
  int bulk_mib = 256;
  std::string json_path;
  bench::po::options_description opts("splice_bench [options]");
  opts.add_options()
      ("round-trips", bench::po::value(&round_trips)->default_value(round_trips), "round trips per message size (at least 10)")
      ("bulk-mib", bench::po::value(&bulk_mib)->default_value(bulk_mib), "MiB sent one way for the bulk figure")
      ("json", bench::po::value(&json_path), "also write the figures to this file as JSON");
  bench::po::variables_map vm;
  if (auto done = bench::parse_command_line(argc, argv, "splice_bench", opts, {}, vm)) return *done;
  round_trips = std::max(10, round_trips);
  bulk_mib = std::clamp(bulk_mib, 1, 1 << 20);
  char dir[] = "/tmp/splice-bench-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  auto id = ensure_server_identity(std::string(dir) + "/s", std::string(dir) + "/ca", {"127.0.0.1"});
  bench_run b{round_trips, static_cast<std::size_t>(bulk_mib) << 20, id, dir, {}};
  net::io_context ioc(1);
  int rc = 0;
  net::co_spawn(ioc, [&]() -> awaitable<void> {
    co_await b.direct_tcp();
    co_await b.tcp_tcp();
    co_await b.tcp_tcp(true);
    co_await b.tls_tls();
    co_await b.wss_tcp();
  }, [&](std::exception_ptr ep) {
    if (!ep) return;
    rc = 1;
    try { std::rethrow_exception(ep); } catch (const std::exception& e) { std::fprintf(stderr, "splice_bench: %s\n", e.what()); }
  });
  ioc.run();
  std::printf("splice_bench: %d round trips per size, %d MiB bulk, one thread (client, relay and echo share it)\n",
              round_trips, bulk_mib);
  std::printf("| path | 64 B p50 µs | p99 | p99.9 | 4 KiB p50 µs | p99 | p99.9 | bulk MB/s |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
  boost::json::array figures;
  for (auto& r : b.results) {
    std::printf("| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.0f |\n", r.path.c_str(), r.p50_64, r.p99_64, r.p999_64,
                r.p50_4k, r.p99_4k, r.p999_4k, r.mb_s);
    figures.push_back(boost::json::object{{"path", r.path}, {"p50_64", r.p50_64}, {"p99_64", r.p99_64}, {"p999_64", r.p999_64},
                                          {"p50_4k", r.p50_4k}, {"p99_4k", r.p99_4k}, {"p999_4k", r.p999_4k}, {"mb_s", r.mb_s}});
  }
  if (!json_path.empty()) std::ofstream(json_path) << boost::json::serialize(figures) << "\n";
  std::string rm = std::string("rm -rf ") + dir;
  if (std::system(rm.c_str()) != 0) rc = rc ? rc : 0;
  return b.results.size() == 5 ? rc : 1;  // every path measured
}
