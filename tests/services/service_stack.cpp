#include "services/service_stack.hpp"

#include "framework/deadline.hpp"
#include "framework/log.hpp"
#include "framework/token.hpp"
#include "services/device/agent.hpp"
#include "services/icg/icg_service.hpp"
#include "services/ums/ums_service.hpp"
#include "support/async.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/detached.hpp>

#include <filesystem>

namespace shadowlink::testing {
namespace json = boost::json;

namespace {
const service_registry& registry() {
  static const service_registry r = [] {
    service_registry out;
    ums::register_ums(out);
    icg::register_icg(out);
    device::register_device(out);
    return out;
  }();
  return r;
}

awaitable<void> pause(clock::duration d) {
  net::steady_timer t(co_await net::this_coro::executor, d);
  co_await t.async_wait(use_awaitable);
}
}  // namespace

awaitable<void> xvnc::start(const std::string& dir, const std::string& colour) {
  socket_ = dir + "/vnc.sock";
  // The display number only names the X server's own socket and lock: the first free one wins
  // (tests in parallel processes race for them; the loser sees its server exit and moves on).
  for (int display = 600; display < 700; ++display) {
    if (std::filesystem::exists("/tmp/.X" + std::to_string(display) + "-lock") ||
        std::filesystem::exists("/tmp/.X11-unix/X" + std::to_string(display)))
      continue;
    const std::string d = ":" + std::to_string(display);
    server_ = std::make_unique<child_process>(
        std::vector<std::string>{"Xvnc", d, "-geometry", "64x48", "-depth", "24", "-rfbport", "-1", "-rfbunixpath", socket_,
                                 "-SecurityTypes", "None", "-AlwaysShared", "-nolisten", "tcp"},
        std::map<std::string, std::string>{});
    for (int i = 0; i < 100 && server_->running() && !std::filesystem::exists(socket_); ++i) {
      co_await pause(100ms);
      co_await server_->wait(clock::now());  // reaps a server that gave up on its display
    }
    if (!std::filesystem::exists(socket_)) {
      co_await server_->stop(2s);
      continue;
    }
    child_process paint({"xsetroot", "-solid", colour}, {{"DISPLAY", d}});
    auto code = co_await paint.wait(clock::now() + 10s);
    REQUIRE(code == std::optional<int>(0));
    display_ = d;
    co_return;
  }
  FAIL("no free X display for Xvnc in :600..:699");
}

awaitable<void> xvnc::stop() {
  if (server_) co_await server_->stop(3s);
}

service_stack::service_stack()
    : ioc_(std::make_unique<net::io_context>(1)), tasks_(std::make_unique<task_group>(ioc_->get_executor())), dir_(temp_dir()) {}

service_stack::~service_stack() = default;

void service_stack::run(std::function<awaitable<void>()> body, std::chrono::seconds limit) {
  std::exception_ptr failed;
  bool done = false;
  net::cancellation_signal cancel_body;
  net::co_spawn(*ioc_, [&]() -> awaitable<void> {
    try {
      co_await body();
    } catch (...) {
      failed = std::current_exception();
    }
    console_.reset();
    co_await stop_services(*tasks_, services_, 5s);
    done = true;
    ioc_->stop();
  }, net::bind_cancellation_slot(cancel_body.slot(), net::detached));
  ioc_->run_for(limit);
  if (!done) {
    // Out of time: everything still running is cancelled and unwinds now, while the services it
    // refers to exist (frames destroyed with the io_context later would touch freed services).
    cancel_body.emit(net::cancellation_type::terminal);
    tasks_->cancel();
    ioc_->restart();
    ioc_->run_for(5s);
  }
  if (!done) {
    // Still stuck: keep the services (a leak the sanitizer reports) rather than free them under
    // coroutines that may still refer to them.
    [[maybe_unused]] auto* kept = new std::vector<service_instance>(std::move(services_));
    FAIL("the test did not finish (services stopped included) within " << limit.count() << " s");
  }
  if (failed) std::rethrow_exception(failed);
}

std::uint16_t service_stack::start(const std::string& services_json) {
  configs_.push_back(std::make_unique<config_file>(
      config_file::parse(R"({"data_dir": ")" + dir_ + R"(", "services": )" + services_json + "}")));
  auto created = create_services(ioc_->get_executor(), *tasks_, *configs_.back(), registry());
  start_services(created);
  const auto port = created.empty() ? 0 : created.front().svc->port();
  for (auto& s : created) services_.push_back(std::move(s));
  return port;
}

void service_stack::stop_service(std::string_view name) {
  for (auto& s : services_)
    if (s.name == name) s.svc->stop();
}

std::uint16_t service_stack::start_gateway(const std::string& extra) {
  return start(R"([{"type": "icg", "name": "icg", "settings": {"port": 0, "ums_credential_sha256": ")" + sha256_hex(ums_credential) +
               "\"" + (extra.empty() ? "" : ", " + extra) + "}}]");
}

std::string service_stack::gateway_settings(std::uint16_t gw_port, const std::string& host, const std::string& extra) {
  return R"("demo": true, "gateways": [{"name": "icg", "url": "wss://)" + host + ":" + std::to_string(gw_port) +
         R"(", "credential": ")" + std::string(ums_credential) + "\"" + (extra.empty() ? "" : ", " + extra) + "}]";
}

