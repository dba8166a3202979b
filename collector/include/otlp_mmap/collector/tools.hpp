// `otlp-mmap inspect` and `otlp-mmap stats`: read-only views of a telemetry file.
//
// Both open the file read-only (O_RDONLY, PROT_READ mapping) and never change it: no ring
// index moves, no counter is added to. Inspect is the black box readout after a crash:
// header, ring states, the writers' loss counters, the readers' skip counters, every
// dictionary entry decoded, and every record not consumed yet (published or still pending)
// decoded with its references resolved.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>

#include "otlp_mmap/file_trust.hpp"

namespace otlp_mmap::collector {

struct InspectOptions {
  bool json = false;
  size_t max_records = SIZE_MAX;  // per ring
  size_t max_entries = 1000000;   // dictionary entries listed
  TrustPolicy trust{};
};

// Returns the exit code: 0, or 1 when the file cannot be read (message on `err`), also when
// it shrinks or faults (SIGBUS) under the reader: an error, never a signal.
int run_inspect(const std::string& path, const InspectOptions& options, std::ostream& out, std::ostream& err);

struct StatsOptions {
  double interval_seconds = 1.0;
  uint64_t count = 0;  // lines to print; 0 = until stopped
  TrustPolicy trust{};
};

// One line per interval: ring fill, records written and read per second, loss counters.
// Returns the exit code: 0, or 1 when the file cannot be read or fails under the reader.
int run_stats(const std::string& path, const StatsOptions& options, std::ostream& out, std::ostream& err,
              const std::atomic<bool>& stop);

}  // namespace otlp_mmap::collector
