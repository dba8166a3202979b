// Consumers that count what the receiver hands them, with a room of the test's choosing, and
// a writer of records of each ring.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "otlp_mmap/collector/receiver/received.hpp"
#include "pipeline_test_util.hpp"

namespace otlp_mmap::collector::pipeline_test {

template <class Record>
struct CountingConsumer : Consumer<const Received<Record>&> {
  size_t room() const override { return room_left; }
  void consume(const Received<Record>& r) override {
    ++count;
    files.push_back(r.file.id);
  }
  size_t room_left = kUnbounded;
  size_t count = 0;
  std::vector<uint64_t> files;  // the file of each record
};

struct Consumers {
  CountingConsumer<EventRecordView> logs;
  CountingConsumer<SpanRecordView> traces;
  CountingConsumer<Measurement> metrics;
  ReceiverConsumers all() { return ReceiverConsumers{logs, traces, metrics}; }
};

// Writes `n` records to each ring of the file of `writer`.
inline void write_each_ring(Writer& writer, int n) {
  const std::string t = trace_id(1), s = span_id(1);
  for (int i = 0; i < n; ++i) {
    EventView e;
    e.time_unix_nano = 1;
    ASSERT_TRUE(written(writer.write(e)));
    SpanEventView v;
    v.type = SpanEventType::kStart;
    v.trace_id = t;
    v.span_id = s;
    ASSERT_TRUE(written(writer.write(v)));
    MeasurementView m;
    m.as_long = i;
    ASSERT_TRUE(written(writer.write(m)));
  }
}

}  // namespace otlp_mmap::collector::pipeline_test
