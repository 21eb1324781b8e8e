#include "framework/errors.hpp"
#include "framework/log.hpp"
#include "framework/service_host.hpp"
#include "framework/systemd_notify.hpp"
#include "framework/version.hpp"

#include <boost/asio/signal_set.hpp>
#include <boost/program_options.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

namespace shadowlink {
namespace po = boost::program_options;

namespace {

awaitable<void> shutdown_on_signal(net::io_context& ioc, task_group& tasks, std::vector<service_instance>& services,
                                   clock::duration grace) {
  net::signal_set signals(ioc, SIGINT, SIGTERM);
  auto [ec, sig] = co_await signals.async_wait(use_tuple);
  if (ec) co_return;
  systemd::notify("STOPPING=1");
  log::info("shadowlinkd", "signal ", sig, ": stopping ", tasks.size(), " tasks");
  co_await stop_services(tasks, services, grace);
  ioc.stop();
}

// Reads and checks a configuration: every service is constructed from its settings (which checks
// them) but none is started. The demo's relative data_dir is its own; elsewhere it must be absolute
// (a daemon's working directory is whatever started it chose: / by default under systemd).
struct loaded {
  config_file cfg;
  std::vector<service_instance> services;
};
loaded load(net::io_context& ioc, task_group& tasks, const std::string& path, std::string_view demo_config,
            const service_registry& registry) {
  loaded l{path.empty() ? config_file::parse(demo_config) : config_file::load(path), {}};
  l.services = create_services(ioc.get_executor(), tasks, l.cfg, registry);
  if (!path.empty() && !std::filesystem::path(l.cfg.data_dir).is_absolute())
    throw config_error("config.data_dir: give an absolute path (e.g. /var/lib/shadowlink): a daemon's working directory is not its state");
  return l;
}

// SIGHUP: the file is read and checked again (a fresh instance of every service is built from it
// and thrown away); if it is good, the log level changes and each running service takes what can
// change without a restart. A bad file changes nothing and says why.
awaitable<void> reload_on_hangup(net::signal_set& hup, std::string path, const service_registry& registry, task_group& tasks,
                                 std::vector<service_instance>& running, std::string& running_level) {
  stop_hook stop(tasks, [&hup] { hup.cancel(); });
  for (;;) {
    auto [ec, sig] = co_await hup.async_wait(use_tuple);
    if (ec) co_return;
    if (path.empty()) {
      log::warn("shadowlinkd", "SIGHUP: the demo configuration is built in; nothing to reload");
      continue;
    }
    systemd::notify("RELOADING=1");
    try {
      net::io_context scratch(1);
      task_group scratch_tasks(scratch.get_executor());
      auto fresh = load(scratch, scratch_tasks, path, {}, registry);
      std::vector<std::string> before, after;
      for (auto& s : running) before.push_back(s.type + " " + s.name);
      for (auto& s : fresh.cfg.services) after.push_back(s.type + " " + s.name);
      if (before != after)
        log::warn("shadowlinkd", "SIGHUP: services added, removed or renamed take effect at the next restart");
      if (fresh.cfg.log_level != running_level) {
        log::info("shadowlinkd", "SIGHUP: log level ", running_level, " -> ", fresh.cfg.log_level);
        log::set_level(log::parse_level(fresh.cfg.log_level));
        running_level = fresh.cfg.log_level;
      }
      log::set_format(log::parse_format(fresh.cfg.log_format));
      for (auto& s : running)
        for (auto& c : fresh.cfg.services)
          if (c.name == s.name && c.type == s.type) s.svc->reload(c.options);
      log::info("shadowlinkd", "SIGHUP: reloaded ", path);
    } catch (const std::exception& e) {
      log::warn("shadowlinkd", "SIGHUP: ", path, " not reloaded, the running configuration stays: ", e.what());
    }
    systemd::notify("READY=1");
  }
}

// Written whole under a temporary name and renamed: whoever waits for the file never reads half of it.
void write_port_file(const std::string& path, const std::vector<service_instance>& services) {
  const auto tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    for (const auto& s : services)
      if (s.svc->port() != 0) out << s.name << ' ' << s.svc->port() << '\n';
    out.flush();
    if (!out) throw std::runtime_error(tmp + ": " + std::strerror(errno));
  }
  std::filesystem::rename(tmp, path);
}

// Fed from the event loop itself: if the loop stalls, systemd sees the silence and restarts us.
awaitable<void> feed_watchdog(task_group& tasks, clock::duration every) {
  net::steady_timer timer(co_await net::this_coro::executor);
  stop_hook stop(tasks, [&timer] { timer.cancel(); });
  while (!tasks.stopping()) {
    systemd::notify("WATCHDOG=1");
    timer.expires_after(every);
    auto [ec] = co_await timer.async_wait(use_tuple);
    if (ec) co_return;
  }
}

}  // namespace

