// What the pipeline needs from metric aggregation. The collector uses MetricsAggregator
// (metrics.hpp) through make_metrics_backend(); tests and benchmarks may put something else
// behind the same three calls.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "otlp_mmap/collector/processor/metrics_aggregator.hpp"

namespace otlp_mmap::collector {

class MetricsBackend {
 public:
  virtual ~MetricsBackend() = default;
  // Stream id of a definition, -1 when it cannot have one (see MetricsAggregator::stream).
  virtual int64_t stream(const MetricStreamDefinition& definition) = 0;
  virtual void record(int64_t stream, std::span<const otlp::KeyValue> attributes, uint64_t time_unix_nano,
                      const Measurement& value, const SpanContext* exemplar) = 0;
  // Points collected into `out`.
  virtual size_t collect(uint64_t now_unix_nano, otlp::ExportMetricsServiceRequest& out) = 0;
  virtual MetricsStats stats() const = 0;
};

// MetricsAggregator behind the MetricsBackend interface.
std::unique_ptr<MetricsBackend> make_metrics_backend(const MetricsOptions& options);

}  // namespace otlp_mmap::collector
