#pragma once
// One line per event: "<UTC date and time> <level> [<scope>] <message>". The scope names the
// service or the session ("ums/s-1a2b3c"), so every line of a session can be grepped by its id.
// For machines, `log_format: "json"` writes one JSON object per line instead; under systemd
// (stderr is the journal's stream) each event goes to the journal with fields of its own
// (PRIORITY, SHADOWLINK_SCOPE, and SESSION_ID, DEVICE, USER on a session's events).
// Messages carry text that peers chose (device ids, user names, reasons): control characters and
// backslashes are escaped, so that no peer can start a forged line or hide part of one.
#include <chrono>
#include <sstream>
#include <string>
#include <string_view>

namespace shadowlink::log {

enum class level { debug = 0, info = 1, warn = 2, error = 3 };

void set_level(level l);
level parse_level(std::string_view name);  // throws std::invalid_argument
bool enabled(level l);
void write(level l, std::string_view scope, std::string_view message);

enum class format_kind { text, json };
void set_format(format_kind f);
format_kind parse_format(std::string_view name);  // "text" or "json"; throws std::invalid_argument
// Sends events to the journal when systemd connected stderr to it ($JOURNAL_STREAM names
// stderr's device and inode). Returns whether it does.
bool use_journal_if_connected();

// A session's device and user, added to every event whose scope ends in the session's id.
void session_fields(const std::string& session_id, const std::string& device, const std::string& user);
void forget_session(const std::string& session_id);
// The JSON object write() prints in json format (without its newline), for tests.
std::string format_json(level l, std::string_view scope, std::string_view message);
// The current UTC time as 2026-11-28T04:38:29.334Z (log lines, journal records).
std::string utc_now_iso();
// A point in time to the second, UTC, as 2026-11-28T04:38:29Z (certificate dates in messages).
std::string utc_iso(std::chrono::system_clock::time_point t);
// The line write() prints (without its newline), for tests.
std::string format(level l, std::string_view scope, std::string_view message);
// Control characters as \xNN, a backslash as \\; everything else (UTF-8 included) unchanged.
std::string escape(std::string_view text);

template <class... Args>
void emit(level l, std::string_view scope, const Args&... args) {
  if (!enabled(l)) return;
  std::ostringstream os;
  (os << ... << args);
  write(l, scope, os.str());
}

template <class... A> void debug(std::string_view s, const A&... a) { emit(level::debug, s, a...); }
template <class... A> void info(std::string_view s, const A&... a) { emit(level::info, s, a...); }
template <class... A> void warn(std::string_view s, const A&... a) { emit(level::warn, s, a...); }
template <class... A> void error(std::string_view s, const A&... a) { emit(level::error, s, a...); }

}  // namespace shadowlink::log
