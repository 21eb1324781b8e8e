#include "framework/errors.hpp"
#include "framework/log.hpp"
#include "framework/service.hpp"

#include <boost/asio/signal_set.hpp>
#include <boost/program_options.hpp>

#include <iostream>
#include <sys/resource.h>

namespace shadowlink {
namespace po = boost::program_options;

const service_factory* service_registry::find(std::string_view type) const {
  auto it = factories_.find(type);
  return it == factories_.end() ? nullptr : &it->second;
}

std::string service_registry::types() const {
  std::string out;
  for (auto& [k, v] : factories_) out += (out.empty() ? "" : ", ") + k;
  return out;
}

namespace {

struct instance {
  std::string name;
  std::unique_ptr<service> svc;
};

std::vector<instance> create_services(net::io_context& ioc, task_group& tasks, config_file& cfg, const service_registry& reg) {
  std::vector<instance> out;
  std::filesystem::path data(cfg.data_dir);
  std::size_t i = 0;
  for (auto& sc : cfg.services) {
    auto* f = reg.find(sc.type);
    if (!f)
      throw config_error("services[" + std::to_string(i) + "].type: unknown service type '" + sc.type + "' (known: " +
                         reg.types() + ")");
    service_env env{ioc.get_executor(), tasks, sc.name, data / sc.name, data};
    auto svc = (*f)(env, sc.options);
    sc.options.finish();
    out.push_back({sc.name, std::move(svc)});
    ++i;
  }
  return out;
}

awaitable<void> shutdown_on_signal(net::io_context& ioc, task_group& tasks, std::vector<instance>& services,
                                   clock::duration grace) {
  net::signal_set signals(ioc, SIGINT, SIGTERM);
  auto [ec, sig] = co_await signals.async_wait(use_tuple);
  if (ec) co_return;
  log::info("shadowlinkd", "signal ", sig, ": stopping ", tasks.size(), " tasks");
  for (auto& s : services) s.svc->stop();
  tasks.request_stop();
  if (!co_await tasks.wait_empty(clock::now() + grace)) {
    log::warn("shadowlinkd", tasks.size(), " tasks still running after the grace period: cancelling them");
    tasks.cancel();
    co_await tasks.wait_empty(clock::now() + 2s);
  }
  ioc.stop();
}

}  // namespace

namespace {
// Every device link is a descriptor: a server holding thousands of devices needs the hard limit,
// not the usual soft 1,024.
void raise_open_file_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  getrlimit(RLIMIT_NOFILE, &rl);
  log::info("shadowlinkd", "open-file limit ", rl.rlim_cur);
}
}  // namespace

int run_daemon(int argc, char** argv, const service_registry& registry, std::string_view default_config) {
  std::string config_path;
  po::options_description desc("Usage: shadowlinkd [--config FILE]\nOptions");
  desc.add_options()("help,h", "show this help")("config,c", po::value(&config_path),
                                                   "JSON configuration file (default: the embedded demo configuration)")(
      "print-default-config", "print the embedded configuration and exit");
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
  if (vm.count("print-default-config")) {
    std::cout << default_config;
    return 0;
  }

  // One io_context on one thread: shared tables (rendezvous, device links, sessions) need no
  // locks and a TLS stream is never touched from two threads. Crypto bounds throughput, so scale
  // out with more processes (see README, "Runtime").
  net::io_context ioc(1);
  task_group tasks(ioc.get_executor());
  std::vector<instance> services;
  std::optional<config_file> cfg;
  try {
    cfg.emplace(config_path.empty() ? config_file::parse(default_config) : config_file::load(config_path));
    log::set_level(log::parse_level(cfg->log_level));
    services = create_services(ioc, tasks, *cfg, registry);
  } catch (const config_error& e) {
    std::cerr << "shadowlinkd: config error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "shadowlinkd: config error: " << e.what() << "\n";
    return 2;
  }
  raise_open_file_limit();
  try {
    for (auto& s : services) {
      s.svc->start();
      log::info(s.name, "started");
    }
  } catch (const std::exception& e) {
    std::cerr << "shadowlinkd: cannot start: " << e.what() << "\n";
    return 1;
  }
  net::co_spawn(ioc, shutdown_on_signal(ioc, tasks, services, std::chrono::milliseconds(cfg->shutdown_grace_ms)),
                log_exceptions{"shadowlinkd"});
  ioc.run();
  services.clear();
  log::info("shadowlinkd", "stopped");
  return 0;
}

}  // namespace shadowlink
