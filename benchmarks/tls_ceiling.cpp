// The crypto ceiling on this machine: one TLS 1.3 connection over loopback, client and server in
// one thread, bulk data one way, for each cipher suite the servers offer. Every byte is encrypted
// once and decrypted once on this core, so this bounds what one TLS leg of a relay can carry.
//   tls_ceiling [--mib M] [--json FILE]      prints a Markdown table, writes JSON
#include "benchmarks/cli.hpp"
#include "framework/certs.hpp"
#include "framework/tls.hpp"

#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <wolfssl/ssl.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace shadowlink;
using namespace net::experimental::awaitable_operators;

namespace {

struct figure {
  std::string cipher;
  double mb_s = 0;
};

awaitable<figure> measure(const identity& id, std::string suite, std::size_t bytes) {
  auto ex = co_await net::this_coro::executor;
  auto sctx = make_server_tls(id.cert_chain_pem, id.key_pem);
  // The server applies its own order; offering one suite decides it.
  wolfSSL_CTX_set_cipher_list(sctx->native_handle(), suite.c_str());
  tls_client cli(client_trust{id.ca_pem, {}});
  tcp::acceptor acc(ex, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  const auto port = std::to_string(acc.local_endpoint().port());
  auto serve = [&]() -> awaitable<std::unique_ptr<tls_socket>> {
    auto s = std::make_unique<tls_socket>(co_await acc.async_accept(use_awaitable), *sctx);
    co_await accept_tls(*s, 5s);
    co_return s;
  };
  auto [server, client] = co_await (serve() && connect_tls(cli, "127.0.0.1", port, 5s));
  figure f{wolfSSL_get_cipher_name(client->native_handle())};
  std::vector<char> out(64 * 1024, 'c'), in(64 * 1024);
  auto t0 = clock::now();
  auto writer = [&]() -> awaitable<void> {
    for (std::size_t sent = 0; sent < bytes; sent += out.size()) co_await net::async_write(*client, net::buffer(out), use_awaitable);
  };
  auto reader = [&]() -> awaitable<void> {
    for (std::size_t got = 0; got < bytes;) got += co_await server->async_read_some(net::buffer(in), use_awaitable);
  };
  co_await (writer() && reader());
  f.mb_s = static_cast<double>(bytes) / 1e6 / std::chrono::duration<double>(clock::now() - t0).count();
  co_return f;
}

}  // namespace

int main(int argc, char** argv) {
  int mib = 256;
  std::string json_path;
  bench::po::options_description opts("tls_ceiling [options]");
  opts.add_options()
      ("mib", bench::po::value(&mib)->default_value(mib), "MiB sent one way per cipher suite")
      ("json", bench::po::value(&json_path), "also write the figures to this file as JSON");
  bench::po::variables_map vm;
  if (auto done = bench::parse_command_line(argc, argv, "tls_ceiling", opts, {}, vm)) return *done;
  mib = std::clamp(mib, 1, 1 << 20);
  char dir[] = "/tmp/tls-ceiling-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  auto id = ensure_server_identity(std::string(dir) + "/s", std::string(dir) + "/ca", {"127.0.0.1"});
  std::vector<figure> figures;
  net::io_context ioc(1);
  int rc = 0;
  net::co_spawn(ioc, [&]() -> awaitable<void> {
    for (const char* suite : {"TLS13-CHACHA20-POLY1305-SHA256", "TLS13-AES128-GCM-SHA256", "TLS13-AES256-GCM-SHA384"})
      figures.push_back(co_await measure(id, suite, static_cast<std::size_t>(mib) << 20));
  }, [&](std::exception_ptr ep) {
    if (!ep) return;
    rc = 1;
    try { std::rethrow_exception(ep); } catch (const std::exception& e) { std::fprintf(stderr, "tls_ceiling: %s\n", e.what()); }
  });
  ioc.run();
  // The suite this build's servers and clients put first (AES-GCM when AES runs in hardware).
  const std::string preference = tls_cipher_preference();
  const std::string first = preference.substr(0, preference.find(':'));
  std::printf("| cipher (one TLS connection, loopback, one thread) | MB/s | preferred |\n|---|---:|:---:|\n");
  boost::json::array out;
  for (auto& f : figures) {
    const bool preferred = f.cipher == first;
    std::printf("| %s | %.0f | %s |\n", f.cipher.c_str(), f.mb_s, preferred ? "yes" : "");
    out.push_back(boost::json::object{{"cipher", f.cipher}, {"mb_s", f.mb_s}, {"preferred", preferred}});
  }
  if (!json_path.empty()) std::ofstream(json_path) << boost::json::serialize(out) << "\n";
  std::filesystem::remove_all(dir);
  return figures.size() == 3 ? rc : 1;
}
