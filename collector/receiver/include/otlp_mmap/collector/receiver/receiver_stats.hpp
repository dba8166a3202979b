// The receiver's counters: what it read from each ring, what it skipped, and what happened to
// the files at the path.
#pragma once

#include <array>
#include <cstdint>

#include "otlp_mmap/collector/receiver/resolver.hpp"
#include "otlp_mmap/file.hpp"

namespace otlp_mmap::collector {

struct ReceiverStats {
  // Per signal (index_of(Signal)): records decoded, slots skipped as torn, records skipped as
  // undecodable; log records from the events ring, span records from the spans ring,
  // measurements from the measurements ring.
  std::array<uint64_t, 3> records{};
  std::array<uint64_t, 3> torn{};
  std::array<uint64_t, 3> corrupt{};
  ResolverStats dictionary;
  uint64_t files_opened = 0;
  uint64_t file_switches = 0;        // the path was replaced by another file
  uint64_t file_resets = 0;          // the file was re-initialised in place
  uint64_t files_failed = 0;         // files dropped because they shrank or faulted under the reader
  uint64_t files_retired = 0;        // old files closed after the path was replaced and they went quiet
  uint64_t standby_waits = 0;        // times another collector held the lock when we tried to open
  bool standby = false;              // waiting now for another collector to release the file
  uint64_t backpressure_passes = 0;  // passes that left records in a ring: no room downstream
  WriterCounters writer;             // loss counters of the current file
};

// Adds the counters of a resolver (retired with its file) to a total.
void add_to(ResolverStats& total, const ResolverStats& s);

}  // namespace otlp_mmap::collector
