// The collector's pipeline: the loop that wires the stages, on one thread.
//
//   FileReceiver ──records──▶ SpanProcessor ──spans──────▶ SpanBatchSender ─┐
//   (follows the file,        LogProcessor ──log records─▶ LogBatchSender ──┼─▶ Exporter
//    drains its rings)        MetricProcessor ─collections─▶ MetricSender ──┘   (queue, retries,
//                                                                                timeout, transport)
//
// Every link is a Consumer (consumer.hpp). Each pass of the loop reads a batch of each ring
// (no more than the exporter has room for: the rest stays in the file), then runs what is
// due: batches to the exporter, spans past their age, metric collections, the writer
// liveness check, the path check, the stats line. Between passes the receiver sleeps as the
// pass asks (IdleWait). While no file can be read it waits for one in short slices, as a hot
// standby when another collector holds the file.
//
// Stop: reading stops once the rings are drained, spans in flight are exported as
// incomplete (waiting for room in the export queue), metrics are collected a last time, the
// exporter is flushed and stopped, all within flush_timeout; then the last stats line.
//
// Errors are logged and counted; nothing read from the file can stop the pipeline.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

#include "otlp_mmap/collector/diagnostics.hpp"
#include "otlp_mmap/collector/exporter/batch_sender.hpp"
#include "otlp_mmap/collector/exporter/exporter.hpp"
#include "otlp_mmap/collector/exporter/metric_sender.hpp"
#include "otlp_mmap/collector/now.hpp"
#include "otlp_mmap/collector/pipeline/pipeline_stats.hpp"
#include "otlp_mmap/collector/pipeline/timer.hpp"
#include "otlp_mmap/collector/processor/log_processor.hpp"
#include "otlp_mmap/collector/processor/metric_processor.hpp"
#include "otlp_mmap/collector/processor/metrics_backend.hpp"
#include "otlp_mmap/collector/processor/span_processor.hpp"
#include "otlp_mmap/collector/processor/writer_liveness.hpp"
#include "otlp_mmap/collector/receiver/file_receiver.hpp"

namespace otlp_mmap::collector {

using namespace std::chrono_literals;

// The receiver's options (path, reader, dictionary, read_batch, drain_limit, retire_quiet,
// failed_retry) and the rest of the loop's.
struct PipelineOptions : ReceiverOptions {
  SpanAssemblerOptions spans;
  // The batching of spans and log records (OTEL_BSP_* / OTEL_BLRP_*).
  BatchOptions span_batch;
  BatchOptions log_batch;
  // Backpressure: spans and log records the exporter may hold (batched, queued or being sent)
  // before the pipeline stops reading that ring (OTEL_BSP_MAX_QUEUE_SIZE,
  // OTEL_BLRP_MAX_QUEUE_SIZE); 0: no limit. Records the exporter has no room for stay in the
  // file, where they are safe (a restarted collector still finds them), instead of being
  // dropped by a full queue; only once the ring itself is full do writers drop, and count it
  // in the file.
  size_t span_queue_limit = 0;
  size_t log_queue_limit = 0;
  std::chrono::nanoseconds metric_export_interval = 60s;
  std::chrono::nanoseconds stats_interval = 10s;  // 0: no periodic stats line
  bool check_writer_liveness = true;
  std::chrono::nanoseconds liveness_interval = 1s;
  std::chrono::nanoseconds follow_interval = 1s;   // how often the path is checked for a new file
  std::chrono::nanoseconds open_poll_max = 500ms;  // longest wait between attempts to open
  std::chrono::nanoseconds max_idle_sleep = 20ms;
  std::chrono::nanoseconds standby_poll = 150ms;  // lock attempts while another collector reads
  std::chrono::nanoseconds flush_timeout = 10s;
  std::ostream* log = nullptr;  // diagnostics and stats lines; nullptr: std::cerr
};

class Pipeline {
 public:
  // `metrics` may be null: measurements are then read and counted as dropped.
  Pipeline(PipelineOptions options, Exporter& exporter, MetricsBackend* metrics);
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Runs until `stop` is true, then drains, exports what is in flight and flushes the
  // exporter (bounded by flush_timeout). Returns 0; or 1 at once when the path names a
  // file that cannot be trusted (not a regular file, or another user's without
  // trust_any_owner): waiting would not change that.
  int run(const std::atomic<bool>& stop);

  // Counters so far. Call from the thread that runs run(), or after it returned.
  PipelineStats stats() const;
  // The one-line summary printed every stats_interval.
  std::string stats_line() const;

 private:
  void start_timers();
  void wait_for_file(const std::atomic<bool>& stop);
  void tick();
  void send_due(bool force);
  void check_writers();
  void shutdown();
  void hand_on_before(Now::Clock::time_point deadline);

  PipelineOptions options_;
  Exporter& exporter_;
  Now now_;
  Diagnostics diagnostics_;
  SpanBatchSender span_sender_;
  LogBatchSender log_sender_;
  MetricSender metric_sender_;
  SpanProcessor spans_;
  LogProcessor logs_;
  MetricProcessor metrics_;
  WriterLiveness liveness_;
  FileReceiver receiver_;
  Timer expire_timer_, metrics_timer_, liveness_timer_, follow_timer_, stats_timer_;
  std::chrono::nanoseconds open_wait_ = 10ms;
};

}  // namespace otlp_mmap::collector
