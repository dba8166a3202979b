// What the receiver hands the processors: one record read from a file, and the file it came
// from (its refs mean something only in that file's dictionary). The file format's records
// map to the signals here: an Event of the events ring is a log record, a SpanEvent of the
// spans ring a span record, a Measurement of the measurements ring a metric measurement.
// Span records and log records come as zero-copy views (record_view.hpp): valid during the
// call they are passed to only.
#pragma once

#include "otlp_mmap/collector/consumer.hpp"
#include "otlp_mmap/collector/receiver/file_source.hpp"
#include "otlp_mmap/messages.hpp"
#include "otlp_mmap/record_view.hpp"

namespace otlp_mmap::collector {

template <class Record>
struct Received {
  const Record& record;
  FileSource& file;
};

using ReceivedLog = Received<EventRecordView>;
using ReceivedSpan = Received<SpanRecordView>;
using ReceivedMeasurement = Received<Measurement>;

// The processors the receiver feeds, one per signal.
struct ReceiverConsumers {
  Consumer<const ReceivedLog&>& logs;
  Consumer<const ReceivedSpan&>& traces;
  Consumer<const ReceivedMeasurement&>& metrics;
};

}  // namespace otlp_mmap::collector
