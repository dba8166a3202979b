#include "otlp_mmap/collector/pipeline/pipeline.hpp"

#include <sched.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <sstream>
#include <thread>

#include "otlp_mmap/ring.hpp"

namespace otlp_mmap::collector {

namespace {

using layout::RingKind;
constexpr size_t kEvents = static_cast<size_t>(RingKind::kEvents);
constexpr size_t kSpans = static_cast<size_t>(RingKind::kSpans);
constexpr size_t kMeasurements = static_cast<size_t>(RingKind::kMeasurements);

// How long the reader sleeps between passes. Telemetry has no use for microsecond latency
// (requests are batched for hundreds of milliseconds), so the reader never spins: waking on
// every trickle of records costs far more CPU than reading them. While records flow, the
// sleep adapts to the rate so that a ring fills to about an eighth of its slots between
// passes (halving when a pass read more, straight to the shortest when it read over half,
// doubling when it read much less), between 50us and 5ms (a default ring, 8k event and 32k
// span slots, overflows only beyond ~1.6M records/s, more than a reader can take), or only a
// yield when even 50us fills an eighth of a (small) ring. Waking every millisecond or less
// cost ~2% of a core on a loaded 2-core box in context switches alone. A pass that hit its
// per-ring bound is followed by the next at once (see run). When nothing arrives the sleep
// doubles up to `max_sleep`, so an idle file costs a wake-up every max_sleep.
class IdleWait {
 public:
  explicit IdleWait(std::chrono::nanoseconds max_sleep)
      : max_sleep_(std::max<std::chrono::nanoseconds>(max_sleep, kMinSleep)) {}

  // A pass found records and read `fill` (0..1) of the fullest ring's slots.
  void after_work(double fill) {
    sleep_ = std::min(sleep_, std::min(kBusySleep, max_sleep_));
    if (fill > 1.0 / 2) {
      sleep_ = 0ns;  // close to overflowing: back to the shortest wait at once
    } else if (fill > 1.0 / 8) {
      // Below the shortest sleep, only a yield: a small ring under a fast writer.
      sleep_ = sleep_ > kMinSleep ? std::max<std::chrono::nanoseconds>(sleep_ / 2, kMinSleep) : 0ns;
    } else if (fill < 1.0 / 32) {
      sleep_ = sleep_ < kMinSleep ? kMinSleep : std::min({sleep_ * 2, kBusySleep, max_sleep_});
    }
    if (sleep_ == 0ns) {
      sched_yield();
    } else {
      std::this_thread::sleep_for(sleep_);
    }
  }

  // A pass found nothing.
  void wait() {
    sleep_ = std::max(sleep_, kMinSleep);
    std::this_thread::sleep_for(sleep_);
    sleep_ = std::min<std::chrono::nanoseconds>(sleep_ * 2, max_sleep_);
  }

  // A pass stopped at its bound: the next one follows at once, and sleeps start short again.
  void busy() { sleep_ = kMinSleep; }

