#include "framework/log.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
// Location fields would name this file for every event, which tells a reader nothing.
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <optional>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace shadowlink::log {
namespace {
std::atomic<level> current{level::info};
std::atomic<format_kind> current_format{format_kind::text};
std::atomic<bool> to_journal{false};

// Events come from the event loop and from worker threads (audit writer, password checks).
struct session_info {
  std::string device, user;
};
std::mutex sessions_mutex;
std::map<std::string, session_info, std::less<>> sessions;

std::string_view session_of(std::string_view scope) {
  auto slash = scope.rfind('/');
  return slash == std::string_view::npos ? std::string_view{} : scope.substr(slash + 1);
}

std::string_view lowercase_name(level l) {
  switch (l) {
    case level::debug: return "debug";
    case level::info: return "info";
    case level::warn: return "warn";
    case level::error: return "error";
  }
  return "?";
}
const char* name_of(level l) {
  switch (l) {
    case level::debug: return "DEBUG";
    case level::info: return "INFO ";
    case level::warn: return "WARN ";
    case level::error: return "ERROR";
  }
  return "?";
}
}  // namespace

void set_level(level l) { current = l; }
bool enabled(level l) { return l >= current.load(std::memory_order_relaxed); }

level parse_level(std::string_view n) {
  if (n == "debug") return level::debug;
  if (n == "info") return level::info;
  if (n == "warn") return level::warn;
  if (n == "error") return level::error;
  throw std::invalid_argument("expected one of debug, info, warn, error");
}

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c < 0x20 || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string utc_now_iso() {
  auto now = std::chrono::system_clock::now();
  auto t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  char ms_text[8];
  std::snprintf(ms_text, sizeof ms_text, ".%03lldZ", static_cast<long long>(ms));
  return std::string(stamp) + ms_text;
}

std::string utc_iso(std::chrono::system_clock::time_point t) {
  const auto tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char out[32];
  std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return out;
}

std::string format(level l, std::string_view scope, std::string_view message) {
  return utc_now_iso() + " " + name_of(l) + " [" + escape(scope) + "] " + escape(message);
}

void set_format(format_kind f) { current_format = f; }

format_kind parse_format(std::string_view n) {
  if (n == "text") return format_kind::text;
  if (n == "json") return format_kind::json;
  throw std::invalid_argument("expected text or json");
}

bool use_journal_if_connected() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  struct stat st{};
  if (!stream || ::fstat(2, &st) != 0) return false;
  const auto mine = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  to_journal = mine == stream;
  return to_journal;
}

void session_fields(const std::string& session_id, const std::string& device, const std::string& user) {
  std::lock_guard lock(sessions_mutex);
  sessions[session_id] = {device, user};
}

void forget_session(const std::string& session_id) {
  std::lock_guard lock(sessions_mutex);
  sessions.erase(session_id);
}

namespace {
std::optional<session_info> info_of(std::string_view scope) {
  auto id = session_of(scope);
  if (id.empty()) return std::nullopt;
  std::lock_guard lock(sessions_mutex);
  auto it = sessions.find(id);
  if (it == sessions.end()) return std::nullopt;
  return it->second;
}

void to_the_journal(level l, std::string_view scope, std::string_view message) {
  static const int priority[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};
  std::vector<std::string> fields{"MESSAGE=[" + std::string(scope) + "] " + std::string(message),
                                  "PRIORITY=" + std::to_string(priority[static_cast<int>(l)]),
                                  "SYSLOG_IDENTIFIER=shadowlinkd", "SHADOWLINK_SCOPE=" + std::string(scope)};
  if (auto s = info_of(scope)) {
    fields.push_back("SESSION_ID=" + std::string(session_of(scope)));
    fields.push_back("DEVICE=" + s->device);
    fields.push_back("USER=" + s->user);
  }
  std::vector<iovec> iov;
  for (auto& f : fields) iov.push_back({f.data(), f.size()});
  // The journal's own encoding takes any bytes (newlines included): no escaping needed here.
  if (sd_journal_sendv(iov.data(), static_cast<int>(iov.size())) < 0)
    std::fprintf(stderr, "%s\n", format(l, scope, message).c_str());
}
}  // namespace

namespace {
// JSON text must be UTF-8, and peers choose some of what is logged (names, reasons, possibly cut
// in the middle of a character): each byte that does not start a well-formed sequence becomes U+FFFD.
std::string well_formed(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size();) {
    const auto c = static_cast<unsigned char>(in[i]);
    const std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool ok = n > 0 && i + n <= in.size();
    for (std::size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(in[i + k]) >> 6) == 0x2;
    if (ok && n > 1) {  // no overlong forms, surrogates or code points past U+10FFFF
      const auto c1 = static_cast<unsigned char>(in[i + 1]);
      ok = !(c == 0xc0 || c == 0xc1 || (c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 >= 0xa0) || (c == 0xf0 && c1 < 0x90) ||
             (c == 0xf4 && c1 >= 0x90) || c > 0xf4);
    }
    if (ok) {
      out.append(in.substr(i, n));
      i += n;
    } else {
      out += "\xef\xbf\xbd";
      ++i;
    }
  }
  return out;
}
}  // namespace

std::string format_json(level l, std::string_view scope, std::string_view message) {
  boost::json::object o{{"time", utc_now_iso()}, {"level", lowercase_name(l)}, {"scope", well_formed(scope)}};
  if (auto s = info_of(scope)) {
    o["session"] = well_formed(session_of(scope));
    o["device"] = well_formed(s->device);
    o["user"] = well_formed(s->user);
  }
  o["message"] = well_formed(message);
  return boost::json::serialize(o);
}

void write(level l, std::string_view scope, std::string_view message) {
  if (to_journal) return to_the_journal(l, scope, message);
  // One fprintf per line keeps lines whole when several processes share a terminal.
  auto line = current_format == format_kind::json ? format_json(l, scope, message) : format(l, scope, message);
  std::fprintf(stderr, "%s\n", line.c_str());
}

}  // namespace shadowlink::log
