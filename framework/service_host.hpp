#pragma once
// Service instances from one configuration on one executor: constructed (each reads and checks its
// settings; keys nobody read are errors), started in order, stopped in two stages. shadowlinkd
// hosts one set; the in-process service tests host several side by side.
#include "framework/service.hpp"

namespace shadowlink {

struct service_instance {
  std::string name, type;
  std::unique_ptr<service> svc;
};

// Throws config_error naming the key. Nothing is started, nothing bound.
std::vector<service_instance> create_services(net::any_io_executor ex, task_group& tasks, config_file& cfg,
                                              const service_registry& registry);
// Throws what a service's start() throws.
void start_services(std::vector<service_instance>& services);
// Every service stops accepting and asks its sessions to end politely; what is still running after
// `grace` is cancelled. Returns when the task group is empty (or 2 s after cancelling).
awaitable<void> stop_services(task_group& tasks, std::vector<service_instance>& services, clock::duration grace);

// Every link is a descriptor: a process holding thousands of them needs the hard limit, not the
// usual soft 1,024. Returns the limit now in force.
std::uint64_t raise_open_file_limit();

}  // namespace shadowlink