 private:
  static constexpr std::chrono::nanoseconds kMinSleep = 50us;
  static constexpr std::chrono::nanoseconds kBusySleep = 5ms;
  std::chrono::nanoseconds max_sleep_;
  std::chrono::nanoseconds sleep_ = kMinSleep;
};

// The dictionary counters of a resolver that was retired with its file, added to the totals.
void add_to(ResolverStats& total, const ResolverStats& s) {
  total.string_failures += s.string_failures;
  total.scope_failures += s.scope_failures;
  total.resource_failures += s.resource_failures;
  total.value_failures += s.value_failures;
  total.metric_failures += s.metric_failures;
  total.repaired_utf8 += s.repaired_utf8;
  total.cache_hits += s.cache_hits;
  total.cache_misses += s.cache_misses;
  total.cache_evictions += s.cache_evictions;
}

bool valid_ids(const SpanContext& sc) { return sc.trace_id.size() == 16 && sc.span_id.size() == 8; }

// kill(pid, 0): ESRCH means no such process in our pid namespace; EPERM means it exists.
// A zombie (exited, not yet reaped by its parent) still answers kill: /proc says it is gone.
bool process_gone(int64_t pid) {
  if (pid <= 0 || pid > INT32_MAX) return false;
  if (::kill(static_cast<pid_t>(pid), 0) != 0) return errno == ESRCH;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%lld/stat", static_cast<long long>(pid));
  std::FILE* f = std::fopen(path, "re");
  if (f == nullptr) return false;
  char buf[512];
  const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  // "pid (comm) S ...": the state follows the last ')' (comm may contain anything).
  const char* close = std::strrchr(buf, ')');
  return close != nullptr && close[1] == ' ' && (close[2] == 'Z' || close[2] == 'X');
}

}  // namespace

Pipeline::Pipeline(PipelineOptions options, Exporter& exporter, MetricsBackend* metrics)
    : options_(std::move(options)),
      exporter_(exporter),
      metrics_(metrics),
      log_(options_.log != nullptr ? *options_.log : std::cerr),
      resolver_(options_.dictionary),
      spans_(options_.spans, resolver_,
             [this](std::shared_ptr<const ResolvedScope> scope, std::unique_ptr<otlp::Span> span) {
               span_batch_.add(std::move(scope), std::move(span), now_.steady);
             }),
      logs_(resolver_),
      span_batch_(options_.span_batch, options_.submit_delay),
      log_batch_(options_.log_batch, options_.submit_delay) {
  // One reader per file: the pipeline consumes, so it always holds the file's reader lock.
  options_.reader.exclusive = true;
  options_.reader.read_only = false;
  refresh_now();
}

Pipeline::~Pipeline() = default;

void Pipeline::refresh_now() {
  now_.steady = Clock::now();
  now_.unix_nano = now_unix_nanos();
}

void Pipeline::log(const std::string& line) const { log_ << "otlp-mmap: " << line << std::endl; }

void Pipeline::note_error(const char* where, const std::exception& e) {
  ++counters_.errors;
  // The first errors are logged; after that one line per thousand, so a flood cannot fill a disk.
  if (counters_.errors <= 10 || counters_.errors % 1000 == 0) {
    log(std::string("error in ") + where + ": " + e.what() + " (" + std::to_string(counters_.errors) + " so far)");
  }
}

// ------------------------------------------------------------------ files

bool Pipeline::try_open(bool first_attempt) {
  struct stat before {};
  if (::stat(options_.path.c_str(), &before) != 0) {
    if (first_attempt || last_open_error_ != "missing") log("waiting for " + options_.path + " to appear");
    last_open_error_ = "missing";
    return false;
  }
  // The file that failed under us last: not again before failed_retry (it faults again as
  // long as it is truncated or the file system is full; a new file at the path is read at once).
  if (before.st_dev == failed_dev_ && before.st_ino == failed_ino_ && failed_ino_ != 0 &&
      Clock::now() - failed_at_ < options_.failed_retry) {
    return false;
  }
  std::unique_ptr<Reader> reader;
  try {
    reader = Reader::open(options_.path, options_.reader);
  } catch (const FileLockedError& e) {
    counters_.standby = true;
    if (!standby_logged_) {
      ++counters_.standby_waits;
      log("another collector" + (e.holder_pid() > 0 ? " (pid " + std::to_string(e.holder_pid()) + ")" : std::string()) +
          " reads " + options_.path + "; waiting as a hot standby");
      standby_logged_ = true;
    }
    last_open_error_ = "locked";
    return false;
  } catch (const FileError& e) {
    if (e.code() == FileError::Code::kUntrusted) {
      // Not a regular file, a symbolic link, a shared-writable file or another user's,
      // without the setting that allows it: waiting cannot change that, and the operator
      // must know at once. Once a file has been read, a file that appears at the path later
      // and cannot be trusted is only reported (once) and the path kept under watch: a
      // collector that has been running never exits over it.
      if (counters_.files_opened == 0) {
        log(e.what());
        refused_ = true;
      } else if (last_open_error_ != e.what()) {
        log(std::string(e.what()) + "; waiting for a file that can be trusted");
        last_open_error_ = e.what();
      }
      return false;
    }
    std::string kind;
    switch (e.code()) {
      case FileError::Code::kNotFound: kind = "missing"; break;
      case FileError::Code::kNotInitialized: kind = "uninitialised"; break;
      default: kind = e.what(); break;
    }
    if (kind != last_open_error_) {
      if (kind == "missing") {
        log("waiting for " + options_.path + " to appear");
      } else if (kind == "uninitialised") {
        log("waiting for " + options_.path + " to be initialised by a writer");
      } else {
        // Not a file we can read (yet): a writer may still fix it, move it aside and create
        // a fresh one (or a reference writer is half-way through initialising it). Keep
        // trying, say why once.
        log(std::string("cannot read the file yet, will retry: ") + e.what());
      }
    }
    last_open_error_ = kind;
    return false;
  }
  // The path may have been replaced between stat and open; the identity must be the one
  // that was opened, so check the path again.
  struct stat after {};
  if (::stat(options_.path.c_str(), &after) != 0 || after.st_dev != reader->device() ||
      after.st_ino != reader->inode()) {
    return false;
  }
  if (counters_.standby) {
    log("took over " + options_.path);
    counters_.standby = false;
    standby_logged_ = false;
  }
  attach(std::move(reader), after.st_dev, after.st_ino);
  return true;
}

void Pipeline::account_closed(const Reader& reader) {
  const auto& c = reader.counters();
  for (size_t i = 0; i < 3; ++i) {
    base_records_[i] += c.records[i];
    base_torn_[i] += c.torn[i];
    base_corrupt_[i] += c.corrupt[i];
  }
}

void Pipeline::attach(std::unique_ptr<Reader> reader, dev_t dev, ino_t ino) {
  if (reader_) account_closed(*reader_);
  reader_ = std::move(reader);
  dev_ = dev;
  ino_ = ino;
  start_time_ = reader_->start_time_unix_nano();
  resolver_.attach(reader_.get());
  metric_streams_.clear();
  last_open_error_.clear();
  ++counters_.files_opened;
  std::ostringstream msg;
  msg << "reading " << options_.path << " (";
  for (auto k : layout::kRingKinds) {
    RingState st = reader_->ring_state(k);
    msg << layout::ring_name(k) << " " << st.num_buffers << "x" << st.buffer_size << ", " << st.unread() << " unread"
        << (k == RingKind::kMeasurements ? ")" : "; ");
  }
  log(msg.str());
}

void Pipeline::drop_failed_reader() {
  const std::string why = reader_->failure();
  ++counters_.files_failed;
  const bool again = reader_->device() == failed_dev_ && reader_->inode() == failed_ino_;
  failed_dev_ = reader_->device();
  failed_ino_ = reader_->inode();
  failed_at_ = Clock::now();
  if (!again) {
    log(why + "; dropped the file (" + std::to_string(counters_.files_failed) +
        " so far), keeping what was aggregated in memory; waiting for a valid file at " + options_.path);
  }
  account_closed(*reader_);
  resolver_.attach(nullptr);
  metric_streams_.clear();
  reader_.reset();
  last_open_error_.clear();
}

template <class F>
void Pipeline::on_retiring(F&& f) {
  struct Swap {
    Pipeline& p;
    explicit Swap(Pipeline& pipeline) : p(pipeline) { swap(); }
    ~Swap() { swap(); }
    void swap() {
      std::swap(p.reader_, p.retiring_->reader);
      std::swap(p.resolver_, p.retiring_->resolver);
      std::swap(p.metric_streams_, p.retiring_->metric_streams);
    }
  } guard(*this);
  f();
}

void Pipeline::close_retiring(const char* why) {
  if (!retiring_) return;
  Reader& r = *retiring_->reader;
  if (r.failed()) {
    ++counters_.files_failed;
    log(r.failure() + "; dropped the old file");
  } else {
    log(std::string("finished the old file that was at ") + options_.path + " (" +
        std::to_string(retiring_->records_after_switch) + " records read from it after the switch; " + why + ")");
  }
  ++counters_.files_retired;
  account_closed(r);
  add_to(base_dictionary_, retiring_->resolver.stats());
  retiring_.reset();
}

size_t Pipeline::retire_pass() {
  if (!retiring_) return 0;
  size_t n = 0;
  bool empty = false;
  const bool blocked = blocked_, more = more_;
  const double fill = fill_;
  on_retiring([&] {
    n = drain_pass(options_.read_batch);
    empty = true;
    for (auto k : layout::kRingKinds) empty = empty && reader_->ring_state(k).unread() <= 0;
  });
  blocked_ = blocked_ || blocked;
  more_ = more_ || more;
  fill_ = std::max(fill_, fill);
  retiring_->records_after_switch += n;
  if (n > 0 || !empty) retiring_->last_record = now_.steady;
  if (retiring_->reader->failed()) {
    close_retiring("it failed");
  } else if (now_.steady - retiring_->last_record >= options_.retire_quiet) {
    close_retiring(empty ? "its rings stayed empty" : "no record arrived");
  }
  return n;
}

void Pipeline::follow() {
  // A failed reader answers nothing (its start time reads as 0): it is dropped by run(), not
  // taken for a file re-initialised in place.
  if (!reader_ || reader_->failed()) return;
  // Re-initialised in place (a writer that resets files, as the reference does): the ring
  // indices we hold mean nothing any more.
  const uint64_t start = reader_->start_time_unix_nano();
  struct stat st {};
  const bool exists = ::stat(options_.path.c_str(), &st) == 0;
  const bool replaced = exists && (st.st_dev != dev_ || st.st_ino != ino_);
  if (!replaced && start == start_time_) return;
  std::unique_ptr<Reader> next;
  try {
    next = Reader::open(options_.path, options_.reader);
  } catch (const FileError& e) {
    // A corrupt or untrusted file at the path (or one another collector holds): say so
    // once, keep reading the current file, try again at the next check.
    if (replaced && e.code() != FileError::Code::kNotFound && e.code() != FileError::Code::kNotInitialized &&
        last_open_error_ != e.what()) {
      log(std::string("a new file is at the path but cannot be read yet: ") + e.what());
      last_open_error_ = e.what();
    }
    return;
  }
  struct stat again {};
  if (::stat(options_.path.c_str(), &again) != 0) return;
  if (replaced) {
    if (again.st_dev != next->device() || again.st_ino != next->inode()) return;
    // Whatever the old file still holds belongs to its writers, some of which may still be
    // writing it for a while: it is read beside the new one until it has been quiet for
    // retire_quiet (its lock held until then), then closed.
    if (retiring_) {
      on_retiring([&] { drain_all(options_.shutdown_drain); });
      close_retiring("the path was replaced again");
    }
    drain_all(options_.shutdown_drain);
    retiring_ = std::make_unique<RetiringFile>();
    retiring_->reader = std::move(reader_);
    retiring_->resolver = std::move(resolver_);
    resolver_ = DictionaryResolver(options_.dictionary);
    retiring_->metric_streams = std::move(metric_streams_);
    metric_streams_.clear();
    retiring_->last_record = now_.steady;
    log("the path now names another file: reading it, and the old one until it has been quiet for " +
        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(options_.retire_quiet).count()) + " ms");
    ++counters_.file_switches;
  } else {
    log("the file was re-initialised in place (its start time changed): starting over on it");
    ++counters_.file_resets;
  }
  attach(std::move(next), again.st_dev, again.st_ino);
}