std::string service_stack::ums(const std::string& devices_json, const std::string& extra) const {
  return R"({"type": "ums", "name": "ums", "settings": {"port": 0,
    "api_tokens": [{"token_sha256": ")" + sha256_hex(api_token) + R"(", "user": "automation"}],
    "devices": [)" + devices_json + "]" + (extra.empty() ? "" : ", " + extra) + "}}";
}

std::string service_stack::device_entry(const std::string& id, const std::string& consent) {
  return R"({"id": ")" + id + R"(", "credential_sha256": ")" + sha256_hex(credential_of(id)) + R"(", "consent": ")" + consent + R"("})";
}

std::string service_stack::agent(const std::string& id, const std::string& server_url, const std::string& extra) const {
  // A credential in the config is allowed with "demo" only: these are throw-away test devices.
  return R"({"type": "device", "name": ")" + id + R"(", "settings": {"device_id": ")" + id + R"(", "demo": true,
    "credential": ")" + credential_of(id) + R"(", "servers": [")" + server_url + R"("], "ca_file": ")" + ca_file() +
         R"(", "reconnect_min_ms": 100, "reconnect_max_ms": 500)" + (extra.empty() ? "" : ", " + extra) + "}}";
}

console::client& service_stack::console(std::uint16_t port) {
  console_options_.server = "https://127.0.0.1:" + std::to_string(port);
  console_options_.token = std::string(api_token);
  console_options_.ca_file = ca_file();
  console_ = std::make_unique<console::client>(console_options_);
  return *console_;
}

awaitable<json::value> service_stack::get(const std::string& target) {
  auto res = co_await console_->call(http::verb::get, target);
  if (res.result() != http::status::ok) throw std::runtime_error("GET " + target + ": " + console_->error_of(res));
  co_return json::parse(res.body());
}

awaitable<void> service_stack::wait_online(const std::string& device, clock::duration limit) {
  const auto until = clock::now() + limit;
  for (;;) {
    auto list = co_await get("/api/v1/devices");
    for (auto& d : list.at("devices").as_array())
      if (d.at("id").as_string() == device && d.at("online").as_bool()) co_return;
    if (clock::now() > until) throw std::runtime_error("device " + device + " did not come online");
    co_await pause(50ms);
  }
}

awaitable<std::string> service_stack::request(const std::string& device, bool view_only) {
  json::object body{{"device", device}, {"view_only", view_only}, {"wait", false}};
  auto res = co_await console_->call(http::verb::post, "/api/v1/sessions", json::serialize(body));
  if (res.result() != http::status::accepted)
    throw std::runtime_error("POST /api/v1/sessions: " + console_->error_of(res));
  co_return std::string(json::parse(res.body()).at("session_id").as_string());
}

awaitable<json::object> service_stack::wait_state(const std::string& id, std::string_view state, clock::duration limit) {
  const auto until = clock::now() + limit;
  for (;;) {
    auto s = (co_await get("/api/v1/sessions/" + id)).as_object();
    const auto now = s.at("state").as_string();
    if (now == state || now == "ended") co_return s;
    if (clock::now() > until)
      throw std::runtime_error("session " + id + " still '" + std::string(now) + "', not '" + std::string(state) + "'");
    co_await pause(20ms);
  }
}

awaitable<std::vector<json::object>> service_stack::audit_of(const std::string& id) {
  auto all = co_await get("/api/v1/audit");
  std::vector<json::object> out;
  for (auto& r : all.at("records").as_array())
    if (auto* s = r.as_object().if_contains("session"); s && s->as_string() == id) out.push_back(r.as_object());
  co_return out;
}

awaitable<http_response> service_stack::end(const std::string& id) {
  co_return co_await console_->call(http::verb::delete_, "/api/v1/sessions/" + id);
}

awaitable<void> scripted_device::connect(task_group& tasks, tls_client& tls, std::uint16_t port, const std::string& id) {
  auto refused = co_await hello_with(tasks, tls, port, id, service_stack::credential_of(id));
  if (!refused.empty()) throw std::runtime_error("scripted device " + id + " refused: " + refused);
}

awaitable<std::string> scripted_device::hello_with(task_group& tasks, tls_client& tls, std::uint16_t port, const std::string& id,
                                                   const std::string& credential) {
  const std::map<std::string, std::string> no_headers;
  const auto opts = up::link_options();
  const auto target = parse_wss_url("wss://127.0.0.1:" + std::to_string(port) + "/up");
  link_ = std::make_shared<up::link>(co_await connect_ws(&tls, target, no_headers, opts));
  // The writer holds the link alive until the link closes (the test may be done with it sooner).
  tasks.spawn([](std::shared_ptr<up::link> l) -> awaitable<void> { co_await l->write_loop(); }(link_), "scripted-device/writer");
  up::message hello;
  hello.type = up::kind::hello;
  hello.device_id = id;
  hello.credential = credential;
  hello.agent = "scripted-device";
  hello.os = "12";
  link_->send(hello);
  const auto until = clock::now() + 15s;
  for (;;) {
    auto m = co_await with_deadline(link_->receive(), until - clock::now(), "scripted device: waiting for the answer to its hello");
    if (m.type == up::kind::welcome) co_return std::string();
    if (m.type == up::kind::error) co_return m.reason;
  }
}

awaitable<up::message> scripted_device::next(up::kind k, clock::duration limit) {
  const auto until = clock::now() + limit;
  for (;;) {
    auto m = co_await with_deadline(link_->receive(), until - clock::now(), "scripted device: waiting for a message");
    if (m.type == k) co_return m;
  }
}

}  // namespace shadowlink::testing
