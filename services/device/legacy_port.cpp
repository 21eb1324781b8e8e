// OS 11 and earlier: the device's legacy shadowing port. A viewer (the console, or the UMS for the
// Web App) connects in over TLS, checks the device's own certificate against the pin the server
// handed it, and presents the session's one-time password. Before a valid password the port
// serves nothing; a wrong one closes the connection, and failures slow down the next attempts.
#include "framework/certs.hpp"
#include "framework/errors.hpp"
#include "framework/log.hpp"
#include "framework/token.hpp"
#include "protocol/legacy_password.hpp"
#include "services/device/agent.hpp"

namespace shadowlink::device {
namespace {

constexpr int max_connections = 16;  // handshakes and password exchanges at once
constexpr int max_per_address = 4;   // of which one source may hold this many
constexpr auto max_penalty = 8s;     // (legacy_failures_: 0.5 s after the first failure, doubling up to this)
const std::string anywhere;          // legacy_failures_'s key for failures from every source

}  // namespace

std::uint16_t agent::port() const {
  boost::system::error_code ec;
  return legacy_acceptor_ ? legacy_acceptor_->local_endpoint(ec).port() : 0;
}

void agent::start_legacy_port() {
  legacy_acceptor_ = std::make_unique<tcp::acceptor>(env_.ex);
  const tcp::endpoint ep(net::ip::make_address(cfg_.legacy_listen), cfg_.legacy_port);
  legacy_acceptor_->open(ep.protocol());
  legacy_acceptor_->set_option(tcp::acceptor::reuse_address(true));
  legacy_acceptor_->bind(ep);
  legacy_acceptor_->listen();
  const auto host = cfg_.advertise.substr(0, cfg_.advertise.rfind(':'));
  if (cfg_.advertise.ends_with(":0")) cfg_.advertise = host + ":" + std::to_string(legacy_acceptor_->local_endpoint().port());
  // The device's own key and certificate, made on first start and kept (key 0600). Its CA is its
  // own too: nobody but the pin the device reports over its UP link vouches for it.
  const auto dir = env_.data_dir / "legacy";
  auto id = ensure_server_identity(dir, dir, {host});
  legacy_tls_ = make_server_tls(id.cert_chain_pem, id.key_pem);
  legacy_pin_ = id.server_fingerprint;
  log::info(name_, "OS 11 legacy shadowing port on ", cfg_.legacy_listen, ":", legacy_acceptor_->local_endpoint().port(),
            " (advertised as ", cfg_.advertise, ", certificate ", legacy_pin_.substr(0, 16), "…)");
  env_.tasks.spawn(legacy_accept_loop(), name_ + "/legacy");
}

awaitable<void> agent::legacy_accept_loop() {
  while (legacy_acceptor_->is_open()) {
    auto [ec, sock] = co_await legacy_acceptor_->async_accept(use_tuple);
    if (ec) {
      if (ec == net::error::operation_aborted || stopping_) co_return;
      co_await sleep_for(100ms);  // e.g. out of descriptors: do not spin
      continue;
    }
    if (legacy_connections_ >= max_connections) continue;  // dropped: the socket closes here
    env_.tasks.spawn(legacy_connection(std::move(sock)), name_ + "/legacy");
  }
}

awaitable<void> agent::legacy_connection(tcp::socket sock) {
  error_code ec;
  const auto remote = sock.remote_endpoint(ec);
  const std::string address = ec ? "?" : remote.address().to_string();
  // One source cannot take every slot and lock the real viewer out.
  if (auto it = legacy_per_address_.find(address); it != legacy_per_address_.end() && it->second >= max_per_address) co_return;
  ++legacy_connections_;
  ++legacy_per_address_[address];
  struct count_guard {
    agent& a;
    std::string address;
    ~count_guard() {
      --a.legacy_connections_;
      if (--a.legacy_per_address_[address] <= 0) a.legacy_per_address_.erase(address);
    }
  } guard{*this, address};
  auto tls = std::make_unique<tls_socket>(std::move(sock), *legacy_tls_);
  try {
    co_await accept_tls(*tls, 5s);
  } catch (const std::exception& e) {
    log::info(name_, "legacy port: TLS handshake with ", address, " failed: ", ending_words(e));
    co_return;
  }
  auto viewer = make_tls_stream(std::move(tls));
  auto offered = co_await legacy::receive(*viewer, 5s);
  const auto arrived = clock::now();  // in time or not is judged here, before any penalty
  // The penalty is served before the answer, whatever it will be: guessing costs time.
  if (auto wait = legacy_penalty(address); wait > clock::duration{}) co_await sleep_for(wait);
  std::string why;
  if (!offered) why = "no session password";
  else if (!armed_ || !tokens_equal(offered->session_id, armed_->session_id)) why = "no session waiting for this password (ended, used or expired)";
  else if (arrived > armed_->expires) why = "the session password expired";
  else if (!tokens_equal(offered->password, armed_->password)) why = "wrong session password";
  if (!why.empty()) {
    legacy_failure(address, why);
    co_await close_stream(*viewer, why);
    co_return;
  }
  // Single use: the password opens this one connection. Handed over at once (the session's flow
  // answers "OK"): nothing here is suspended between the check and the hand-over.
  auto* waiting = armed_->viewer;
  armed_.reset();
  waiting->deliver(std::move(viewer));
}

clock::duration agent::legacy_penalty(const std::string& address) const {
  // Failures from anywhere count too (every fourth adds a step): many addresses guessing at once.
  return legacy_failures_.delay_for(legacy_failures_.count(address) + legacy_failures_.count(anywhere) / 4);
}

void agent::legacy_failure(const std::string& address, std::string_view why) {
  const int n = legacy_failures_.failed(address);
  legacy_failures_.failed(anywhere);
  log::warn(name_, "legacy port: refused ", address, ": ", why, " (", n, " failure(s) from there; next answer after ",
            std::chrono::duration_cast<std::chrono::milliseconds>(legacy_penalty(address)).count(), " ms)");
}

awaitable<stream_ptr> agent::legacy_viewer(const up::message& req) {
  meeting_point<stream_ptr> viewer(co_await net::this_coro::executor);
  const auto ttl = std::chrono::seconds(req.ttl_s > 0 ? req.ttl_s : 20);
  armed_ = armed_session{req.session_id, req.password, clock::now() + ttl, &viewer};
  // A viewer who came in time may still be serving a penalty (someone else failed from its address).
  struct disarm {
    std::optional<armed_session>& a;
    std::string id;
    ~disarm() {
      if (a && a->session_id == id) a.reset();
    }
  } guard{armed_, req.session_id};
  co_return co_await viewer.wait(clock::now() + ttl + max_penalty + 6s);
}

}  // namespace shadowlink::device