// ------------------------------------------------------------------ reading

size_t Pipeline::exporter_room(Signal signal, size_t pending, size_t limit) const {
  const SignalExportStats st = exporter_.stats(signal);
  if (st.paused) return 0;  // the endpoint asked to wait (Retry-After): records stay in the file
  if (limit == 0) return SIZE_MAX;
  const uint64_t done = st.items_exported + st.items_rejected + st.items_dropped;
  const uint64_t outstanding = st.items_submitted > done ? st.items_submitted - done : 0;
  const uint64_t used = outstanding + pending;
  return used >= limit ? 0 : static_cast<size_t>(limit - used);
}

size_t Pipeline::drain_pass(size_t per_ring) {
  // The file's size first: a file that shrank below its layout is not touched at all.
  if (!reader_->refresh()) return 0;
  SpanEvent span;
  Event event;
  Measurement measurement;
  size_t n = 0;
  // A span record finishes at most one span and an event makes one log record, so reading
  // no more records than the exporter has room for items never overfills its queue.
  const size_t span_room =
      std::min(per_ring, exporter_room(Signal::kTraces, span_batch_.size(), options_.span_queue_limit));
  const size_t log_room = std::min(per_ring, exporter_room(Signal::kLogs, log_batch_.size(), options_.log_queue_limit));
  blocked_ = (span_room == 0 && reader_->ring_state(RingKind::kSpans).unread() > 0) ||
             (log_room == 0 && reader_->ring_state(RingKind::kEvents).unread() > 0);
  if (blocked_) ++counters_.backpressure_passes;
  size_t spans = 0, events = 0, measurements = 0;
  for (; spans < span_room && reader_->next(span); ++spans) on_span(span);
  for (; events < log_room && reader_->next(event); ++events) on_event(event);
  for (; measurements < per_ring && reader_->next(measurement); ++measurements) on_measurement(measurement);
  more_ = (spans == per_ring && spans > 0) || (events == per_ring && events > 0) ||
          (measurements == per_ring && measurements > 0);
  fill_ = 0;
  const size_t counts[] = {spans, events, measurements};
  const RingKind kinds[] = {RingKind::kSpans, RingKind::kEvents, RingKind::kMeasurements};
  for (size_t k = 0; k < 3; ++k) {
    if (counts[k] == 0) continue;
    const uint64_t slots = reader_->ring_state(kinds[k]).num_buffers;
    if (slots > 0) fill_ = std::max(fill_, static_cast<double>(counts[k]) / static_cast<double>(slots));
  }
  n = spans + events + measurements;
  return n;
}

