#include "services/console/console.hpp"

#include "framework/log.hpp"
#include "services/console/commands.hpp"

#include <boost/program_options.hpp>

#include <iostream>

namespace shadowlink::console {
namespace po = boost::program_options;

namespace {

awaitable<int> dispatch(const options& o) {
  client c(o);
  if (o.command == "devices") co_return co_await cmd_devices(c);
  if (o.command == "shadow") co_return co_await cmd_shadow(c, o);
  if (o.command == "snapshot") co_return co_await cmd_snapshot(c, o);
  if (o.command == "sessions") co_return co_await cmd_sessions(c);
  if (o.command == "end") co_return co_await cmd_end(c, o);
  if (o.command == "audit") co_return co_await cmd_audit(c, o);
  throw cli_error("unknown command '" + o.command + "'");
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  po::options_description desc(
      "Usage:\n"
      "  shadowlink [options] devices\n"
      "  shadowlink [options] shadow DEVICE [--listen 127.0.0.1:PORT] [--viewer CMD] [--view-only]\n"
      "  shadowlink [options] snapshot DEVICE OUT.png [--webapp]\n"
      "  shadowlink [options] sessions | end SESSION\n"
      "  shadowlink [options] audit [DEVICE] [--by USER] [--since TIME] [--until TIME] [--limit N] [--json]\n"
      "Options");
  desc.add_options()("help,h", "show this help")(
      "server,s", po::value(&o.server)->default_value(o.server), "UMS address (https://HOST:PORT)")(
      "user,u", po::value(&o.user), "administrator name")("password,p", po::value(&o.password),
                                                            "password (or the SHADOWLINK_PASSWORD environment variable)")(
      "token", po::value(&o.token), "API token instead of user and password")("ca", po::value(&o.ca_file),
                                                                                "CA certificate file to trust")(
      "pin", po::value(&o.pin), "SHA-256 fingerprint of the server's or its CA's certificate")(
      "listen", po::value(&o.listen)->default_value(o.listen), "shadow: local address for the VNC viewer")(
      "viewer", po::value(&o.viewer), "shadow: viewer command to launch; the address is appended")(
      "view-only", po::bool_switch(&o.view_only), "ask for a view-only session")(
      "webapp", po::bool_switch(&o.webapp), "snapshot: go the Web App's way (login cookie, Origin)")(
      "by", po::value(&o.by), "audit: records of this administrator only")(
      "since", po::value(&o.since), "audit: from this UTC time (2026-11-28T08:00:00Z)")(
      "until", po::value(&o.until), "audit: up to this UTC time")(
      "limit", po::value(&o.limit)->default_value(o.limit), "audit: at most the latest N records")(
      "json", po::bool_switch(&o.json), "audit: one JSON object per line")(
      "command", po::value(&o.command), "")("device", po::value(&o.device), "")("output", po::value(&o.output), "");
  po::positional_options_description pos;
  pos.add("command", 1).add("device", 1).add("output", 1);
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(desc).positional(pos).run(), vm);
    po::notify(vm);
    if (vm.count("help") || o.command.empty()) {
      std::cout << desc;
      return vm.count("help") ? 0 : 2;
    }
  } catch (const po::error& e) {
    std::cerr << "shadowlink: " << e.what() << "\n";
    return 2;
  }
  if (o.password.empty())
    if (const char* p = std::getenv("SHADOWLINK_PASSWORD")) o.password = p;
  if (const char* ca = std::getenv("SHADOWLINK_CA"); ca && o.ca_file.empty() && o.pin.empty()) o.ca_file = ca;
  bool needs_device = o.command == "shadow" || o.command == "snapshot" || o.command == "end";
  if (needs_device && o.device.empty()) {
    std::cerr << "shadowlink: " << o.command << " needs a " << (o.command == "end" ? "session id" : "device id") << "\n";
    return 2;
  }
  if (o.command == "snapshot" && o.output.empty()) {
    std::cerr << "shadowlink: snapshot needs an output file (OUT.png)\n";
    return 2;
  }
  log::set_level(log::level::warn);
  net::io_context ioc(1);
  int rc = 1;
  net::co_spawn(ioc, dispatch(o), [&](std::exception_ptr ep, int r) {
    if (!ep) {
      rc = r;
      return;
    }
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      std::cerr << "shadowlink: " << e.what() << "\n";
    }
  });
  ioc.run();
  return rc;
}

}  // namespace shadowlink::console
