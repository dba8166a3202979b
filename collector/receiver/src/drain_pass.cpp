#include "otlp_mmap/collector/receiver/drain_pass.hpp"

#include <algorithm>

namespace otlp_mmap::collector {

namespace {

// Reads up to `limit` records of one ring into `to`, in passes that free the ring's slots
// once each (Reader::drain); returns how many records were taken.
template <class Record>
size_t drain_ring(FileSource& file, Signal signal, Consumer<const Received<Record>&>& to, size_t limit) {
  return file.reader->drain_decoded<Record>(ring_of(signal), limit, [&](const Record& record) {
    to.consume(Received<Record>{record, file});
  });
}

bool has_unread(const Reader& reader, Signal signal) { return reader.ring_state(ring_of(signal)).unread() > 0; }

// The share of the ring's slots that `read` records are.
double fill_of(const Reader& reader, Signal signal, size_t read) {
  const uint64_t slots = reader.ring_state(ring_of(signal)).num_buffers;
  return read == 0 || slots == 0 ? 0 : static_cast<double>(read) / static_cast<double>(slots);
}

}  // namespace

DrainPass& DrainPass::operator+=(const DrainPass& other) {
  records += other.records;
  more = more || other.more;
  blocked = blocked || other.blocked;
  fill = std::max(fill, other.fill);
  return *this;
}

DrainPass drain_pass(FileSource& file, const ReceiverConsumers& to, size_t per_ring) {
  DrainPass pass;
  Reader& reader = *file.reader;
  if (!reader.refresh()) return pass;
  // A span record finishes at most one span and a log record makes one, so reading no more
  // records than the consumer has room for items never overfills what follows.
  const size_t span_room = std::min(per_ring, to.traces.room());
  const size_t log_room = std::min(per_ring, to.logs.room());
  pass.blocked =
      (span_room == 0 && has_unread(reader, Signal::kTraces)) || (log_room == 0 && has_unread(reader, Signal::kLogs));
  const size_t spans = drain_ring(file, Signal::kTraces, to.traces, span_room);
  const size_t logs = drain_ring(file, Signal::kLogs, to.logs, log_room);
  const size_t measurements = drain_ring(file, Signal::kMetrics, to.metrics, std::min(per_ring, to.metrics.room()));
  pass.records = spans + logs + measurements;
  pass.more = (spans == per_ring && spans > 0) || (logs == per_ring && logs > 0) ||
              (measurements == per_ring && measurements > 0);
  pass.fill = std::max({fill_of(reader, Signal::kTraces, spans), fill_of(reader, Signal::kLogs, logs),
                        fill_of(reader, Signal::kMetrics, measurements)});
  return pass;
}

uint64_t unread_records(const Reader& reader, Signal signal) {
  return static_cast<uint64_t>(std::max<int64_t>(0, reader.ring_state(ring_of(signal)).unread()));
}

}  // namespace otlp_mmap::collector
