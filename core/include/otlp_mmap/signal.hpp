// The three OpenTelemetry signals and the ring of the file that carries each: the one place
// where the collector's names (logs, traces, metrics) meet the file format's (FORMAT.md §3:
// the events ring holds log records, the spans ring span records, the measurements ring
// metric measurements). The enum follows the rings' order, so a Signal indexes per-ring arrays.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "otlp_mmap/layout.hpp"

namespace otlp_mmap {

enum class Signal : uint8_t { kLogs = 0, kTraces = 1, kMetrics = 2 };
inline constexpr std::array<Signal, 3> kSignals = {Signal::kLogs, Signal::kTraces, Signal::kMetrics};

constexpr layout::RingKind ring_of(Signal s) { return static_cast<layout::RingKind>(s); }
constexpr Signal signal_of(layout::RingKind k) { return static_cast<Signal>(k); }
constexpr size_t index_of(Signal s) { return static_cast<size_t>(s); }

static_assert(ring_of(Signal::kLogs) == layout::RingKind::kEvents);
static_assert(ring_of(Signal::kTraces) == layout::RingKind::kSpans);
static_assert(ring_of(Signal::kMetrics) == layout::RingKind::kMeasurements);

// "logs", "traces", "metrics" (OTLP's names; OTEL_* variables use them upper-case).
constexpr std::string_view signal_name(Signal s) {
  switch (s) {
    case Signal::kLogs: return "logs";
    case Signal::kTraces: return "traces";
    case Signal::kMetrics: return "metrics";
  }
  return "?";
}

}  // namespace otlp_mmap