size_t Pipeline::drain_all(Clock::duration limit) {
  if (!reader_ || reader_->failed()) return 0;
  const auto deadline = Clock::now() + limit;
  size_t total = 0;
  for (;;) {
    refresh_now();
    size_t n = drain_pass(options_.read_batch);
    total += n;
    submit_due(false);
    if (Clock::now() >= deadline) break;
    if (n == 0) {
      if (!blocked_) break;
      std::this_thread::sleep_for(1ms);  // records are waiting for room in the exporter
    }
  }
  return total;
}

void Pipeline::on_span(const SpanEvent& r) {
  try {
    spans_.handle(r, now_);
  } catch (const std::exception& e) {
    note_error("span assembly", e);
  }
}

void Pipeline::on_event(const Event& e) {
  try {
    std::shared_ptr<const ResolvedScope> scope;
    auto record = logs_.map(e, now_.unix_nano, scope);
    log_batch_.add(std::move(scope), std::move(record), now_.steady);
  } catch (const std::exception& ex) {
    note_error("log mapping", ex);
  }
}

void Pipeline::on_measurement(const Measurement& m) {
  if (metrics_ == nullptr || m.value_kind == Measurement::ValueKind::kNone) {
    ++counters_.measurements_dropped;
    return;
  }
  try {
    auto it = metric_streams_.find(m.metric_ref);
    if (it == metric_streams_.end()) {
      int64_t id = -1;
      MetricStreamDefinition def;
      if (resolver_.metric(m.metric_ref, def.metric)) {
        auto scope = resolver_.scope(def.metric.scope_ref);
        def.resource = scope->resource->resource;
        def.resource_schema_url = scope->resource->schema_url;
        def.scope = scope->scope;
        def.scope_schema_url = scope->schema_url;
        id = metrics_->stream(def);
      }
      if (metric_streams_.size() >= 65536) metric_streams_.clear();  // bounded; refilled on demand
      it = metric_streams_.emplace(m.metric_ref, id).first;
    }
    if (it->second < 0) {
      ++counters_.measurements_dropped;
      return;
    }
    const size_t n = resolver_.attributes_into(m.attributes, attribute_scratch_, nullptr);
    const SpanContext* exemplar = m.span_context.has_value() && valid_ids(*m.span_context) ? &*m.span_context : nullptr;
    const uint64_t time = m.time_unix_nano != 0 ? m.time_unix_nano : now_.unix_nano;
    metrics_->record(it->second, std::span<const otlp::KeyValue>(attribute_scratch_.data(), n), time, m, exemplar);
    ++counters_.measurements;
  } catch (const std::exception& e) {
    note_error("metric recording", e);
  }
}

