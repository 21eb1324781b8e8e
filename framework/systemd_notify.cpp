#include "framework/systemd_notify.hpp"

#include <systemd/sd-daemon.h>

#include <string>

namespace shadowlink::systemd {

void notify(std::string_view state) {
  // Best effort: a full or vanished notify socket must not stop the daemon.
  (void)sd_notify(0, std::string(state).c_str());
}

clock::duration watchdog_interval() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0) return clock::duration::zero();
  return std::chrono::microseconds(usec / 2);
}

}  // namespace shadowlink::systemd
