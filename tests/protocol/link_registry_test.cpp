// The live-link registry with real UP links: WebSockets over TLS between a test server and clients.
#include "framework/https_server.hpp"
#include "framework/meeting_point.hpp"
#include "protocol/link_registry.hpp"
#include "support/async.hpp"

using namespace shadowlink;
using namespace shadowlink::testing;

namespace {

// A server whose /up endpoint registers each link under the device id of its hello, as the UMS and
// the gateway do, and counts what each link's reader does once the link has been replaced.
struct fixture {
  task_group tasks;
  https_server server;
  up::link_registry<std::string> registry;  // info: the agent named in the hello
  int attached = 0, heard = 0, ignored_after_replace = 0;
  std::vector<std::string> removed;
  std::size_t removed_count = 0;

  explicit fixture(net::any_io_executor ex)
      : tasks(ex), server(tasks, make_server_tls(test_identity().cert_chain_pem, test_identity().key_pem), "test") {
    registry.on_removed = [this](const std::string& id, const up::link_registry<std::string>::entry& gone) {
      removed.push_back(id + " " + gone.info);
      removed_count = removed.size();
    };
    server.add_ws("/up", [this](ws_upgrade& up) -> awaitable<void> {
      const auto opts = up::link_options();
      up::link link(co_await up.accept(opts));
      co_await link.serve(serve(link));
    });
    server.listen("127.0.0.1", 0);
  }

  awaitable<void> serve(up::link& link) {
    auto hello = co_await link.receive();
    auto reg = registry.attach(hello.device_id, link, hello.agent, "replaced by a newer connection");
    ++attached;
    try {
      for (;;) {
        co_await link.receive();
        if (!reg.current()) {
          ++ignored_after_replace;
          continue;
        }
        ++heard;
      }
    } catch (const system_error&) {
    }
  }

  awaitable<void> shutdown() {
    server.stop();
    tasks.cancel();
    co_await tasks.wait_empty(clock::now() + 5s);
  }

  ws_target target() { return {true, "127.0.0.1", std::to_string(server.port()), "/up"}; }
};

up::message hello(std::string device, std::string agent) {
  up::message m;
  m.type = up::kind::hello;
  m.device_id = std::move(device);
  m.credential = "not checked here";
  m.agent = std::move(agent);
  return m;
}

awaitable<ws_ptr> connect(fixture& f, tls_client& tls) {
  const std::map<std::string, std::string> none;
  const auto opts = up::link_options();
  co_return co_await connect_ws(&tls, f.target(), none, opts);
}

awaitable<void> say(ws_stream& ws, const up::message& m) {
  error_code ec;
  co_await ws.write_text(up::serialize(m), ec);
  REQUIRE(!ec);
}

// Waits (bounded) until a counter of the server reaches `expected`. (A reference and a value
// rather than a predicate: g++ 12 miscompiles lambdas created inside a co_await expression.)
template <class T>
awaitable<void> until(const T& value, T expected) {
  for (int i = 0; i < 200 && value != expected; ++i) co_await sleep_for(10ms);
  REQUIRE(value == expected);
}

// Reads until the server closes the link; returns the close reason it gave.
awaitable<std::string> closed_reason(ws_stream& ws) {
  for (int i = 0; i < 10; ++i) {
    error_code ec;
    co_await ws.read_message(ec);
    if (ec) co_return ws.close_reason();
  }
  co_return "still open";
}

}  // namespace

TEST_CASE("a device's newer link replaces and closes the older one, and the older one's messages are ignored") {
  run_async([]() -> awaitable<void> {
    fixture f(co_await net::this_coro::executor);
    tls_client tls(client_trust{test_identity().ca_pem, {}});
    auto first = co_await connect(f, tls);
    co_await say(*first, hello("dev-1", "first"));
    co_await until(f.attached, 1);
    REQUIRE(f.registry.find("dev-1")->info == "first");
    const auto first_id = f.registry.id_of("dev-1");

    auto second = co_await connect(f, tls);
    co_await say(*second, hello("dev-1", "second"));
    co_await until(f.attached, 2);
    CHECK(f.registry.find("dev-1")->info == "second");
    CHECK(f.registry.id_of("dev-1") != first_id);  // link ids are never reused
    CHECK(f.registry.size() == 1);
    CHECK(co_await closed_reason(*first) == "replaced by a newer connection");
    CHECK(f.removed.empty());  // a replaced link's end does not take the device offline

    up::message beat;
    beat.type = up::kind::heartbeat;
    co_await say(*second, beat);
    co_await until(f.heard, 1);
    CHECK(f.ignored_after_replace == 0);
    co_await f.shutdown();
  });
}

TEST_CASE("a link's registration is removed when the link ends, once, and nothing re-creates the entry") {
  run_async([]() -> awaitable<void> {
    fixture f(co_await net::this_coro::executor);
    tls_client tls(client_trust{test_identity().ca_pem, {}});
    auto a = co_await connect(f, tls);
    auto b = co_await connect(f, tls);
    co_await say(*a, hello("dev-a", "agent-a"));
    co_await say(*b, hello("dev-b", "agent-b"));
    co_await until(f.attached, 2);
    CHECK(f.registry.size() == 2);

    co_await close_stream(*a, "bye");
    const std::size_t one = 1;
    co_await until(f.removed_count, one);
    CHECK(f.removed.front() == "dev-a agent-a");
    CHECK(f.registry.find("dev-a") == nullptr);
    CHECK(f.registry.link_of("dev-a") == nullptr);
    CHECK(f.registry.id_of("dev-a") == 0);
    CHECK(f.registry.link_of("dev-b") != nullptr);  // the other device is untouched
    co_await f.shutdown();
    CHECK(f.removed.size() == 2);  // dev-b left with the server, dev-a was not removed twice
    CHECK(f.registry.size() == 0);
  });
}

TEST_CASE("a link that shares its connection with other devices is not closed when one of them moves away") {
  run_async([]() -> awaitable<void> {
    fixture f(co_await net::this_coro::executor);
    tls_client tls(client_trust{test_identity().ca_pem, {}});
    auto gateway_ws = co_await connect(f, tls);
    auto direct_ws = co_await connect(f, tls);
    co_await say(*gateway_ws, hello("gw-link", "gateway"));
    co_await say(*direct_ws, hello("direct-link", "direct"));
    co_await until(f.attached, 2);
    auto* gateway = f.registry.link_of("gw-link");
    auto* direct = f.registry.link_of("direct-link");
    REQUIRE(gateway != direct);

    // A device behind the gateway (empty reason: the gateway's link is shared), then the same
    // device on its own link: the gateway's link must stay open.
    auto behind = f.registry.attach("dev-x", *gateway, "via gateway", "");
    auto own = f.registry.attach("dev-x", *direct, "own link", "replaced by a newer connection");
    CHECK(!gateway->closed());
    CHECK(!behind.current());
    CHECK(own.current());
    behind.reset();  // the stale registration goes without touching the device's current entry
    CHECK(f.registry.find("dev-x")->info == "own link");
    CHECK(f.removed.empty());

    // And back: a device's own link is closed when it reappears behind the gateway.
    auto again = f.registry.attach("dev-x", *gateway, "via gateway", "");
    CHECK(direct->closed());
    CHECK(!gateway->closed());
    own.reset();
    again.reset();
    CHECK(f.removed == std::vector<std::string>{"dev-x via gateway"});
    co_await f.shutdown();
  });
}
