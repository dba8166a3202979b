// The pipeline's one-line summary ("stats: read ... | exported ... | dropped ... | ..."),
// printed every stats_interval and once more, final, after the exporter stopped.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "otlp_mmap/collector/exporter/exporter.hpp"
#include "otlp_mmap/collector/pipeline/pipeline_stats.hpp"

namespace otlp_mmap::collector {

// What the line says of a signal beyond the counters: items waiting in the batching layer,
// records still in the file's ring.
struct SignalBacklog {
  uint64_t pending = 0;
  uint64_t unread = 0;
};

// `backlog` indexed by index_of(Signal).
std::string format_stats_line(const PipelineStats& s, const Exporter& exporter,
                              const std::array<SignalBacklog, 3>& backlog);

}  // namespace otlp_mmap::collector
