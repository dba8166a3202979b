// The pipeline's counters: the receiver's (files and what was read from each ring), and those
// of the processors and the batching layer.
#pragma once

#include <cstdint>

#include "otlp_mmap/collector/processor/log_mapper.hpp"
#include "otlp_mmap/collector/processor/span_assembler.hpp"
#include "otlp_mmap/collector/receiver/receiver_stats.hpp"

namespace otlp_mmap::collector {

struct PipelineStats : ReceiverStats {
  SpanStats spans;
  LogStats logs;
  uint64_t measurements = 0;          // recorded into the aggregation
  uint64_t measurements_dropped = 0;  // unknown metric, refused stream or no value
  uint64_t spans_submitted = 0;       // handed to the exporter's queue
  uint64_t logs_submitted = 0;
  uint64_t points_submitted = 0;
  uint64_t requests_refused = 0;  // the queue refused a request (the exporter counts the items)
  // Made but never handed to the exporter's queue: no room in it before the shutdown deadline.
  uint64_t spans_unqueued = 0;
  uint64_t logs_unqueued = 0;
  uint64_t writers_exited = 0;        // writer pids found gone
  uint64_t writers_unverifiable = 0;  // pids that looked gone while records kept coming
  uint64_t errors = 0;                // unexpected exceptions (logged)
  size_t in_flight_spans = 0;
};

}  // namespace otlp_mmap::collector
