#pragma once
// Telling systemd how the daemon is doing (Type=notify, Debian's libsystemd): ready once every
// service has started, reloading while SIGHUP is handled, stopping when shutdown begins, and the
// watchdog fed from the event loop, so a loop that stalls is restarted. Not under systemd (no
// $NOTIFY_SOCKET) these do nothing.
#include "framework/net.hpp"

#include <string_view>

namespace shadowlink::systemd {

void notify(std::string_view state);  // e.g. "READY=1", "STOPPING=1"
// The interval systemd expects the watchdog to be fed at (WatchdogSec= halved), or zero.
clock::duration watchdog_interval();

}  // namespace shadowlink::systemd
