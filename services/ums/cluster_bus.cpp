#include "services/ums/cluster_bus.hpp"

#include "framework/log.hpp"
#include "framework/meeting_point.hpp"
#include "framework/on_exit.hpp"
#include "framework/offload.hpp"

#include <libpq-fe.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <stdexcept>

namespace shadowlink::ums {

namespace {

using connection = std::shared_ptr<PGconn>;

std::string error_of(PGconn* c) {
  std::string why = PQerrorMessage(c);
  while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
  return why;
}

// A connection that LISTENs on `channel`. The same bounded waits as the registry's connection:
// a database that went away is noticed by TCP keepalives within about 11 s.
connection listen_on(const std::string& conninfo, const std::string& channel) {
  const char* keys[] = {"connect_timeout", "tcp_user_timeout", "keepalives_idle", "keepalives_interval", "keepalives_count",
                        "application_name", "dbname", nullptr};
  const char* values[] = {"5", "10000", "5", "2", "3", "shadowlink-ums-bus", conninfo.c_str(), nullptr};
  connection c(PQconnectdbParams(keys, values, 1), PQfinish);
  if (!c) throw std::runtime_error("out of memory");
  if (PQstatus(c.get()) != CONNECTION_OK) throw std::runtime_error(error_of(c.get()));
  PQsetNoticeProcessor(c.get(), [](void*, const char*) {}, nullptr);
  // (A quoted identifier: node names may hold dashes. The name was checked to need no escaping.)
  std::unique_ptr<PGresult, decltype(&PQclear)> r(PQexec(c.get(), ("LISTEN \"" + channel + "\"").c_str()), PQclear);
  if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK) throw std::runtime_error("LISTEN failed: " + error_of(c.get()));
  return c;
}

}  // namespace

cluster_bus::cluster_bus(std::string conninfo, std::string node)
    : conninfo_(std::move(conninfo)), channel_(channel_of(node)), scope_("cluster/" + node) {}

cluster_bus::~cluster_bus() { connect_thread_.join(); }

std::string cluster_bus::channel_of(std::string_view node) { return "shadowlink-node-" + std::string(node); }

void cluster_bus::stop() {
  stopped_ = true;
  if (socket_) socket_->close();
  if (retry_) retry_->cancel();
}

awaitable<void> cluster_bus::run(std::function<void(std::string_view)> deliver, std::function<void()> listening) {
  auto ex = co_await net::this_coro::executor;
  auto pause = 1s;
  net::steady_timer retry(ex);
  retry_ = &retry;
  on_exit no_retry([this] { retry_ = nullptr; });
  for (bool first = true; !stopped_; first = false) {
    if (!first) {
      retry.expires_after(pause);
      auto [ec] = co_await retry.async_wait(use_tuple);  // (stop() cancels it)
      pause = std::min(pause * 2, std::chrono::seconds(16));
      if (ec || stopped_) break;
    }
    connection c;
    try {
      std::function<connection()> open = [this] { return listen_on(conninfo_, channel_); };
      c = co_await offload(connect_thread_, std::move(open));
    } catch (const std::exception& e) {
      log::warn(scope_, "cannot listen for the other nodes' messages: ", e.what(), "; trying again in ", pause.count(), " s");
    }
    if (!c || stopped_) continue;
    const int fd = ::dup(PQsocket(c.get()));
    if (fd < 0) {
      log::warn(scope_, "cannot watch the database connection: ", std::strerror(errno), "; trying again in ", pause.count(), " s");
      continue;
    }
    net::posix::stream_descriptor socket(ex, fd);
    socket_ = &socket;
    on_exit forget([this] { socket_ = nullptr; });
    log::info(scope_, "listening for the other nodes' messages (channel ", channel_, ")");
    listening();
    const auto since = clock::now();
    for (;;) {
      auto [ec] = co_await socket.async_wait(net::posix::descriptor_base::wait_read, use_tuple);
      if (ec == net::error::operation_aborted || stopped_) co_return;  // (stopped, or the task cancelled)
      if (ec) break;
      if (!PQconsumeInput(c.get())) {
        log::warn(scope_, "lost the database connection the other nodes' messages come by: ", error_of(c.get()), "; connecting again");
        break;
      }
      while (PGnotify* n = PQnotifies(c.get())) {
        const std::string payload = n->extra;
        PQfreemem(n);
        deliver(payload);
      }
    }
    if (clock::now() - since > 60s) pause = 1s;  // (it held a while: the next loss starts the back-off anew)
  }
}

}  // namespace shadowlink::ums
