// The device's own end of a session: a Unix socket (mode 0600, so only the user the agent runs
// as — on a thin client, the logged-in user's session — can use it) on which `shadowlink-device
// end` ends the running session, as the indicator's close button does.
#include "framework/deadline.hpp"
#include "framework/errors.hpp"
#include "framework/log.hpp"
#include "services/device/agent.hpp"

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>

#include <sys/stat.h>

#include <filesystem>

namespace shadowlink::device {
namespace {
using local = net::local::stream_protocol;

awaitable<std::string> read_command(local::socket& s) {
  std::string line;
  // At most 64 bytes: a command, not a payload.
  co_await net::async_read_until(s, net::dynamic_buffer(line, 64), '\n', use_awaitable);
  co_return line.substr(0, line.find('\n'));
}

}  // namespace

// Without it the device's user still has the indicator: a socket that cannot be made (a path too
// long for a Unix socket, a read-only directory) is a warning, not a reason to stay offline.
void agent::start_control_socket() {
  if (cfg_.control_socket.empty()) return;
  try {
    open_control_socket();
  } catch (const std::exception& e) {
    control_.reset();
    log::warn(name_, "no control socket (shadowlink-device end will not work): ", ending_words(e));
  }
}

void agent::open_control_socket() {
  std::error_code fs_ec;
  std::filesystem::create_directories(std::filesystem::path(cfg_.control_socket).parent_path(), fs_ec);
  std::filesystem::remove(cfg_.control_socket, fs_ec);  // a stale socket of a previous run
  control_ = std::make_unique<local::acceptor>(env_.ex);
  const local::endpoint ep(cfg_.control_socket);
  control_->open(ep.protocol());
  // Created with no permissions for group and others (not chmod afterwards: no window in between).
  const auto old_mask = ::umask(0177);  // 0600
  error_code ec;
  control_->bind(ep, ec);
  ::umask(old_mask);
  if (ec) throw system_error(ec, "cannot create the control socket " + cfg_.control_socket);
  control_->listen();
  log::info(name_, "control socket ", cfg_.control_socket, " (shadowlink-device end)");
  env_.tasks.spawn(control_loop(), name_ + "/control");
}

awaitable<void> agent::control_loop() {
  while (control_ && control_->is_open()) {
    auto [ec, sock] = co_await control_->async_accept(use_tuple);
    if (ec) {
      if (ec == net::error::operation_aborted || stopping_) co_return;
      co_await sleep_for(100ms);
      continue;
    }
    std::string command, answer;
    try {
      command = co_await with_deadline(read_command(sock), 5s, "reading a command");
    } catch (const std::exception&) {
      continue;  // nothing sensible came: the socket closes
    }
    if (command == "end") {
      if (active_session_.empty()) {
        answer = "no session is running\n";
      } else {
        log::info(name_ + "/" + active_session_, "the device's user ended the session (shadowlink-device end)");
        answer = "ended session " + active_session_ + "\n";
        end_session("ended by the device's user");
      }
    } else if (command == "status") {
      answer = active_session_.empty() ? "no session is running\n" : "session " + active_session_ + " is running\n";
    } else {
      answer = "unknown command (end, status)\n";
    }
    co_await net::async_write(sock, net::buffer(answer), use_tuple);
  }
}

}  // namespace shadowlink::device
