// up_peer: a scripted, misbehaving peer for the adversarial end-to-end tests (tests/e2e/adversaries.sh),
// run as a process of its own against the shipped binaries.
//
//   up_peer device --url wss://H:P/up --ca CA --id ID --credential-file F [--forge-for SESSION] [--oversized N] [--hold-s S]
//     Says hello as device ID with its genuine credential and prints "welcome" (or "refused: WHY",
//     exit 1). --forge-for: then answers for another device's session (yes, tunnel there, ended,
//     session ended) and prints "forged". --oversized: then sends one UP message of about N bytes
//     and prints "closed: WHY" once the server ends the link (exit 1 if it does not within 5 s).
//     Otherwise it holds the link --hold-s seconds (default 0).
//   up_peer tunnel --url wss://H:P/tunnel/S --ca CA --token T --message-bytes N
//     Opens a tunnel end with the token and sends one binary WebSocket message of N bytes; prints
//     "closed: WHY" once the server ends it (exit 1 if it does not within 5 s).
#include "framework/deadline.hpp"
#include "framework/tls.hpp"
#include "framework/ws_stream.hpp"
#include "protocol/up_link.hpp"

#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/program_options.hpp>

#include <fstream>
#include <iostream>

using namespace shadowlink;
namespace po = boost::program_options;

namespace {

struct options {
  std::string mode, url, ca, id, credential_file, forge_for, token;
  std::size_t oversized = 0, message_bytes = 0;
  int hold_s = 0;
};

std::string read_secret(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  if (s.empty()) throw std::runtime_error("no credential in " + path);
  return s;
}

// Until the server ends the link (its reason), or "still open" after 5 s.
awaitable<std::string> until_closed(up::link& l) {
  try {
    for (;;) co_await with_deadline(l.receive(), 5s, "the server to end the link");
  } catch (const std::exception& e) {
    const std::string why = e.what();
    co_return why.find("the server to end the link") != std::string::npos ? "still open" : why;
  }
}

awaitable<int> device(const options& o) {
  tls_client tls(make_trust(o.ca, ""));
  auto link = std::make_shared<up::link>(co_await connect_ws(&tls, parse_wss_url(o.url), {}, up::link_options()));
  auto writer = [](std::shared_ptr<up::link> l) -> awaitable<void> { co_await l->write_loop(); };
  net::co_spawn(co_await net::this_coro::executor, writer(link), net::detached);
  up::message hello;
  hello.type = up::kind::hello;
  hello.device_id = o.id;
  hello.credential = read_secret(o.credential_file);
  hello.agent = "up_peer";
  hello.os = "12";
  link->send(hello);
  for (;;) {
    auto m = co_await with_deadline(link->receive(), 15s, "the answer to the hello");
    if (m.type == up::kind::welcome) break;
    if (m.type == up::kind::error) {
      std::cout << "refused: " << m.reason << std::endl;
      co_return 1;
    }
  }
  std::cout << "welcome" << std::endl;
  if (!o.forge_for.empty()) {
    up::message forged;
    forged.session_id = o.forge_for;
    for (auto k : {up::kind::shadow_accepted, up::kind::tunnel_arrived, up::kind::shadow_ended, up::kind::session_ended}) {
      forged.type = k;
      forged.reason = "forged by " + o.id;
      link->send(forged);
    }
    std::cout << "forged" << std::endl;
  }
  if (o.oversized > 0) {
    up::message huge;
    huge.type = up::kind::shadow_refused;  // (a kind whose reason is sent)
    huge.session_id = "s-000000000000";
    huge.reason = std::string(o.oversized, 'x');
    link->send(huge);
    const auto why = co_await until_closed(*link);
    std::cout << "closed: " << why << std::endl;
    co_return why == "still open" ? 1 : 0;
  }
  net::steady_timer hold(co_await net::this_coro::executor, std::chrono::seconds(o.hold_s));
  co_await hold.async_wait(use_tuple);
  link->close("up_peer leaves");
  co_return 0;
}

awaitable<int> tunnel(const options& o) {
  tls_client tls(make_trust(o.ca, ""));
  const std::map<std::string, std::string> headers{{"Authorization", "Bearer " + o.token}};
  ws_options opts = up::link_options();
  opts.max_message = o.message_bytes + 1024;
  opts.bulk = true;  // one frame: its header already announces the whole size
  auto ws = co_await connect_ws(&tls, parse_wss_url(o.url), headers, opts);
  const std::string big(o.message_bytes, 'x');
  error_code ec;
  co_await ws->write(net::buffer(big), ec);
  if (ec) {
    std::cout << "closed: " << ec.message() << std::endl;
    co_return 0;
  }
  char buf[4096];
  net::steady_timer limit(co_await net::this_coro::executor, 5s);
  using namespace net::experimental::awaitable_operators;
  for (;;) {
    error_code rec;
    auto r = co_await (ws->read_some(net::buffer(buf), rec) || limit.async_wait(use_tuple));
    if (r.index() == 1) {
      std::cout << "closed: still open" << std::endl;
      co_return 1;
    }
    if (rec) {
      std::cout << "closed: " << (ws->close_reason().empty() ? rec.message() : ws->close_reason()) << std::endl;
      co_return 0;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  po::options_description desc("up_peer device|tunnel [options] (see the comment at the top of tests/tools/up_peer.cpp)");
  desc.add_options()("url", po::value(&o.url)->required(), "wss:// URL")("ca", po::value(&o.ca)->required(), "CA file")(
      "id", po::value(&o.id), "device id")("credential-file", po::value(&o.credential_file), "the device's credential")(
      "forge-for", po::value(&o.forge_for), "a session id to answer for")("oversized", po::value(&o.oversized), "bytes")(
      "hold-s", po::value(&o.hold_s), "seconds")("token", po::value(&o.token), "tunnel token")(
      "message-bytes", po::value(&o.message_bytes), "bytes");
  po::options_description hidden;
  hidden.add_options()("mode", po::value(&o.mode)->required());
  po::options_description all;
  all.add(desc).add(hidden);
  po::positional_options_description pos;
  pos.add("mode", 1);
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), vm);
    po::notify(vm);
    if (o.mode != "device" && o.mode != "tunnel") throw po::error("mode: device or tunnel");
  } catch (const po::error& e) {
    std::cerr << "up_peer: " << e.what() << "\n" << desc;
    return 2;
  }
  net::io_context ioc(1);
  int rc = 1;
  net::co_spawn(ioc, o.mode == "device" ? device(o) : tunnel(o), [&rc](std::exception_ptr e, int r) {
    if (!e) {
      rc = r;
      return;
    }
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      std::cout << "error: " << ex.what() << std::endl;
    }
  });
  ioc.run();
  return rc;
}
