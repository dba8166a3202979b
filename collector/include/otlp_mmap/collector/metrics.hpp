// Metric aggregation of the collector: measurements read from the file become OTLP metric
// points, aggregated as the OpenTelemetry SDK specification defines.
//
// Contract between the collector's pipeline (which resolves dictionary references and
// calls `record`) and the aggregation (which owns all metric state). Everything here is
// single-threaded: the pipeline's reader thread calls every method.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/common/v1/common.pb.h"
#include "opentelemetry/proto/resource/v1/resource.pb.h"
#include "otlp_mmap/messages.hpp"

namespace otlp_mmap::collector {

namespace otlp {
using opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest;
using opentelemetry::proto::common::v1::InstrumentationScope;
using opentelemetry::proto::common::v1::KeyValue;
using opentelemetry::proto::resource::v1::Resource;
}  // namespace otlp

// OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: cumulative (default), delta, lowmemory.
enum class TemporalityPreference { kCumulative, kDelta, kLowMemory };

struct MetricsOptions {
  TemporalityPreference preference = TemporalityPreference::kCumulative;
  // Per-stream limit of distinct attribute sets; beyond it, measurements go to the overflow
  // series (attribute otel.metric.overflow = true), as the specification names it.
  size_t cardinality_limit = 2000;
  // Hard cap on streams (hostile or runaway files), overflow counted.
  size_t max_streams = 10000;
};

// A metric stream as resolved by the pipeline from the dictionary.
struct MetricStreamDefinition {
  otlp::Resource resource;
  std::string resource_schema_url;
  otlp::InstrumentationScope scope;
  std::string scope_schema_url;
  MetricRef metric;  // name, description, unit, aggregation, temporality of the measurements, ...
};

struct MetricsStats {
  uint64_t measurements = 0;        // recorded
  uint64_t rejected = 0;            // invalid for their stream (e.g. negative on a monotonic sum)
  uint64_t overflowed = 0;          // folded into an overflow series by the cardinality limit
  uint64_t streams_overflowed = 0;  // refused by max_streams
  uint64_t streams = 0;             // live streams
};

class MetricsAggregator {
 public:
  explicit MetricsAggregator(MetricsOptions options);
  ~MetricsAggregator();
  MetricsAggregator(const MetricsAggregator&) = delete;
  MetricsAggregator& operator=(const MetricsAggregator&) = delete;

  // The id of a stream, created on first use. Streams are identified by content (resource
  // and scope attributes, metric name, unit, aggregation...), never by file offset, so two
  // writer processes with identical definitions share one stream. Returns -1 when the stream
  // cannot be created (max_streams reached, or an aggregation the stream cannot have).
  // It canonicalises and serialises the definition: cache the id, don't call it per measurement.
  int64_t stream(const MetricStreamDefinition& definition);

  // One measurement. `attributes` in any order (they are canonicalised). `exemplar` is the
  // span context the measurement was taken in, if any.
  void record(int64_t stream, std::span<const otlp::KeyValue> attributes, uint64_t time_unix_nano,
              const Measurement& value, const SpanContext* exemplar);

  // Everything recorded so far as one request, grouped by resource then scope (by content,
  // deterministic order), with points per the temporality preference; delta state is reset.
  // Streams with nothing to report are left out. `out` is cleared first. Returns the number of
  // data points.
  size_t collect(uint64_t now_unix_nano, otlp::ExportMetricsServiceRequest& out);

  const MetricsStats& stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace otlp_mmap::collector