// ------------------------------------------------------------------ timers

void Pipeline::submit_due(bool force) {
  while (!span_batch_.empty() && (force || span_batch_.due(now_.steady))) {
    // Spans the collector makes itself (incomplete spans of a dead writer, at shutdown, on
    // eviction) do not come from records gated by the exporter's room: they wait here for
    // room instead of being dropped by a full export queue.
    const size_t want = std::min(span_batch_.size(), span_batch_.max_batch());
    const size_t room = exporter_room(Signal::kTraces, 0, options_.span_queue_limit);
    if (room < std::min(want, options_.span_queue_limit == 0 ? want : options_.span_queue_limit)) break;
    TraceRequest req;
    const size_t n = span_batch_.take(req);
    counters_.spans_submitted += n;
    if (!exporter_.submit(std::move(req))) ++counters_.requests_refused;
  }
  while (!log_batch_.empty() && (force || log_batch_.due(now_.steady))) {
    const size_t want = std::min(log_batch_.size(), log_batch_.max_batch());
    const size_t room = exporter_room(Signal::kLogs, 0, options_.log_queue_limit);
    if (room < std::min(want, options_.log_queue_limit == 0 ? want : options_.log_queue_limit)) break;
    LogsRequest req;
    const size_t n = log_batch_.take(req);
    counters_.logs_submitted += n;
    if (!exporter_.submit(std::move(req))) ++counters_.requests_refused;
  }
}

