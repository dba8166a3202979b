// Metric ref -> stream id of the aggregation, per file: a ref is an offset into one file's
// dictionary, so each file (FileSource::id) has its own map. The two files read last are kept
// (the current one, and the old one drained beside it after a switch); each map is emptied
// when it reaches max_entries and refilled on demand, so memory stays bounded.
#pragma once

#include <array>
#include <cstdint>
#include <unordered_map>

#include "otlp_mmap/collector/processor/metrics_backend.hpp"
#include "otlp_mmap/collector/receiver/file_source.hpp"

namespace otlp_mmap::collector {

class MetricStreamCache {
 public:
  static constexpr size_t kMaxEntries = 65536;

  // The stream of `metric_ref` in `file`, resolved and registered with `backend` on a miss;
  // -1 when it is unusable (the ref does not resolve, or the aggregation refused it).
  int64_t stream(FileSource& file, int64_t metric_ref, MetricsBackend& backend);

 private:
  struct FileStreams {
    uint64_t file_id = 0;  // 0: unused
    uint64_t last_use = 0;
    std::unordered_map<int64_t, int64_t> streams;
  };

  FileStreams& streams_of(uint64_t file_id);
  static int64_t resolve(FileSource& file, int64_t metric_ref, MetricsBackend& backend);

  std::array<FileStreams, 2> files_;
  uint64_t uses_ = 0;
};

}  // namespace otlp_mmap::collector
