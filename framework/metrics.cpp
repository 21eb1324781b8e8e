#include "framework/metrics.hpp"

#include "framework/https_server.hpp"
#include "framework/splice.hpp"
#include "framework/token.hpp"

#include <prometheus/text_serializer.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace shadowlink::metrics {
namespace {

struct process_metrics {
  prometheus::Registry registry;
  prometheus::Family<prometheus::Counter>& handshakes = prometheus::BuildCounter()
      .Name("shadowlink_tls_handshake_failures_total").Help("TLS handshakes that failed, by reason").Register(registry);
  prometheus::Family<prometheus::Counter>& refusals = prometheus::BuildCounter()
      .Name("shadowlink_connections_refused_total").Help("Connections closed at accept because a limit was reached, by limit").Register(registry);
  prometheus::Family<prometheus::Gauge>& process = prometheus::BuildGauge()
      .Name("shadowlink_process").Help("The process: open descriptors, resident memory in bytes").Register(registry);
  prometheus::Gauge& fds = process.Add({{"what", "open_descriptors"}});
  prometheus::Gauge& rss = process.Add({{"what", "resident_bytes"}});
  prometheus::Family<prometheus::Gauge>& splices = prometheus::BuildGauge()
      .Name("shadowlink_splices").Help("Tunnels spliced by this process: live now, and since start").Register(registry);
  prometheus::Gauge& live = splices.Add({{"state", "live"}});
  prometheus::Gauge& total = splices.Add({{"state", "since_start"}});

  void refresh() {
    std::error_code ec;
    double n = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec); !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) ++n;
    fds.Set(n);
    std::ifstream statm("/proc/self/statm");
    long pages = 0, resident = 0;
    if (statm >> pages >> resident) rss.Set(static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)));
    live.Set(static_cast<double>(splice_stats::live));
    total.Set(static_cast<double>(splice_stats::total));
  }
};

process_metrics& the_process() {
  static process_metrics m;
  return m;
}

}  // namespace

prometheus::Registry& process() { return the_process().registry; }

void tls_handshake_failed(std::string_view reason) {
  the_process().handshakes.Add({{"reason", std::string(reason)}}).Increment();
}

void connection_refused(std::string_view limit) {
  the_process().refusals.Add({{"limit", std::string(limit)}}).Increment();
}

std::optional<http_response> refused(const http_request& req, const std::string& token_sha256) {
  if (token_sha256.empty())
    return error_response(req, http::status::not_found, "metrics are off: set metrics_token_sha256 to turn them on");
  auto token = bearer_token(req);
  if (token.empty() || !tokens_equal(sha256_hex(token), token_sha256))
    return error_response(req, http::status::unauthorized, "metrics need the metrics token");
  return std::nullopt;
}

http_response answer(const http_request& req, const prometheus::Registry& service) {
  the_process().refresh();
  auto families = service.Collect();
  auto own = the_process().registry.Collect();
  families.insert(families.end(), own.begin(), own.end());
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  http_response res{http::status::ok, req.version()};
  res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  res.body() = out.str();
  res.prepare_payload();
  return res;
}

}  // namespace shadowlink::metrics
