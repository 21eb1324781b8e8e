#include "framework/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <stdexcept>

namespace shadowlink::log {
namespace {
std::atomic<level> current{level::info};
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

std::string format(level l, std::string_view scope, std::string_view message) {
  return utc_now_iso() + " " + name_of(l) + " [" + escape(scope) + "] " + escape(message);
}

void write(level l, std::string_view scope, std::string_view message) {
  // One fprintf per line keeps lines whole when several processes share a terminal.
  auto line = format(l, scope, message);
  std::fprintf(stderr, "%s\n", line.c_str());
}

}  // namespace shadowlink::log
