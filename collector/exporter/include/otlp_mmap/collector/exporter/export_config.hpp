// Where and how each signal is exported, resolved from the command line's flags, then the
// standard OpenTelemetry variables (OTEL_EXPORTER_OTLP_*, OTEL_BSP_*, OTEL_BLRP_*, ...), then
// the specification's defaults.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "otlp_mmap/collector/exporter/batch_options.hpp"
#include "otlp_mmap/signal.hpp"

namespace otlp_mmap::collector {

using ::otlp_mmap::Signal;

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
  // Batching of spans into requests (OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_MAX_EXPORT_BATCH_SIZE).
  std::chrono::milliseconds schedule_delay{5000};
  size_t max_export_batch_size = 512;
  // Batching of log records into requests (OTEL_BLRP_SCHEDULE_DELAY, OTEL_BLRP_MAX_EXPORT_BATCH_SIZE).
  std::chrono::milliseconds logs_schedule_delay{1000};
  size_t logs_max_export_batch_size = 512;
  // Items the exporter holds, per signal (OTEL_BSP_MAX_QUEUE_SIZE for spans,
  // OTEL_BLRP_MAX_QUEUE_SIZE for log records): the batching layer hands the queue no more, so
  // the pipeline leaves what does not fit in the file; a request submitted beyond it is
  // dropped and its items counted. A request is always accepted into an empty queue.
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

  // The batching of traces or logs (see batch_options.hpp), and the items of that signal the
  // exporter may hold (OTEL_BSP_MAX_QUEUE_SIZE, OTEL_BLRP_MAX_QUEUE_SIZE).
  BatchOptions batch(Signal s) const;
  size_t queue_limit(Signal s) const;
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

}  // namespace otlp_mmap::collector
