// Export of OTLP requests: configuration from the standard OpenTelemetry variables, and
// exporters (console, OTLP/gRPC, OTLP/HTTP protobuf and JSON) behind one interface.
//
// Contract between the collector's pipeline (which builds requests on its reader thread and
// submits them) and the exporters (which own batching of requests into sends, the bounded
// queue, retries and their own threads). `submit` never blocks the reader.
//
// Batching: the pipeline may submit requests of any size as often as it likes (for example
// whatever one poll of the rings produced). The exporter merges queued span and log requests
// into sends of at most `max_export_batch_size` items (splitting a larger request), and sends
// when that many items are queued or the oldest has waited `schedule_delay`, or at once on
// flush(). Metric requests are sent as submitted (one collection each), without delay.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace otlp_mmap::collector {

using TraceRequest = opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using LogsRequest = opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest;
using MetricsRequest = opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest;

enum class Signal : uint8_t { kTraces = 0, kMetrics = 1, kLogs = 2 };

// kNone: OTEL_<SIGNAL>_EXPORTER=none; requests are discarded (and counted as exported).
enum class Protocol { kGrpc, kHttpProtobuf, kHttpJson, kConsoleText, kConsoleJson, kNone };

// Where and how one signal is sent; resolved from flags, then OTEL_* variables, then the
// specification's defaults.
struct SignalExportConfig {
  Protocol protocol = Protocol::kConsoleText;
  std::string endpoint;                        // full URL (HTTP: including /v1/<signal>; gRPC: scheme://host:port)
  std::map<std::string, std::string> headers;  // keys lower-case
  std::chrono::milliseconds timeout{10000};
  bool gzip = false;
  bool insecure = false;                // gRPC without TLS (http:// endpoints, or OTEL_..._INSECURE)
  std::string certificate_file;         // OTEL_EXPORTER_OTLP_CERTIFICATE
  std::string client_key_file;          // OTEL_EXPORTER_OTLP_CLIENT_KEY
  std::string client_certificate_file;  // OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE
  std::string console_path;             // console exporters: file to append to; empty = stdout
};

struct ExportConfig {
  SignalExportConfig traces, metrics, logs;
  // Batching of spans into sends (OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_MAX_EXPORT_BATCH_SIZE).
  std::chrono::milliseconds schedule_delay{5000};
  size_t max_export_batch_size = 512;
  // Batching of log records into sends (OTEL_BLRP_SCHEDULE_DELAY, OTEL_BLRP_MAX_EXPORT_BATCH_SIZE).
  std::chrono::milliseconds logs_schedule_delay{1000};
  size_t logs_max_export_batch_size = 512;
  // Items waiting to be sent, per signal (OTEL_BSP_MAX_QUEUE_SIZE for spans,
  // OTEL_BLRP_MAX_QUEUE_SIZE for log records); beyond it requests are dropped and their items
  // counted. A request is always accepted into an empty queue, whatever its size.
  size_t max_queue_size = 2048;
  size_t logs_max_queue_size = 2048;
  // Bounded queue of requests waiting to be sent, per signal (all signals; the only bound
  // for metric requests); beyond it requests are dropped and their items counted.
  size_t max_queue_requests = 256;
  // Retries of retryable failures: exponential backoff with jitter (each delay drawn from
  // [d/2, d], d = initial * 2^attempt capped at max), Retry-After / RetryInfo honoured,
  // given up (and counted as dropped) once the next attempt would start after this long.
  std::chrono::milliseconds max_retry_elapsed{60000};
  std::chrono::milliseconds retry_initial_backoff{1000};
  std::chrono::milliseconds retry_max_backoff{30000};
  // A retryable failure whose Retry-After / RetryInfo asks for a longer wait than the retry
  // budget above allows does not drop the batch: the signal is paused (nothing of it is
  // sent, the exporter reports no room so its records stay in the file) for the delay the
  // endpoint asked, at most this long, and then the same batch is tried again with a fresh
  // retry budget (collect --max-retry-after). 0: such batches are dropped, as before.
  std::chrono::milliseconds max_retry_after{300000};
  std::chrono::milliseconds metric_export_interval{60000};  // OTEL_METRIC_EXPORT_INTERVAL
  // OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE, lower-case: cumulative, delta, lowmemory.
  std::string metrics_temporality_preference = "cumulative";

  const SignalExportConfig& signal(Signal s) const;
  SignalExportConfig& signal(Signal s);
};

// Command-line flags; each one set overrides the OTEL_* variables (generic and per-signal).
struct ExportOverrides {
  std::optional<std::string> endpoint;        // like OTEL_EXPORTER_OTLP_ENDPOINT (HTTP: /v1/<signal> appended)
  std::optional<std::string> protocol;        // grpc | http/protobuf | http/json
  std::optional<std::string> headers;         // "k=v,k2=v2" (percent-encoded values)
  std::optional<std::string> compression;     // gzip | none
  std::optional<std::string> timeout_ms;      // milliseconds
  std::optional<std::string> console_format;  // text | json (console exporter only)
  std::optional<std::string> console_output;  // file to append to; "" or "-" = stdout
};

// Looks up an environment variable (nullopt when unset).
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// Resolves the configuration from flags, then the process environment, then the
// specification's defaults. Empty variables count as unset. With no endpoint anywhere (no
// flag, no OTEL_EXPORTER_OTLP_ENDPOINT or per-signal endpoint) every signal uses the console
// exporter; OTEL_{TRACES,METRICS,LOGS}_EXPORTER (otlp | console | none) picks one per signal.
// Throws std::invalid_argument naming the variable (or flag) whose value is invalid.
ExportConfig load_export_config(const ExportOverrides& flags);
ExportConfig load_export_config(const ExportOverrides& flags, const EnvLookup& env);

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
};

class Exporter {
 public:
  virtual ~Exporter() = default;
  // Take a request; never blocks. Returns false if it was dropped (queue full); the
  // exporter has then already counted its items as dropped.
  virtual bool submit(TraceRequest&& request) = 0;
  virtual bool submit(LogsRequest&& request) = 0;
  virtual bool submit(MetricsRequest&& request) = 0;
  // Waits until everything submitted so far has been sent or given up, or the deadline.
  // Returns true if nothing was left behind. Batching delays are skipped while flushing.
  virtual bool flush(std::chrono::steady_clock::time_point deadline) = 0;
  // Stops the exporter's threads now (an attempt in progress is cancelled) and counts what
  // was not sent as dropped; afterwards submit() drops and stats() stay final. Call flush()
  // first. The destructor does this too.
  virtual void shutdown() {}
  virtual SignalExportStats stats(Signal s) const = 0;
};

// Builds the exporter the configuration asks for (one per process; it owns its threads).
std::unique_ptr<Exporter> make_exporter(const ExportConfig& config);

// Number of spans, log records or data points in a request.
size_t count_items(const TraceRequest& request);
size_t count_items(const LogsRequest& request);
size_t count_items(const MetricsRequest& request);

// "traces", "metrics", "logs".
const char* signal_name(Signal s);

}  // namespace otlp_mmap::collector
