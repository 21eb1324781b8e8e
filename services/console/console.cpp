#include "services/console/console.hpp"

#include "framework/log.hpp"
#include "framework/version.hpp"
#include "services/console/commands.hpp"

#include <boost/program_options.hpp>

#include <termios.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <set>

namespace shadowlink::console {
namespace po = boost::program_options;

namespace {

constexpr std::string_view usage =
    "Usage: shadowlink [options] devices [--json]\n"
    "  or:  shadowlink [options] shadow DEVICE [--listen 127.0.0.1:PORT] [--viewer CMD] [--view-only]\n"
    "  or:  shadowlink [options] view DEVICE [--view-only]\n"
    "  or:  shadowlink [options] snapshot DEVICE OUT.png [--webapp]\n"
    "  or:  shadowlink [options] sessions [--json]\n"
    "  or:  shadowlink [options] end SESSION\n"
    "  or:  shadowlink [options] recordings [--json]               (also: recording list)\n"
    "  or:  shadowlink [options] fetch-recording SESSION DIR       (also: recording fetch SESSION DIR)\n"
    "  or:  shadowlink [options] recording export SESSION OUT.mp4 [--fps N] [--frames]\n"
    "  or:  shadowlink [options] audit [DEVICE] [--by USER] [--since TIME] [--until TIME] [--limit N] [--json]\n"
    "  or:  shadowlink [options] revoke-certificate DEVICE\n"
    "  or:  shadowlink [options] remove-device DEVICE\n"
    "  or:  shadowlink [options] enrollment-key create [--folder FOLDER] [--valid-for SECONDS]\n"
    "  or:  shadowlink [options] enrollment-key list [--json] | delete ID\n"
    "  or:  shadowlink [options] folder list [--json] | add PATH | remove PATH | policy PATH [--consent C] [--record on|off]\n"
    "  or:  shadowlink [options] move-device DEVICE FOLDER              (\"/\": the root)\n"
    "  or:  shadowlink [options] right list [--json] | grant|deny|revoke user:NAME|group:NAME shadow|view|manage|audit --folder PATH\n"
    "  or:  shadowlink [options] admin-group list [--json] | add|remove GROUP USER\n"
    "  or:  shadowlink [options] administrator list [--json] | add NAME --role admin|operator|auditor | password NAME | remove NAME\n"
    "  or:  shadowlink [options] api-token create USER [--valid-for SECONDS] | list [--json] | delete ID\n"
    "The console of shadowlink: lists devices, shadows a device's screen (in a window of its own, through\n"
    "a local port for an external VNC viewer, or as a snapshot), lists and ends sessions, reads the audit trail,\n"
    "lists recorded sessions, fetches their files and exports them as video (or PNG frames),\n"
    "revokes a device's certificate (it loses the links it opened and must enroll again),\n"
    "makes the one-time keys new devices enroll with and removes enrolled devices,\n"
    "keeps devices in a tree of folders and grants or denies rights on its folders (inherited by the folders below;\n"
    "a deny beats every allow) to administrators and groups of them.\n\n";

constexpr std::string_view footer =
    "\nEnvironment (used when the option is not given):\n"
    "  SHADOWLINK_SERVER    --server\n"
    "  SHADOWLINK_TOKEN     --token (API token)\n"
    "  SHADOWLINK_PASSWORD  --password (without either, the password is asked for on the terminal)\n"
    "  SHADOWLINK_NEW_PASSWORD  administrator add and password: the new password (else asked for on the terminal)\n"
    "  SHADOWLINK_CA        --ca\n"
    "\nExit codes: 0 done; 1 refused or failed (the reason is printed); 2 usage error.\n";

const std::set<std::string, std::less<>> commands{"devices", "shadow", "view", "snapshot", "sessions", "end", "audit", "revoke-certificate",
                                                     "recordings", "fetch-recording", "recording", "enrollment-key", "remove-device",
                                                     "folder", "move-device", "right", "admin-group", "administrator", "api-token"};

awaitable<int> dispatch(const options& o) {
  client c(o);
  if (o.command == "devices") co_return co_await cmd_devices(c, o);
  if (o.command == "shadow") co_return co_await cmd_shadow(c, o);
  if (o.command == "snapshot") co_return co_await cmd_snapshot(c, o);
  if (o.command == "view") co_return co_await cmd_view(c, o);
  if (o.command == "sessions") co_return co_await cmd_sessions(c, o);
  if (o.command == "end") co_return co_await cmd_end(c, o);
  if (o.command == "recordings") co_return co_await cmd_recordings(c, o);
  if (o.command == "fetch-recording") co_return co_await cmd_fetch_recording(c, o);
  if (o.command == "revoke-certificate") co_return co_await cmd_revoke_certificate(c, o);
  if (o.command == "enrollment-key") co_return co_await cmd_enrollment_key(c, o);
  if (o.command == "remove-device") co_return co_await cmd_remove_device(c, o);
  if (o.command == "folder") co_return co_await cmd_folder(c, o);
  if (o.command == "move-device") co_return co_await cmd_move_device(c, o);
  if (o.command == "right") co_return co_await cmd_right(c, o);
  if (o.command == "admin-group") co_return co_await cmd_admin_group(c, o);
  if (o.command == "administrator") co_return co_await cmd_administrator(c, o);
  if (o.command == "api-token") co_return co_await cmd_api_token(c, o);
  if (o.command == "recording") {  // recording list | fetch SESSION DIR | export SESSION OUT
    if (o.device == "list") co_return co_await cmd_recordings(c, o);
    if (o.device == "export") co_return co_await cmd_export_recording(c, o);
    options fetch = o;
    fetch.device = o.output;
    fetch.output = o.extra;
    co_return co_await cmd_fetch_recording(c, fetch);
  }
  co_return co_await cmd_audit(c, o);
}

// The terminal as it was before the prompt: restored on Ctrl-C too, so the shell gets its echo back.
termios saved_terminal{};
extern "C" void restore_terminal_and_die(int sig) {
  ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_terminal);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

// The password from the terminal, not echoed: never in argv (visible in ps) or the shell's history.
// Nothing (Ctrl-D) is no password.
std::optional<std::string> ask_password(const std::string& prompt) {
  if (!::isatty(STDIN_FILENO)) return std::nullopt;
  const bool restore = ::tcgetattr(STDIN_FILENO, &saved_terminal) == 0;
  if (restore) {
    std::signal(SIGINT, restore_terminal_and_die);
    std::signal(SIGTERM, restore_terminal_and_die);
    termios quiet = saved_terminal;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    // TCSAFLUSH drops what was typed before the prompt. The prompt comes after it, as getpass()
    // does it: whoever answers as soon as it appears (a script, a fast typist) must neither see
    // the password echoed nor have it thrown away — which once left the console waiting forever.
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  std::cerr << prompt << ": " << std::flush;
  std::string password;
  const bool got = static_cast<bool>(std::getline(std::cin, password));
  if (restore) {
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_terminal);
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
  }
  std::cerr << "\n";
  if (!got || password.empty()) return std::nullopt;
  return password;
}

int usage_error(const std::string& what) {
  std::cerr << "shadowlink: " << what << " (see shadowlink --help)\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  po::options_description desc("Options");
  desc.add_options()("help,h", "show this help")("version", "print the version and exit")(
      "server,s", po::value(&o.server)->default_value(o.server), "UMS address (https://HOST:PORT)")(
      "user,u", po::value(&o.user), "administrator name")("password,p", po::value(&o.password),
                                                            "password (better: SHADOWLINK_PASSWORD, or typed when asked)")(
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
      "json", po::bool_switch(&o.json), "devices, sessions, audit: JSON instead of a table")(
      "fps", po::value(&o.fps), "recording export: frames a second (default 10 for a video, 2 for PNG frames)")(
      "frames", po::bool_switch(&o.frames), "recording export: PNG frames into the directory OUT instead of a video")(
      "folder", po::value(&o.folder), "enrollment-key create: the folder (or device group) enrolled devices join; right: the folder (\"/\": the root)")(
      "role", po::value(&o.role), "administrator add: admin, operator or auditor")(
      "consent", po::value(&o.consent), "folder policy: ask, notify, none, or inherit (none of its own)")(
      "record", po::value(&o.record), "folder policy: on or off")(
      "valid-for", po::value(&o.valid_for)->default_value(o.valid_for),
      "enrollment-key create: seconds the key is valid (at most 30 days); api-token create: seconds the token is valid (default a year, at most 5)");
  po::options_description positionals;  // not shown in --help: the usage lines name them
  positionals.add_options()("command", po::value(&o.command))("device", po::value(&o.device))("output", po::value(&o.output))(
      "extra", po::value(&o.extra));
  po::options_description all;
  all.add(desc).add(positionals);
  po::positional_options_description pos;
  pos.add("command", 1).add("device", 1).add("output", 1).add("extra", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return usage_error(e.what());
  }
  o.valid_for_given = vm.count("valid-for") && !vm["valid-for"].defaulted();
  if (vm.count("help")) {
    std::cout << usage << desc << footer;
    return 0;
  }
  if (vm.count("version")) {
    std::cout << "shadowlink " << version << "\n";
    return 0;
  }
  // Usage errors first: a typo should not be answered with a complaint about trust or login.
  if (o.command.empty()) {
    std::cerr << usage << desc << footer;
    return 2;
  }
  if (!commands.contains(o.command)) return usage_error("unknown command '" + o.command + "'");
  const bool needs_device = o.command == "shadow" || o.command == "view" || o.command == "snapshot" || o.command == "end" || o.command == "revoke-certificate" ||
                            o.command == "remove-device" || o.command == "move-device";
  if (needs_device && o.device.empty())
    return usage_error(o.command + " needs a " + (o.command == "end" ? "session id" : "device id"));
  if (o.command == "fetch-recording" && (o.device.empty() || o.output.empty()))
    return usage_error("fetch-recording needs a session id and a directory");
  if (o.command == "recording") {
    if (o.device != "list" && o.device != "fetch" && o.device != "export")
      return usage_error("recording needs list, fetch SESSION DIR or export SESSION OUT");
    if (o.device != "list" && (o.output.empty() || o.extra.empty()))
      return usage_error("recording " + o.device + " needs a session id and " + (o.device == "fetch" ? "a directory" : "an output file"));
  }
  if (o.command == "enrollment-key") {
    if (o.device != "create" && o.device != "list" && o.device != "delete")
      return usage_error("enrollment-key needs create, list or delete ID");
    if (o.device == "delete" && o.output.empty()) return usage_error("enrollment-key delete needs the key's id");
  }
  if (o.command == "folder" && !(o.device == "list" || ((o.device == "add" || o.device == "remove" || o.device == "policy") && !o.output.empty())))
    return usage_error("folder needs list, add PATH, remove PATH or policy PATH");
  if (o.command == "folder" && o.device == "policy") {
    if (o.consent.empty() && o.record.empty()) return usage_error("folder policy needs --consent or --record");
    if (!o.consent.empty() && o.consent != "ask" && o.consent != "notify" && o.consent != "none" && o.consent != "inherit")
      return usage_error("--consent: ask, notify, none or inherit");
    if (!o.record.empty() && o.record != "on" && o.record != "off") return usage_error("--record: on or off");
  }
  if (o.command == "api-token" && !(o.device == "list" || ((o.device == "create" || o.device == "delete") && !o.output.empty())))
    return usage_error("api-token needs create USER, list or delete ID");
  if (o.command == "move-device" && o.output.empty()) return usage_error("move-device needs a device id and a folder (\"/\": the root)");
  if (o.command == "right" && !(o.device == "list" || ((o.device == "grant" || o.device == "deny" || o.device == "revoke") && !o.extra.empty())))
    return usage_error("right needs list, or grant, deny or revoke with a subject (user:NAME or group:NAME) and a right");
  // (No default: a right on the root is a right on every device, never given by leaving something out.)
  if (o.command == "right" && o.device != "list" && o.folder.empty()) return usage_error("right " + o.device + " needs --folder PATH (\"/\": the root)");
  if (o.command == "admin-group" && !(o.device == "list" || ((o.device == "add" || o.device == "remove") && !o.extra.empty())))
    return usage_error("admin-group needs list, or add or remove with a group and a user");
  if (o.command == "administrator" &&
      !(o.device == "list" || ((o.device == "add" || o.device == "password" || o.device == "remove") && !o.output.empty())))
    return usage_error("administrator needs list, add NAME --role ROLE, password NAME or remove NAME");
  if (o.command == "administrator" && o.device == "add" && o.role.empty()) return usage_error("administrator add needs --role admin, operator or auditor");
  if (o.command == "snapshot" && o.output.empty()) return usage_error("snapshot needs an output file (OUT.png)");
  auto env = [](const char* name) { return std::string(std::getenv(name) ? std::getenv(name) : ""); };
  if (vm["server"].defaulted() && !env("SHADOWLINK_SERVER").empty()) o.server = env("SHADOWLINK_SERVER");
  if (o.ca_file.empty() && o.pin.empty()) o.ca_file = env("SHADOWLINK_CA");
  if (o.token.empty() && o.user.empty()) o.token = env("SHADOWLINK_TOKEN");
  if (o.password.empty()) o.password = env("SHADOWLINK_PASSWORD");
  if (o.token.empty() && o.user.empty()) return usage_error("give --token (or SHADOWLINK_TOKEN), or --user");
  if (o.command == "administrator" && (o.device == "add" || o.device == "password")) {
    // The new administrator's password: never on the command line either.
    o.new_password = env("SHADOWLINK_NEW_PASSWORD");
    if (o.new_password.empty()) {
      auto typed = ask_password("New password for " + o.output);
      if (!typed) return usage_error("no new password: give SHADOWLINK_NEW_PASSWORD, or type it when asked");
      o.new_password = *typed;
    }
  }
  if (o.token.empty() && o.password.empty()) {
    auto typed = ask_password("Password for " + o.user);
    if (!typed) return usage_error("no password: give SHADOWLINK_PASSWORD or --password, or type it when asked");
    o.password = *typed;
  }
  log::set_level(log::level::warn);
  // A peer or a child (ffmpeg) gone must be an error where it is written to, not the end of the console.
  std::signal(SIGPIPE, SIG_IGN);
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
