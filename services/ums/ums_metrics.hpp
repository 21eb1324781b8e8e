#pragma once
// What the UMS counts for GET /metrics. Devices online and sessions active are read from the live
// tables when scraped (refresh); the rest is counted as it happens.
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <string>
#include <string_view>

namespace shadowlink::ums {

struct ums_metrics {
  ums_metrics();

  prometheus::Registry registry;
  prometheus::Family<prometheus::Gauge>& devices_online;   // by connector (this UMS or a gateway)
  prometheus::Family<prometheus::Gauge>& sessions_active;  // by via (console, webapp) and path (direct, icg)
  prometheus::Family<prometheus::Counter>& sessions_total; // by via, path and outcome (completed, failed)
  prometheus::Histogram& setup_seconds;                    // from the request to the first spliced byte
  prometheus::Family<prometheus::Counter>& bytes;          // relayed by ended sessions, by direction
  prometheus::Family<prometheus::Counter>& auth_failures;  // by what failed
  prometheus::Gauge& rendezvous_pending;

  void auth_failed(std::string_view what) { auth_failures.Add({{"what", std::string(what)}}).Increment(); }
  // Sets a gauge family to these counts; labels seen before and absent now go to zero.
  void set_counts(prometheus::Family<prometheus::Gauge>& family, const std::map<std::map<std::string, std::string>, double>& counts);

 private:
  std::map<prometheus::Family<prometheus::Gauge>*, std::map<std::map<std::string, std::string>, prometheus::Gauge*>> seen_;
};

}  // namespace shadowlink::ums