void Pipeline::collect_metrics() {
  if (metrics_ == nullptr) return;
  try {
    MetricsRequest req;
    const size_t n = metrics_->collect(now_.unix_nano, req);
    if (n == 0) return;
    counters_.points_submitted += n;
    if (!exporter_.submit(std::move(req))) ++counters_.requests_refused;
  } catch (const std::exception& e) {
    note_error("metric collection", e);
  }
}

void Pipeline::check_writers() {
  // While the exporter holds records back, the ends of a dead writer's spans may still be
  // waiting in the ring: decide nothing until they can be read.
  if (blocked_) return;
  if (!suspects_.empty()) {
    // A slot the writer claimed but never published holds back the records behind it for
    // the torn-slot grace period; only then is everything it wrote surely read, and only
    // records read after that prove it alive.
    if (!watching_) {
      if (now_.steady - suspected_at_ >= options_.reader.torn_grace) {
        spans_.watch(suspects_);
        watching_ = true;
      }
      return;
    }
    std::unordered_set<int64_t> dead;
    for (int64_t pid : suspects_) {
      if (spans_.watched_records(pid) > 0) {
        // Records keep coming from a pid that looks gone: it is not what we think (another
        // pid namespace, say); it is left alone from now on.
        if (unverifiable_pids_.size() >= 4096) unverifiable_pids_.clear();
        unverifiable_pids_.insert(pid);
        ++counters_.writers_unverifiable;
        log("writer pid " + std::to_string(pid) + " looks gone but is still writing; not checking it any more");
      } else if (process_gone(pid)) {
        dead.insert(pid);
      }
    }
    suspects_.clear();
    watching_ = false;
    spans_.watch(suspects_);
    if (!dead.empty()) {
      counters_.writers_exited += dead.size();
      const size_t n = spans_.finish_writers(dead);
      if (n > 0) {
        std::string pids;
        for (int64_t p : dead) pids += (pids.empty() ? "" : ",") + std::to_string(p);
        log("writer process(es) " + pids + " exited: " + std::to_string(n) + " open span(s) exported as incomplete");
      }
    }
    return;
  }
  std::unordered_set<int64_t> gone;
  for (int64_t pid : spans_.writer_pids()) {
    if (unverifiable_pids_.count(pid) == 0 && process_gone(pid)) gone.insert(pid);
  }
  if (gone.empty()) return;
  // Records the process wrote before it went may still be in the ring: read them first.
  drain_all(options_.shutdown_drain);
  if (blocked_) return;
  suspects_ = std::move(gone);
  suspected_at_ = Clock::now();
  watching_ = false;
}

void Pipeline::tick() {
  const auto now = now_.steady;
  submit_due(false);
  if (now >= next_expire_) {
    spans_.expire(now_);
    next_expire_ = now + 1s;
  }
  if (metrics_ != nullptr && now >= next_metrics_) {
    collect_metrics();
    next_metrics_ = now + options_.metric_export_interval;
  }
  // check_writers drains the rings before it suspects anyone: the ends of the spans of a
  // writer that exited may still be waiting there.
  if (options_.check_writer_liveness && now >= next_liveness_ && reader_) {
    check_writers();
    next_liveness_ = Clock::now() + options_.liveness_interval;
  }
  if (now >= next_follow_) {
    follow();
    next_follow_ = Clock::now() + options_.follow_interval;
  }
  if (options_.stats_interval.count() > 0 && now >= next_stats_) {
    log(stats_line());
    next_stats_ = now + options_.stats_interval;
  }
}

// ------------------------------------------------------------------ run

