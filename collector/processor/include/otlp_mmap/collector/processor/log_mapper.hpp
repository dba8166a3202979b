// Log records: an Event of the events ring becomes an OTLP LogRecord, written as bytes
// straight from the record's view.
//
//   time_unix_nano          the event's time
//   observed_time_unix_nano the event's observed time (extension field), else the time the
//                           collector read the record
//   severity_number / text  as written (a number outside 0..24 becomes 0, counted)
//   body                    the AnyValue, keys of key-value lists and value refs resolved
//   event_name              the string of event_name_ref
//   attributes              resolved; a later value of a key replaces an earlier one
//   dropped_attributes_count the writer's count (extension field) plus what the collector
//                           could not resolve
//   trace_id, span_id,flags from the span context, only when the ids are 16 and 8 bytes
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "otlp_mmap/collector/otlp_wire.hpp"
#include "otlp_mmap/collector/receiver/resolver.hpp"
#include "otlp_mmap/record_view.hpp"

namespace otlp_mmap::collector {

struct LogStats {
  uint64_t records = 0;                // events mapped
  uint64_t invalid_span_context = 0;   // ids of the wrong length: trace context left out
  uint64_t invalid_severity = 0;       // severity number outside 0..24: set to 0
  uint64_t unresolved_body = 0;        // body (or part of it) could not be resolved
  uint64_t unresolved_event_name = 0;  // event name ref could not be read
};

class LogMapper {
 public:
  // Writes the fields of one event's LogRecord message, its refs resolved by `resolver` (the
  // dictionary of the file it came from). The event's scope is resolver.scope(e.scope_ref).
  void map(const EventRecordView& e, DictionaryResolver& resolver, uint64_t read_time_unix_nano, otlp_wire::Out& out);

  const LogStats& stats() const { return stats_; }

 private:
  LogStats stats_;
  std::string scratch_;
};

}  // namespace otlp_mmap::collector
