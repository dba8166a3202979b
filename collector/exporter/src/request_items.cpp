// Items in a request: what the exporter counts (spans, log records, data points).

#include "otlp_mmap/collector/requests.hpp"

namespace otlp_mmap::collector {

size_t count_items(const TraceRequest& request) {
  size_t n = 0;
  for (const auto& rs : request.resource_spans()) {
    for (const auto& ss : rs.scope_spans()) n += static_cast<size_t>(ss.spans_size());
  }
  return n;
}

size_t count_items(const LogsRequest& request) {
  size_t n = 0;
  for (const auto& rl : request.resource_logs()) {
    for (const auto& sl : rl.scope_logs()) n += static_cast<size_t>(sl.log_records_size());
  }
  return n;
}

size_t count_items(const MetricsRequest& request) {
  using opentelemetry::proto::metrics::v1::Metric;
  size_t n = 0;
  for (const auto& rm : request.resource_metrics()) {
    for (const auto& sm : rm.scope_metrics()) {
      for (const auto& m : sm.metrics()) {
        switch (m.data_case()) {
          case Metric::kGauge: n += static_cast<size_t>(m.gauge().data_points_size()); break;
          case Metric::kSum: n += static_cast<size_t>(m.sum().data_points_size()); break;
          case Metric::kHistogram: n += static_cast<size_t>(m.histogram().data_points_size()); break;
          case Metric::kExponentialHistogram:
            n += static_cast<size_t>(m.exponential_histogram().data_points_size());
            break;
          case Metric::kSummary: n += static_cast<size_t>(m.summary().data_points_size()); break;
          case Metric::DATA_NOT_SET: break;
        }
      }
    }
  }
  return n;
}

}  // namespace otlp_mmap::collector
