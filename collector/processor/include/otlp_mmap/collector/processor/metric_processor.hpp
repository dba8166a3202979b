// Metrics: each measurement read is recorded into the aggregation (MetricsBackend) under its
// stream, which the processor finds through its own stream cache; every collection is handed
// on as one request. Measurements are aggregated, never queued, so the processor always has
// room.
#pragma once

#include <cstdint>
#include <vector>

#include "otlp_mmap/collector/consumer.hpp"
#include "otlp_mmap/collector/diagnostics.hpp"
#include "otlp_mmap/collector/now.hpp"
#include "otlp_mmap/collector/processor/metric_stream_cache.hpp"
#include "otlp_mmap/collector/processor/metrics_backend.hpp"
#include "otlp_mmap/collector/receiver/received.hpp"
#include "otlp_mmap/collector/requests.hpp"

namespace otlp_mmap::collector {

class MetricProcessor final : public Consumer<const ReceivedMeasurement&> {
 public:
  // `backend` may be null: measurements are then read and counted as dropped.
  MetricProcessor(MetricsBackend* backend, Consumer<MetricsRequest>& next, const Now& now, Diagnostics& diagnostics);

  void consume(const ReceivedMeasurement& received) override;
  // One collection of everything aggregated, handed on when it has points.
  void collect();

  bool enabled() const { return backend_ != nullptr; }
  uint64_t measurements() const { return measurements_; }  // recorded into the aggregation
  uint64_t dropped() const { return dropped_; }            // unknown metric, refused stream or no value

 private:
  void record(const ReceivedMeasurement& received);

  MetricsBackend* backend_;
  Consumer<MetricsRequest>& next_;
  const Now& now_;
  Diagnostics& diagnostics_;
  MetricStreamCache streams_;
  std::vector<otlp::KeyValue> attribute_scratch_;
  uint64_t measurements_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace otlp_mmap::collector
