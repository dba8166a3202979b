// One pass over a file's rings: at most a batch of each ring, read in the order spans, log
// records, measurements, and never more than the processor of a signal has room for (the
// rest stays in the ring). What the pass found decides how long the receiver sleeps next.
#pragma once

#include <cstddef>

#include "otlp_mmap/collector/receiver/received.hpp"
#include "otlp_mmap/signal.hpp"

namespace otlp_mmap::collector {

struct DrainPass {
  size_t records = 0;    // read, all rings
  bool more = false;     // a ring gave a full batch: more records may be waiting
  bool blocked = false;  // records were left in a ring for lack of room downstream
  double fill = 0;       // the largest share of a ring's slots read

  DrainPass& operator+=(const DrainPass& other);
};

// Reads one pass of `file` into `to`, `per_ring` records of each ring at most. A file that
// shrank below its layout is not touched (its reader fails).
DrainPass drain_pass(FileSource& file, const ReceiverConsumers& to, size_t per_ring);

// Records still in the ring of `signal`, 0 when its indices say otherwise.
uint64_t unread_records(const Reader& reader, Signal signal);

}  // namespace otlp_mmap::collector