int run_daemon(int argc, char** argv, const service_registry& registry, std::string_view default_config) {
  std::string config_path, check_path, port_file;
  po::options_description desc(
      "Usage: shadowlinkd --config FILE | --demo | --check-config FILE\n"
      "  or:  shadowlinkd hash-password [--iterations N] < password\n"
      "The composite server of shadowlink: runs the UMS, ICG gateway and device agent instances its\n"
      "configuration lists.\n\n"
      "Signals: SIGINT/SIGTERM stop (sessions end politely first); SIGHUP reloads the config file\n"
      "(log level, administrators, rights, devices) without dropping sessions.\n\n"
      "Exit codes: 0 stopped cleanly; 1 could not start; 2 bad configuration or usage.\n\nOptions");
  desc.add_options()("help,h", "show this help")("version", "print the version and exit")(
      "config,c", po::value(&config_path), "JSON configuration file")(
      "demo", "run the embedded demo configuration (demo credentials: never on a network others use)")(
      "check-config", po::value(&check_path), "check a configuration file and exit (0: good; 2: the error in one line)")(
      "print-default-config", "print the embedded demo configuration and exit")(
      "port-file", po::value(&port_file),
      "once started, write \"NAME PORT\" for each listening service to this file (useful with port 0); removed at stop");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "shadowlinkd: " << e.what() << "\n" << desc;
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc;
    return 0;
  }
  if (vm.count("version")) {
    std::cout << "shadowlinkd " << version << "\n";
    return 0;
  }
  if (vm.count("print-default-config")) {
    std::cout << default_config;
    return 0;
  }
  if (!check_path.empty()) {
    try {
      net::io_context scratch(1);
      task_group scratch_tasks(scratch.get_executor());
      load(scratch, scratch_tasks, check_path, {}, registry);
    } catch (const std::exception& e) {
      std::cerr << "shadowlinkd: config error: " << e.what() << "\n";
      return 2;
    }
    std::cout << check_path << ": good\n";
    return 0;
  }
  // Never the demo's well-known credentials by accident.
  if (config_path.empty() == !vm.count("demo")) {
    std::cerr << "shadowlinkd: give --config FILE (or --demo for the embedded demo configuration)\n";
    return 2;
  }

  // One io_context on one thread: shared tables (rendezvous, device links, sessions) need no
  // locks and a TLS stream is never touched from two threads at once (a listener's handshakes run
  // on a thread of their own while their coroutine waits: accept_tls). Crypto bounds throughput,
  // so scale out with more processes (see README, "Runtime").
  net::io_context ioc(1);
  task_group tasks(ioc.get_executor());
  std::optional<loaded> running;
  try {
    running.emplace(load(ioc, tasks, config_path, default_config, registry));
    log::set_level(log::parse_level(running->cfg.log_level));
    log::set_format(log::parse_format(running->cfg.log_format));
  } catch (const std::exception& e) {
    std::cerr << "shadowlinkd: config error: " << e.what() << "\n";
    return 2;
  }
  auto& services = running->services;
  if (log::use_journal_if_connected()) log::info("shadowlinkd", "logging to the journal (stderr is its stream)");
  // Caught from before READY until the process ends: a SIGHUP right after start or during the
  // shutdown grace must not meet the default action (terminate).
  net::signal_set hup(ioc, SIGHUP);
  log::info("shadowlinkd", "open-file limit ", raise_open_file_limit());
  try {
    start_services(services);
  } catch (const config_error& e) {  // found only with what a service opens at start (its registry)
    std::cerr << "shadowlinkd: config error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "shadowlinkd: cannot start: " << e.what() << "\n";
    return 1;
  }
  try {
    if (!port_file.empty()) write_port_file(port_file, services);
  } catch (const std::exception& e) {
    std::cerr << "shadowlinkd: cannot write the port file: " << e.what() << "\n";
    return 1;
  }
  net::co_spawn(ioc, shutdown_on_signal(ioc, tasks, services, std::chrono::milliseconds(running->cfg.shutdown_grace_ms)),
                log_exceptions{"shadowlinkd"});
  // Owned by the task group: cancelled with everything else at shutdown.
  tasks.spawn(reload_on_hangup(hup, config_path, registry, tasks, services, running->cfg.log_level), "shadowlinkd/reload");
  if (auto every = systemd::watchdog_interval(); every > clock::duration::zero())
    tasks.spawn(feed_watchdog(tasks, every), "shadowlinkd/watchdog");
  systemd::notify("READY=1");
  ioc.run();
  services.clear();
  if (std::error_code ec; !port_file.empty()) std::filesystem::remove(port_file, ec);  // gone already: fine
  log::info("shadowlinkd", "stopped");
  return 0;
}

}  // namespace shadowlink
