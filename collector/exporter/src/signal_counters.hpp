// What happened to one signal's items in the exporter, counted by its senders from their own
// threads and read by the pipeline's.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "otlp_mmap/collector/exporter/exporter.hpp"

namespace otlp_mmap::collector::detail {

struct SignalCounters {
  std::atomic<uint64_t> submitted{0}, exported{0}, rejected{0}, dropped{0}, failed{0}, retries{0};
  std::atomic<uint64_t> dropped_queue_full{0}, dropped_retries{0}, dropped_shutdown{0}, pauses{0};
  std::atomic<bool> paused{false};

  // `n` items dropped for `cause` (one of the dropped_* counters).
  void drop(std::atomic<uint64_t>& cause, uint64_t n) {
    cause += n;
    dropped += n;
  }

  SignalExportStats stats() const {
    SignalExportStats s;
    s.items_submitted = submitted.load();
    s.items_exported = exported.load();
    s.items_rejected = rejected.load();
    s.items_dropped = dropped.load();
    s.requests_failed = failed.load();
    s.retries = retries.load();
    s.dropped_queue_full = dropped_queue_full.load();
    s.dropped_retries = dropped_retries.load();
    s.dropped_shutdown = dropped_shutdown.load();
    s.pauses = pauses.load();
    s.paused = paused.load();
    return s;
  }
};

// "spans", "data points", "log records": the items of a signal, in messages.
inline std::string items_word(Signal s) {
  switch (s) {
    case Signal::kTraces: return "spans";
    case Signal::kMetrics: return "data points";
    case Signal::kLogs: return "log records";
  }
  return "items";
}

}  // namespace otlp_mmap::collector::detail
