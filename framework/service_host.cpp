#include "framework/service_host.hpp"

#include "framework/log.hpp"

#include <sys/resource.h>

namespace shadowlink {

const service_factory* service_registry::find(std::string_view type) const {
  auto it = factories_.find(type);
  return it == factories_.end() ? nullptr : &it->second;
}

std::string service_registry::types() const {
  std::string out;
  for (auto& [k, v] : factories_) out += (out.empty() ? "" : ", ") + k;
  return out;
}

std::vector<service_instance> create_services(net::any_io_executor ex, task_group& tasks, config_file& cfg,
                                              const service_registry& registry) {
  std::vector<service_instance> out;
  const std::filesystem::path data(cfg.data_dir);
  std::size_t i = 0;
  for (auto& sc : cfg.services) {
    auto* f = registry.find(sc.type);
    if (!f)
      throw config_error("services[" + std::to_string(i) + "].type: unknown service type '" + sc.type + "' (known: " +
                         registry.types() + ")");
    service_env env{ex, tasks, sc.name, data / sc.name, data};
    auto svc = (*f)(env, sc.options);
    sc.options.finish();
    out.push_back({sc.name, sc.type, std::move(svc)});
    ++i;
  }
  return out;
}

void start_services(std::vector<service_instance>& services) {
  for (auto& s : services) {
    s.svc->start();
    log::info(s.name, "started");
  }
}

awaitable<void> stop_services(task_group& tasks, std::vector<service_instance>& services, clock::duration grace) {
  for (auto& s : services) s.svc->stop();
  tasks.request_stop();
  if (!co_await tasks.wait_empty(clock::now() + grace)) {
    log::warn("shadowlink", tasks.size(), " tasks still running after the grace period: cancelling them");
    tasks.cancel();
    co_await tasks.wait_empty(clock::now() + 2s);
  }
}

std::uint64_t raise_open_file_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  getrlimit(RLIMIT_NOFILE, &rl);
  return rl.rlim_cur;
}

}  // namespace shadowlink
