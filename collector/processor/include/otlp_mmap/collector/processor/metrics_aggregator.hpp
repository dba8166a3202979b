// Metric aggregation of the collector: measurements read from the file become OTLP metric
// points, aggregated as the OpenTelemetry SDK specification defines.
//
// Contract between the collector's pipeline (which resolves dictionary references and
// calls `record`) and the aggregation (which owns all metric state). Everything here is
// single-threaded: the pipeline's reader thread calls every method.
#pragma once

#include <cstdint>
#include <functional>
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
  // Global cap on series across all streams (0: this default). Beyond it, a measurement with a
  // new attribute set goes to its stream's overflow series (otel.metric.overflow = true), as
  // with the per-stream limit: at most max_series regular series, plus one overflow series
  // per stream. Measured (tests/collector/metrics_memory_test.cpp, 2 attributes): about 1 KB
  // per counter, gauge or histogram series (2 KB while a collection's request is built), 3 KB
  // per full exponential histogram series of 160 buckets (6 KB), 17 KB at the 1024-bucket clamp
  // (35 KB). 2,500 streams x 2,000 attribute sets of counters: 77 MB, 128 MB while collected.
  size_t max_series = 100000;
  // Where the once-per-stream notices go ("metric X: series cap reached..."); default stderr.
  std::function<void(const std::string&)> log;
  // Test hook: called before a new series is allocated (with its stream id) and before each
  // stream is collected (stream id, then -1 - id). Throwing std::bad_alloc from it simulates an
  // allocation failure there.
  std::function<void(int64_t)> allocation_hook;
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
  uint64_t measurements = 0;           // recorded
  uint64_t rejected = 0;               // invalid for their stream (e.g. negative on a monotonic sum)
  uint64_t overflowed = 0;             // folded into an overflow series (cardinality limit or max_series)
  uint64_t streams_overflowed = 0;     // refused by max_streams
  uint64_t streams = 0;                // live streams
  uint64_t series = 0;                 // live series, all streams, overflow series included
  uint64_t overflowed_max_series = 0;  // of `overflowed`: by the global max_series cap
  uint64_t allocation_failures = 0;    // std::bad_alloc caught (recording or collecting)
  uint64_t measurements_lost = 0;      // not recorded because of an allocation failure
  uint64_t streams_not_collected = 0;  // stream collections skipped by an allocation failure
                                       // (kept for the next collection)
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