int Pipeline::run(const std::atomic<bool>& stop) {
  refresh_now();
  next_follow_ = now_.steady + options_.follow_interval;
  next_liveness_ = now_.steady + options_.liveness_interval;
  next_stats_ = now_.steady + options_.stats_interval;
  next_metrics_ = now_.steady + options_.metric_export_interval;
  next_expire_ = now_.steady + 1s;
  IdleWait idle(options_.max_idle_sleep);
  auto open_wait = std::chrono::nanoseconds(10ms);
  bool first = true;
  while (!stop.load(std::memory_order_relaxed)) {
    if (!reader_) {
      if (!try_open(first)) {
        if (refused_) return 1;
        first = false;
        // An old file being drained is still read while we wait for the new one.
        if (retiring_) {
          refresh_now();
          try {
            retire_pass();
            submit_due(false);
          } catch (const std::exception& e) {
            note_error("reading", e);
          }
        }
        // Wait for the file in short slices so a stop request is seen at once. A standby
        // tries the lock every standby_poll, to take over as soon as the other collector exits.
        const auto wait = counters_.standby ? std::chrono::nanoseconds(options_.standby_poll) : open_wait;
        const auto until = Clock::now() + wait;
        while (!stop.load(std::memory_order_relaxed) && Clock::now() < until) {
          std::this_thread::sleep_for(std::min<Clock::duration>(until - Clock::now(), 50ms));
        }
        open_wait = std::min(open_wait * 2, options_.open_poll_max);
        refresh_now();
        if (options_.stats_interval.count() > 0 && now_.steady >= next_stats_) {
          log(stats_line());
          next_stats_ = now_.steady + options_.stats_interval;
        }
        continue;
      }
      first = false;
    }
    refresh_now();
    size_t n = 0;
    try {
      n = retire_pass();
      n += drain_pass(options_.read_batch);
      tick();
    } catch (const std::exception& e) {
      note_error("reading", e);
    }
    if (reader_ && reader_->failed()) drop_failed_reader();
    if (n == 0) {
      idle.wait();
    } else if (more_) {
      idle.busy();
    } else {
      idle.after_work(fill_);
    }
  }
  shutdown();
  return 0;
}

void Pipeline::shutdown() {
  // One deadline for everything after the stop: waiting for room in the export queue, then
  // the flush. A Retry-After pause is not waited out beyond it.
  const auto deadline = Clock::now() + options_.flush_timeout;
  // A file that appeared while we slept between attempts to open it holds what its writer
  // left before we were stopped: read it now, or it is lost to this run.
  if (!reader_ && !refused_) try_open(false);
  try {
    if (retiring_) {
      on_retiring([&] { drain_all(options_.shutdown_drain); });
      close_retiring("shutdown");
    }
    drain_all(options_.shutdown_drain);
    if (reader_ && reader_->failed()) drop_failed_reader();
    refresh_now();
    const size_t open = spans_.finish_all(IncompleteReason::kShutdown, now_);
    if (open > 0) log(std::to_string(open) + " span(s) still open at shutdown exported as incomplete");
    // What is still batched waits for room in the export queue, until the deadline.
    for (;;) {
      submit_due(true);
      if ((span_batch_.empty() && log_batch_.empty()) || Clock::now() >= deadline) break;
      std::this_thread::sleep_for(1ms);
      refresh_now();
    }
    const size_t unqueued_spans = span_batch_.size(), unqueued_logs = log_batch_.size();
    if (unqueued_spans + unqueued_logs > 0) {
      counters_.spans_unqueued += unqueued_spans;
      counters_.logs_unqueued += unqueued_logs;
      span_batch_ = Batcher<otlp::Span>(options_.span_batch, options_.submit_delay);
      log_batch_ = Batcher<otlp::LogRecord>(options_.log_batch, options_.submit_delay);
      log("no room in the export queue before the shutdown deadline: " + std::to_string(unqueued_spans) +
          " span(s) and " + std::to_string(unqueued_logs) + " log record(s) dropped");
    }
    collect_metrics();
  } catch (const std::exception& e) {
    note_error("shutdown", e);
  }
  const bool flushed = exporter_.flush(deadline);
  if (!flushed) log("exporter flush did not finish within the deadline; the rest is counted as dropped");
  // The exporters stop before the last stats line: it counts everything they left behind.
  exporter_.shutdown();
  log(stats_line());
  // Release the file (and its reader lock) now: a standby collector may take over at once,
  // even while this process is still tearing down.
  if (reader_) {
    counters_.writer = reader_->writer_counters();
    account_closed(*reader_);
    resolver_.attach(nullptr);
    reader_.reset();
  }
}

// ------------------------------------------------------------------ stats

