#include "otlp_mmap/collector/pipeline/pipeline.hpp"

#include <algorithm>
#include <iostream>
#include <thread>

#include "otlp_mmap/collector/processor/process_gone.hpp"
#include "otlp_mmap/collector/receiver/idle_wait.hpp"
#include "stats_line.hpp"

namespace otlp_mmap::collector {

using Clock = Now::Clock;

Pipeline::Pipeline(PipelineOptions options, Exporter& exporter, MetricsBackend* metrics)
    : options_(std::move(options)),
      exporter_(exporter),
      now_(Now::read()),
      diagnostics_(options_.log != nullptr ? *options_.log : std::cerr),
      span_sender_(Signal::kTraces, options_.span_batch, options_.span_queue_limit, exporter_, now_),
      log_sender_(Signal::kLogs, options_.log_batch, options_.log_queue_limit, exporter_, now_),
      metric_sender_(exporter_),
      spans_(options_.spans, span_sender_, now_, diagnostics_),
      logs_(log_sender_, now_, diagnostics_),
      metrics_(metrics, metric_sender_, now_, diagnostics_),
      liveness_(options_.reader.torn_grace, diagnostics_, process_gone),
      receiver_(options_, ReceiverConsumers{logs_, spans_, metrics_}, now_, diagnostics_, [this] { send_due(false); }),
      expire_timer_(1s),
      metrics_timer_(options_.metric_export_interval),
      liveness_timer_(options_.liveness_interval),
      follow_timer_(options_.follow_interval),
      stats_timer_(options_.stats_interval) {}

int Pipeline::run(const std::atomic<bool>& stop) {
  now_ = Now::read();
  start_timers();
  IdleWait idle(options_.max_idle_sleep);
  bool first = true;
  while (!stop.load(std::memory_order_relaxed)) {
    if (!receiver_.reading()) {
      const bool opened = receiver_.open(first);
      first = false;
      if (!opened) {
        if (receiver_.refused()) return 1;
        wait_for_file(stop);
        continue;
      }
    }
    now_ = Now::read();
    DrainPass pass;
    try {
      pass = receiver_.pass();
      tick();
    } catch (const std::exception& e) {
      diagnostics_.error("reading", e);
    }
    receiver_.drop_if_failed();
    idle.after(pass);
  }
  shutdown();
  return 0;
}

void Pipeline::start_timers() {
  for (Timer* t : {&expire_timer_, &metrics_timer_, &liveness_timer_, &follow_timer_, &stats_timer_}) {
    t->set(now_.steady);
  }
}

void Pipeline::wait_for_file(const std::atomic<bool>& stop) {
  // An old file being drained is still read while we wait for the new one.
  now_ = Now::read();
  try {
    receiver_.pass();
    send_due(false);
  } catch (const std::exception& e) {
    diagnostics_.error("reading", e);
  }
  // In short slices, so a stop request is seen at once. A standby tries the lock every
  // standby_poll, to take over as soon as the other collector exits.
  const auto wait = receiver_.standby() ? options_.standby_poll : open_wait_;
  const auto until = Clock::now() + wait;
  while (!stop.load(std::memory_order_relaxed) && Clock::now() < until) {
    std::this_thread::sleep_for(std::min<Clock::duration>(until - Clock::now(), 50ms));
  }
  open_wait_ = std::min(open_wait_ * 2, options_.open_poll_max);
  now_ = Now::read();
  if (options_.stats_interval.count() > 0 && stats_timer_.due(now_.steady)) {
    diagnostics_.log(stats_line());
    stats_timer_.set(now_.steady);
  }
}

void Pipeline::tick() {
  const auto now = now_.steady;
  send_due(false);
  if (expire_timer_.due(now)) {
    spans_.spans().expire(now_);
    expire_timer_.set(now);
  }
  if (metrics_.enabled() && metrics_timer_.due(now)) {
    metrics_.collect();
    metrics_timer_.set(now);
  }
  // The liveness check reads the rings to their end before it suspects anyone: the ends of
  // the spans of a writer that exited may still be waiting there.
  if (options_.check_writer_liveness && liveness_timer_.due(now) && receiver_.reading()) {
    check_writers();
    liveness_timer_.set(Clock::now());
  }
  if (follow_timer_.due(now)) {
    receiver_.follow();
    follow_timer_.set(Clock::now());
  }
  if (options_.stats_interval.count() > 0 && stats_timer_.due(now)) {
    diagnostics_.log(stats_line());
    stats_timer_.set(now);
  }
}

void Pipeline::send_due(bool force) {
  span_sender_.send_due(force);
  log_sender_.send_due(force);
}

void Pipeline::check_writers() {
  // While the exporter holds records back, the ends of a dead writer's spans may still be
  // waiting in the ring: decide nothing until they can be read.
  if (receiver_.blocked()) return;
  liveness_.check(spans_.spans(), [this] {
    receiver_.drain_current();
    return !receiver_.blocked();
  });
}

void Pipeline::shutdown() {
  // One deadline for everything after the stop: waiting for room in the export queue, then
  // the flush. A Retry-After pause is not waited out beyond it.
  const auto deadline = Clock::now() + options_.flush_timeout;
  // A file that appeared while we slept between attempts to open it holds what its writer
  // left before we were stopped: read it now, or it is lost to this run.
  if (!receiver_.reading() && !receiver_.refused()) receiver_.open(false);
  try {
    receiver_.drain_for_stop();
    now_ = Now::read();
    const size_t open = spans_.spans().finish_all(IncompleteReason::kShutdown, now_);
    if (open > 0) diagnostics_.log(std::to_string(open) + " span(s) still open at shutdown exported as incomplete");
    hand_on_before(deadline);
    metrics_.collect();
  } catch (const std::exception& e) {
    diagnostics_.error("shutdown", e);
  }
  if (!exporter_.flush(deadline)) {
    diagnostics_.log("exporter flush did not finish within the deadline; the rest is counted as dropped");
  }
  // The exporters stop before the last stats line: it counts everything they left behind.
  exporter_.shutdown();
  diagnostics_.log(stats_line());
  // Release the file (and its reader lock) now: a standby collector may take over at once,
  // even while this process is still tearing down.
  receiver_.close();
}

void Pipeline::hand_on_before(Clock::time_point deadline) {
  // What is still batched waits for room in the export queue, until the deadline.
  for (;;) {
    send_due(true);
    if ((span_sender_.pending() == 0 && log_sender_.pending() == 0) || Clock::now() >= deadline) break;
    std::this_thread::sleep_for(1ms);
    now_ = Now::read();
  }
  const size_t spans = span_sender_.abandon(), logs = log_sender_.abandon();
  if (spans + logs > 0) {
    diagnostics_.log("no room in the export queue before the shutdown deadline: " + std::to_string(spans) +
                     " span(s) and " + std::to_string(logs) + " log record(s) dropped");
  }
}

PipelineStats Pipeline::stats() const {
  PipelineStats s;
  static_cast<ReceiverStats&>(s) = receiver_.stats();
  s.spans = spans_.spans().stats();
  s.logs = logs_.stats();
  s.measurements = metrics_.measurements();
  s.measurements_dropped = metrics_.dropped();
  s.spans_submitted = span_sender_.stats().submitted;
  s.logs_submitted = log_sender_.stats().submitted;
  s.points_submitted = metric_sender_.submitted();
  s.requests_refused = span_sender_.stats().refused + log_sender_.stats().refused + metric_sender_.refused();
  s.spans_unqueued = span_sender_.stats().unqueued;
  s.logs_unqueued = log_sender_.stats().unqueued;
  s.writers_exited = liveness_.exited();
  s.writers_unverifiable = liveness_.unverifiable();
  s.errors = diagnostics_.errors();
  s.in_flight_spans = spans_.spans().in_flight();
  return s;
}

std::string Pipeline::stats_line() const {
  std::array<SignalBacklog, 3> backlog{};
  backlog[index_of(Signal::kTraces)].pending = span_sender_.pending();
  backlog[index_of(Signal::kLogs)].pending = log_sender_.pending();
  for (Signal s : kSignals) backlog[index_of(s)].unread = receiver_.unread(s);
  return format_stats_line(stats(), exporter_, backlog);
}

}  // namespace otlp_mmap::collector
