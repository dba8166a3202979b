// The collector's pipeline: follows one telemetry file, drains its three rings on one
// thread, turns records into spans, log records and metric points, and hands requests to
// the exporter.
//
//  - File following: waits for the file to appear and be initialised (polling, bounded
//    interval); keeps reading when writers restart on it; when the path is replaced by
//    another file (a writer moved a corrupt file aside, or rolled over from a full
//    dictionary), reads the new one at once and keeps reading the old one beside it for as
//    long as records keep arriving there (writer processes still on it), closing it once its
//    rings have been empty for retire_quiet; when a file is re-initialised in place (its
//    start time changes), starts over on it. A file that cannot be read (corrupt,
//    untrusted) at the path is retried: the pipeline never stays stuck on it.
//  - One reader per file: the pipeline holds the file's reader lock (Reader::open,
//    `exclusive`). When another collector holds it, this one waits as a hot standby, trying
//    the lock every standby_poll, and takes over when the other exits; each file read (also
//    an old one still being drained) stays locked while it is read.
//  - Hostile mappings: a file that shrinks or faults (SIGBUS) under the reader is dropped,
//    logged once and counted (files_failed); what was aggregated in memory (metrics, open
//    spans) is kept, and the pipeline waits for a valid file at the path (the same file is
//    tried again no more often than every failed_retry).
//  - Reading: bounded batches per ring per pass, so no ring starves the others. A pass that
//    hit its bound is followed by the next at once; otherwise the reader sleeps, so records
//    are read in batches rather than one wake-up per trickle: while records flow the sleep
//    adapts to keep each ring at most about an eighth full (between 50us and 5ms, a yield
//    for a small ring under a fast writer); when nothing arrives it doubles up to
//    max_idle_sleep.
//  - Spans: SpanAssembler; writer processes that have exited (process.pid of the resource
//    no longer alive on this host) have their open spans exported as incomplete.
//  - Stop: reading stops once the rings are drained, spans in flight are exported as
//    incomplete (waiting for room in the export queue), metrics are collected a last time,
//    the exporter is flushed and stopped, all within flush_timeout; then the last stats line.
//  - Spans the collector makes itself (incomplete ones) wait in the pipeline for room in the
//    export queue rather than being dropped by it; so do all requests while the exporter has
//    paused a signal for the endpoint's Retry-After.
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

#include "otlp_mmap/collector/exporter/batcher.hpp"
#include "otlp_mmap/collector/exporter/exporter.hpp"
#include "otlp_mmap/collector/processor/log_mapper.hpp"
#include "otlp_mmap/collector/processor/metrics_backend.hpp"
#include "otlp_mmap/collector/processor/span_assembler.hpp"
#include "otlp_mmap/collector/receiver/resolver.hpp"
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
  // After the path was replaced: how long the old file's rings must stay empty before it is
  // closed (its writers may still be writing it for a while).
  std::chrono::nanoseconds retire_quiet = 2s;
  std::chrono::nanoseconds standby_poll = 150ms;  // lock attempts while another collector reads
  std::chrono::nanoseconds failed_retry = 5s;     // a file that failed is opened again at most this often
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
  // Made but never handed to the exporter: no room in its queue before the shutdown deadline.
  uint64_t spans_unqueued = 0;
  uint64_t logs_unqueued = 0;
  uint64_t files_opened = 0;
  uint64_t file_switches = 0;         // the path was replaced by another file
  uint64_t file_resets = 0;           // the file was re-initialised in place
  uint64_t files_failed = 0;          // files dropped because they shrank or faulted under the reader
  uint64_t files_retired = 0;         // old files closed after the path was replaced and they went quiet
  uint64_t standby_waits = 0;         // times another collector held the lock when we tried to open
  bool standby = false;               // waiting now for another collector to release the file
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

  struct RetiringFile {
    std::unique_ptr<Reader> reader;
    DictionaryResolver resolver;
    std::unordered_map<int64_t, int64_t> metric_streams;
    Clock::time_point last_record{};
    uint64_t records_after_switch = 0;
  };

  bool try_open(bool first_attempt);
  void attach(std::unique_ptr<Reader> reader, dev_t dev, ino_t ino);
  // Adds the counters of a reader that is closed to the totals.
  void account_closed(const Reader& reader);
  // The current reader failed (faulted or shrank): logged once per file, counted, dropped.
  void drop_failed_reader();
  // Runs `f` with the retiring file swapped in as the current one.
  template <class F>
  void on_retiring(F&& f);
  size_t retire_pass();
  void close_retiring(const char* why);
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
  ResolverStats base_dictionary_;  // counters of resolvers retired with their file

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
  std::unique_ptr<RetiringFile> retiring_;
  // The last file that failed, and when: not opened again before failed_retry has passed.
  dev_t failed_dev_ = 0;
  ino_t failed_ino_ = 0;
  Clock::time_point failed_at_{};
  bool standby_logged_ = false;
};

}  // namespace otlp_mmap::collector