PipelineStats Pipeline::stats() const {
  PipelineStats s = counters_;
  s.records = base_records_;
  s.torn = base_torn_;
  s.corrupt = base_corrupt_;
  if (reader_) {
    const auto& c = reader_->counters();
    for (size_t i = 0; i < 3; ++i) {
      s.records[i] += c.records[i];
      s.torn[i] += c.torn[i];
      s.corrupt[i] += c.corrupt[i];
    }
    s.writer = reader_->writer_counters();
  }
  if (retiring_) {
    const auto& c = retiring_->reader->counters();
    for (size_t i = 0; i < 3; ++i) {
      s.records[i] += c.records[i];
      s.torn[i] += c.torn[i];
      s.corrupt[i] += c.corrupt[i];
    }
  }
  s.spans = spans_.stats();
  s.logs = logs_.stats();
  s.dictionary = base_dictionary_;
  add_to(s.dictionary, resolver_.stats());
  if (retiring_) add_to(s.dictionary, retiring_->resolver.stats());
  s.in_flight_spans = spans_.in_flight();
  return s;
}

std::string Pipeline::stats_line() const {
  const PipelineStats s = stats();
  const SignalExportStats t = exporter_.stats(Signal::kTraces);
  const SignalExportStats l = exporter_.stats(Signal::kLogs);
  const SignalExportStats m = exporter_.stats(Signal::kMetrics);
  uint64_t writer_dropped = s.writer.dropped_unencodable + s.writer.dropped_skipped;
  for (uint64_t d : s.writer.dropped_full) writer_dropped += d;
  const uint64_t exporter_dropped =
      t.items_dropped + t.items_rejected + l.items_dropped + l.items_rejected + m.items_dropped + m.items_rejected;
  uint64_t reader_dropped = s.spans.orphans + s.spans.invalid_ids + s.spans.unknown_records + s.measurements_dropped;
  for (size_t i = 0; i < 3; ++i) reader_dropped += s.torn[i] + s.corrupt[i];
  std::ostringstream o;
  o << "stats: read events=" << s.records[kEvents] << " spans=" << s.records[kSpans]
    << " measurements=" << s.records[kMeasurements] << " | exported spans=" << t.items_exported
    << " logs=" << l.items_exported << " points=" << m.items_exported << " | dropped writer=" << writer_dropped
    << " exporter=" << exporter_dropped << " reader=" << reader_dropped << " | in_flight_spans=" << s.in_flight_spans
    << " incomplete_spans=" << s.spans.incomplete << " errors=" << s.errors << " files_failed=" << s.files_failed
    << " file_switches=" << s.file_switches << " standby=" << (s.standby ? 1 : 0);
  // Per signal, the terms of the accounting identity (docs: collector-accounting):
  // <signal>_submitted = exported + rejected + dropped_queue + dropped_retry + dropped_shutdown
  // (+ what the exporter still holds, 0 once it stopped); unqueued/pending: made but never
  // handed to the exporter; unread: records still in the file's ring.
  const auto unread = [&](RingKind k) -> uint64_t {
    return reader_ ? static_cast<uint64_t>(std::max<int64_t>(0, reader_->ring_state(k).unread())) : 0;
  };
  const auto signal = [&](const char* name, const SignalExportStats& e, uint64_t submitted, uint64_t unqueued,
                          uint64_t pending, uint64_t unread_records) {
    o << " | " << name << "_submitted=" << submitted << " " << name << "_exported=" << e.items_exported << " " << name
      << "_rejected=" << e.items_rejected << " " << name << "_dropped_queue=" << e.dropped_queue_full << " " << name
      << "_dropped_retry=" << e.dropped_retries << " " << name << "_dropped_shutdown=" << e.dropped_shutdown << " "
      << name << "_unqueued=" << unqueued << " " << name << "_pending=" << pending << " " << name
      << "_unread=" << unread_records << " " << name << "_paused=" << e.pauses;
  };
  signal("spans", t, s.spans_submitted, s.spans_unqueued, span_batch_.size(), unread(RingKind::kSpans));
  signal("logs", l, s.logs_submitted, s.logs_unqueued, log_batch_.size(), unread(RingKind::kEvents));
  signal("points", m, s.points_submitted, 0, 0, unread(RingKind::kMeasurements));
  o << " spans_made=" << (s.spans.completed + s.spans.incomplete) << " logs_made=" << s.logs.records;
  return o.str();
}

}  // namespace otlp_mmap::collector
