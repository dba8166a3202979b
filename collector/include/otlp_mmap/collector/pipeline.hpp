// The collector's pipeline: follows one telemetry file, drains its three rings on one
// thread, turns records into spans, log records and metric points, and hands requests to
// the exporter.
//
//  - File following: waits for the file to appear and be initialised (polling, bounded
//    interval); keeps reading when writers restart on it; when the path is replaced by
//    another file, drains the old one and moves to the new one; when a file is
//    re-initialised in place (its start time changes), starts over on it.
//  - Reading: bounded batches per ring per pass, so no ring starves the others. A pass that
//    hit its bound is followed by the next at once; otherwise the reader sleeps, so records
//    are read in batches rather than one wake-up per trickle: while records flow the sleep
//    adapts to keep each ring at most about an eighth full (between 50us and 5ms, a yield
//    for a small ring under a fast writer); when nothing arrives it doubles up to
//    max_idle_sleep.
//  - Spans: SpanAssembler; writer processes that have exited (process.pid of the resource
//    no longer alive on this host) have their open spans exported as incomplete.
//  - Stop: reading stops once the rings are drained, spans in flight are exported as
//    incomplete, metrics are collected a last time and the exporter is flushed with a
//    deadline.
//
// Errors are logged and counted; nothing read from the file can stop the pipeline.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "otlp_mmap/collector/batch.hpp"
#include "otlp_mmap/collector/export.hpp"
#include "otlp_mmap/collector/logs.hpp"
#include "otlp_mmap/collector/metrics_backend.hpp"
#include "otlp_mmap/collector/resolver.hpp"
#include "otlp_mmap/collector/spans.hpp"
#include "otlp_mmap/file.hpp"
#include "otlp_mmap/reader.hpp"

namespace otlp_mmap::collector {

using namespace std::chrono_literals;

struct PipelineOptions {
  std::string path;
  ReaderOptions reader;
  size_t read_batch = 1024;  // records per ring per pass
  SpanAssemblerOptions spans;
  ResolverLimits dictionary;
  // Items per request and how long the pipeline holds a partial request. The exporter
  // batches requests into sends by OTEL_BSP_* / OTEL_BLRP_* (export.hpp), so the pipeline
  // only gathers what one moment produced, grouped by content.
  size_t span_batch = 512;
  size_t log_batch = 512;
  std::chrono::nanoseconds submit_delay = 200ms;
  // Backpressure: spans and log records the exporter may hold (queued or being sent) before
  // the pipeline stops reading that ring (OTEL_BSP_MAX_QUEUE_SIZE, OTEL_BLRP_MAX_QUEUE_SIZE);
  // 0: no limit. Records the exporter has no room for stay in the file, where they are
  // safe (a restarted collector still finds them), instead of being dropped by a full queue;
  // only once the ring itself is full do writers drop, and count it in the file.
  size_t span_queue_limit = 0;
  size_t log_queue_limit = 0;
  std::chrono::nanoseconds metric_export_interval = 60s;
  std::chrono::nanoseconds stats_interval = 10s;  // 0: no periodic stats line
  bool check_writer_liveness = true;
  std::chrono::nanoseconds liveness_interval = 1s;
  std::chrono::nanoseconds follow_interval = 1s;   // how often the path is checked for a new file
  std::chrono::nanoseconds open_poll_max = 500ms;  // longest wait between attempts to open
  std::chrono::nanoseconds max_idle_sleep = 20ms;
  std::chrono::nanoseconds shutdown_drain = 2s;  // longest time spent draining at stop
  std::chrono::nanoseconds flush_timeout = 10s;
  std::ostream* log = nullptr;  // diagnostics and stats lines; nullptr: std::cerr
};

struct PipelineStats {
  std::array<uint64_t, 3> records{};  // decoded, per ring (events, spans, measurements)
  std::array<uint64_t, 3> torn{};     // slots skipped as torn, per ring
  std::array<uint64_t, 3> corrupt{};  // records skipped as undecodable, per ring
  SpanStats spans;
  LogStats logs;
  ResolverStats dictionary;
  uint64_t measurements = 0;          // recorded into the aggregation
  uint64_t measurements_dropped = 0;  // unknown metric, refused stream or no value
  uint64_t spans_submitted = 0;       // handed to the exporter
  uint64_t logs_submitted = 0;
  uint64_t points_submitted = 0;
  uint64_t requests_refused = 0;  // submit() returned false (the exporter counts the items)
  uint64_t files_opened = 0;
  uint64_t file_switches = 0;         // the path was replaced by another file
  uint64_t file_resets = 0;           // the file was re-initialised in place
  uint64_t writers_exited = 0;        // writer pids found gone
  uint64_t writers_unverifiable = 0;  // pids that looked gone while records kept coming
  uint64_t errors = 0;                // unexpected exceptions (logged)
  uint64_t backpressure_passes = 0;   // passes that left records in a ring: no room in the exporter
  WriterCounters writer;              // loss counters of the current file
  size_t in_flight_spans = 0;
};

class Pipeline {
 public:
  // `metrics` may be null: measurements are then read and counted as dropped.
  Pipeline(PipelineOptions options, Exporter& exporter, MetricsBackend* metrics);
  ~Pipeline();
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
  using Clock = std::chrono::steady_clock;

  bool try_open(bool first_attempt);
  void attach(std::unique_ptr<Reader> reader, dev_t dev, ino_t ino);
  size_t drain_pass(size_t per_ring);
  size_t exporter_room(Signal signal, size_t pending, size_t limit) const;
  size_t drain_all(Clock::duration limit);
  void on_span(const SpanEvent& r);
  void on_event(const Event& e);
  void on_measurement(const Measurement& m);
  void tick();
  void follow();
  void check_writers();
  void submit_due(bool force);
  void collect_metrics();
  void shutdown();
  void refresh_now();
  void log(const std::string& line) const;
  void note_error(const char* where, const std::exception& e);

  PipelineOptions options_;
  Exporter& exporter_;
  MetricsBackend* metrics_;
  std::ostream& log_;

  std::unique_ptr<Reader> reader_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  uint64_t start_time_ = 0;
  std::array<uint64_t, 3> base_records_{};  // counters of readers already closed
  std::array<uint64_t, 3> base_torn_{};
  std::array<uint64_t, 3> base_corrupt_{};

  DictionaryResolver resolver_;
  SpanAssembler spans_;
  LogMapper logs_;
  Batcher<otlp::Span> span_batch_;
  Batcher<otlp::LogRecord> log_batch_;

  // Metric ref -> stream id (-1: unusable). Refs are per file: emptied on a file change.
  std::unordered_map<int64_t, int64_t> metric_streams_;
  std::vector<otlp::KeyValue> attribute_scratch_;

  // Writer liveness: pids found gone, then watched for records before their spans are ended.
  std::unordered_set<int64_t> suspects_;
  Clock::time_point suspected_at_{};
  bool watching_ = false;  // records of the suspects are being counted
  std::unordered_set<int64_t> unverifiable_pids_;

  Now now_;
  bool refused_ = false;  // the file at the path cannot be trusted (not regular, another owner): run() returns 1
  bool blocked_ = false;  // the last pass left records in a ring for lack of room in the exporter
  bool more_ = false;     // the last pass stopped at its per-ring bound: more records may be waiting
  double fill_ = 0;       // the largest share of a ring's slots the last pass read
  Clock::time_point next_follow_{}, next_liveness_{}, next_stats_{}, next_metrics_{}, next_expire_{};
  std::string last_open_error_;
  PipelineStats counters_;
};

}  // namespace otlp_mmap::collector
