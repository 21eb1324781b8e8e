#pragma once
// Pluggable services. A service type registers a factory; the composite binary starts the
// instances its config lists (type, unique name, settings), so one process can host a UMS, a
// gateway and device agents side by side. The framework owns start-up order and shutdown.
#include "framework/config.hpp"
#include "framework/task_group.hpp"

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace shadowlink {

struct service_env {
  net::any_io_executor ex;
  task_group& tasks;
  std::string name;                 // the instance name, also the log scope
  std::filesystem::path data_dir;   // <data_dir>/<name>, created on demand
  std::filesystem::path shared_dir; // <data_dir>: where the installation CA lives
};

class service {
 public:
  virtual ~service() = default;
  // Binds listeners and spawns background work into env.tasks; throws to abort start-up.
  virtual void start() = 0;
  // First stage of shutdown: stop accepting, ask sessions to end politely.
  virtual void stop() = 0;
  // SIGHUP: takes what can change without a restart from the re-read settings (which were checked
  // by constructing a fresh instance from them first) and logs what changed. Live sessions go on.
  virtual void reload(settings&) {}
  // The port its listener is bound to once started (a configured port 0 is the kernel's pick); 0
  // for a service that listens nowhere.
  virtual std::uint16_t port() const { return 0; }
};

// Reads its settings (unknown keys are rejected by the framework after the factory returns).
using service_factory = std::function<std::unique_ptr<service>(service_env&, settings&)>;

class service_registry {
 public:
  void add(std::string type, service_factory f) { factories_[std::move(type)] = std::move(f); }
  const service_factory* find(std::string_view type) const;
  std::string types() const;  // "device, icg, ums" for error messages

 private:
  std::map<std::string, service_factory, std::less<>> factories_;
};

// The composite daemon: `prog --config FILE` (or the embedded default), signals, two-stage
// shutdown. Returns the process exit code: 0 clean, 1 runtime failure, 2 bad config or usage.
int run_daemon(int argc, char** argv, const service_registry& registry, std::string_view default_config);

}  // namespace shadowlink
