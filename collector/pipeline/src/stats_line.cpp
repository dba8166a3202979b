#include "stats_line.hpp"

#include <sstream>

namespace otlp_mmap::collector {

namespace {

uint64_t writer_dropped(const WriterCounters& w) {
  uint64_t n = w.dropped_unencodable + w.dropped_skipped;
  for (uint64_t d : w.dropped_full) n += d;
  return n;
}

uint64_t reader_dropped(const PipelineStats& s) {
  uint64_t n = s.spans.orphans + s.spans.invalid_ids + s.spans.unknown_records + s.measurements_dropped;
  for (size_t i = 0; i < 3; ++i) n += s.torn[i] + s.corrupt[i];
  return n;
}

uint64_t exporter_dropped(const Exporter& exporter) {
  uint64_t n = 0;
  for (Signal signal : kSignals) {
    const SignalExportStats e = exporter.stats(signal);
    n += e.items_dropped + e.items_rejected;
  }
  return n;
}

// Per signal, the terms of the accounting identity (docs/RELIABILITY.md, the collector's
// accounting): <s>_submitted = exported + rejected + dropped_queue + dropped_retry +
// dropped_shutdown (+ what the exporter still holds, 0 once it stopped); unqueued and
// pending: made but never handed to the exporter's queue; unread: records still in the ring.
void signal_terms(std::ostream& o, const char* name, const SignalExportStats& e, uint64_t submitted, uint64_t unqueued,
                  const SignalBacklog& backlog) {
  o << " | " << name << "_submitted=" << submitted << " " << name << "_exported=" << e.items_exported << " " << name
    << "_rejected=" << e.items_rejected << " " << name << "_dropped_queue=" << e.dropped_queue_full << " " << name
    << "_dropped_retry=" << e.dropped_retries << " " << name << "_dropped_shutdown=" << e.dropped_shutdown << " "
    << name << "_unqueued=" << unqueued << " " << name << "_pending=" << backlog.pending << " " << name
    << "_unread=" << backlog.unread << " " << name << "_paused=" << e.pauses;
}

}  // namespace

std::string format_stats_line(const PipelineStats& s, const Exporter& exporter,
                              const std::array<SignalBacklog, 3>& backlog) {
  const SignalExportStats t = exporter.stats(Signal::kTraces);
  const SignalExportStats l = exporter.stats(Signal::kLogs);
  const SignalExportStats m = exporter.stats(Signal::kMetrics);
  std::ostringstream o;
  o << "stats: read logs=" << s.records[index_of(Signal::kLogs)] << " spans=" << s.records[index_of(Signal::kTraces)]
    << " measurements=" << s.records[index_of(Signal::kMetrics)] << " | exported spans=" << t.items_exported
    << " logs=" << l.items_exported << " points=" << m.items_exported
    << " | dropped writer=" << writer_dropped(s.writer) << " exporter=" << exporter_dropped(exporter)
    << " reader=" << reader_dropped(s) << " | in_flight_spans=" << s.in_flight_spans
    << " incomplete_spans=" << s.spans.incomplete << " errors=" << s.errors << " files_failed=" << s.files_failed
    << " file_switches=" << s.file_switches << " standby=" << (s.standby ? 1 : 0);
  signal_terms(o, "spans", t, s.spans_submitted, s.spans_unqueued, backlog[index_of(Signal::kTraces)]);
  signal_terms(o, "logs", l, s.logs_submitted, s.logs_unqueued, backlog[index_of(Signal::kLogs)]);
  signal_terms(o, "points", m, s.points_submitted, 0, backlog[index_of(Signal::kMetrics)]);
  o << " spans_made=" << (s.spans.completed + s.spans.incomplete) << " logs_made=" << s.logs.records;
  return o.str();
}

}  // namespace otlp_mmap::collector
