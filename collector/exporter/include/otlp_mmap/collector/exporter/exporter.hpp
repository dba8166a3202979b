// The exporter's queue and sending, per signal: a bounded queue of requests, then retries
// and a timeout around one transport (console, OTLP/gRPC, OTLP/HTTP protobuf or JSON), on a
// thread of its own, like the OpenTelemetry Collector's exporterhelper.
//
// Requests come ready to send: batching is done before, once (BatchSender: spans and log
// records grouped into requests of OTEL_BSP_/OTEL_BLRP_MAX_EXPORT_BATCH_SIZE items); a metric
// request is one collection. Each request is sent as it is, in order. `submit` never blocks
// the caller (the pipeline's reader thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "otlp_mmap/collector/exporter/encoded_request.hpp"
#include "otlp_mmap/collector/exporter/export_config.hpp"
#include "otlp_mmap/collector/requests.hpp"

namespace otlp_mmap::collector {

struct SignalExportStats {
  uint64_t items_submitted = 0;  // spans / log records / data points handed to submit()
  uint64_t items_exported = 0;   // acknowledged by the endpoint (minus partial-success rejects)
  uint64_t items_rejected = 0;   // rejected by the endpoint (partial success or permanent error)
  uint64_t items_dropped = 0;    // queue full, retries exhausted, or left behind at destruction
  uint64_t requests_failed = 0;  // attempts that failed (retried or not)
  uint64_t retries = 0;
  // items_dropped by cause (their sum): the queue was full at submit(); retries given up;
  // left behind when the exporter stopped (queued, in flight or submitted afterwards).
  uint64_t dropped_queue_full = 0;
  uint64_t dropped_retries = 0;
  uint64_t dropped_shutdown = 0;
  uint64_t pauses = 0;  // times the signal was paused for the endpoint's Retry-After
  bool paused = false;  // paused now: the exporter has no room for this signal

  // Submitted items the exporter still holds (queued or being sent).
  uint64_t outstanding() const {
    const uint64_t done = items_exported + items_rejected + items_dropped;
    return items_submitted > done ? items_submitted - done : 0;
  }
};

class Exporter {
 public:
  virtual ~Exporter() = default;
  // Take a request; never blocks. Returns false if it was dropped (queue full); the
  // exporter has then already counted its items as dropped.
  virtual bool submit(TraceRequest&& request) = 0;
  virtual bool submit(LogsRequest&& request) = 0;
  virtual bool submit(MetricsRequest&& request) = 0;
  // An encoded request of spans (kTraces) or log records (kLogs), as the batcher makes them.
  // The default turns it into the message and submits that (exporters and test doubles that
  // work on messages); the real exporter sends the bytes as they are.
  virtual bool submit(Signal signal, EncodedRequest&& request);
  // Waits until everything submitted so far has been sent or given up, or the deadline.
  // Returns true if nothing was left behind.
  virtual bool flush(std::chrono::steady_clock::time_point deadline) = 0;
  // Stops the exporter's threads now (an attempt in progress is cancelled) and counts what
  // was not sent as dropped; afterwards submit() drops and stats() stay final. Call flush()
  // first. The destructor does this too.
  virtual void shutdown() {}
  virtual SignalExportStats stats(Signal s) const = 0;
};

// Builds the exporter the configuration asks for (one per process; it owns its threads).
std::unique_ptr<Exporter> make_exporter(const ExportConfig& config);

}  // namespace otlp_mmap::collector
