#include "services/ums/ums_metrics.hpp"

namespace shadowlink::ums {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

ums_metrics::ums_metrics()
    : devices_online(BuildGauge().Name("shadowlink_devices_online").Help("Devices with a live UP link, by connector").Register(registry)),
      sessions_active(BuildGauge().Name("shadowlink_sessions_active").Help("Sessions relaying now, by via and path").Register(registry)),
      sessions_total(BuildCounter().Name("shadowlink_sessions_total").Help("Ended sessions, by via, path and outcome").Register(registry)),
      setup_seconds(BuildHistogram().Name("shadowlink_session_setup_seconds").Help("From the request to the spliced tunnel")
                        .Register(registry)
                        .Add({}, prometheus::Histogram::BucketBoundaries{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60})),
      bytes(BuildCounter().Name("shadowlink_relayed_bytes_total").Help("Bytes relayed by ended sessions, by direction").Register(registry)),
      auth_failures(BuildCounter().Name("shadowlink_auth_failures_total").Help("Refused credentials, by what was refused").Register(registry)),
      rendezvous_pending(BuildGauge().Name("shadowlink_rendezvous_pending").Help("Tunnel meeting points waiting for their ends")
                             .Register(registry).Add({})) {}

void ums_metrics::set_counts(prometheus::Family<prometheus::Gauge>& family,
                             const std::map<std::map<std::string, std::string>, double>& counts) {
  auto& seen = seen_[&family];
  for (auto& [labels, gauge] : seen) gauge->Set(0);
  for (auto& [labels, n] : counts) {
    auto& g = seen[labels];
    if (!g) g = &family.Add(labels);
    g->Set(n);
  }
}

}  // namespace shadowlink::ums
