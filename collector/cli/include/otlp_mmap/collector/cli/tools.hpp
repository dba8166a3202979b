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
//
// When the file exists but cannot be used as a whole (another protocol version, version 0 or
// a short file, a corrupt layout, a fault while reading it: a leftover the writer moved aside
// as `<path>.corrupt-<time>`, say), the error is followed on `out` by a forensic readout, and
// the exit code is still 1: the file is opened again read-only without a lock, and its size,
// the 64-byte header field by field (each field that fails its check says why), each ring whose
// header is inside the file (N, B, indices; its unread records decoded when the whole ring is
// inside the file with sane geometry and consistent indices), and the dictionary header and
// entries as far as they are in bounds are shown, bounded by max_records and max_entries.
// Every read is size-checked and guarded against SIGBUS. With `json` the document has
// "forensic": true and "errors": [every problem found].
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
