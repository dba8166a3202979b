#include "otlp_mmap/collector/processor/log_mapper.hpp"

namespace otlp_mmap::collector {

namespace {
namespace lf = otlp_wire::log_record;
constexpr int32_t kMaxSeverity = 24;         // SEVERITY_NUMBER_FATAL4
constexpr uint32_t kTraceFlagsMask = 0xFFu;  // LOG_RECORD_FLAGS_TRACE_FLAGS_MASK
}  // namespace

void LogMapper::map(const EventRecordView& e, DictionaryResolver& resolver, uint64_t read_time_unix_nano,
                    otlp_wire::Out& out) {
  ++stats_.records;
  // Fields in field-number order, as a protobuf serializer writes them.
  out.opt_fixed64(lf::kTime, e.time_unix_nano);
  if (e.severity_number >= 0 && e.severity_number <= kMaxSeverity) {
    out.opt_varint(lf::kSeverityNumber, static_cast<uint64_t>(e.severity_number));
  } else {
    ++stats_.invalid_severity;
  }
  if (!e.severity_text.empty()) {
    scratch_.assign(e.severity_text);
    repair_utf8(scratch_);
    out.bytes_field(lf::kSeverityText, scratch_);
  }
  if (e.has_body) {
    const auto body = out.open(lf::kBody, 2);
    if (!resolver.value(e.body_member, out)) ++stats_.unresolved_body;
    out.close(body);
  }
  scratch_.clear();
  uint32_t dropped = e.dropped_attributes_count;
  dropped += resolver.merge_attributes(e.attributes, lf::kAttributes, scratch_);
  out.raw(scratch_);
  out.opt_varint(lf::kDroppedAttributes, dropped);
  if (e.span_context.present) {
    const SpanContextRefView& sc = e.span_context;
    if (sc.trace_id.size() == 16 && sc.span_id.size() == 8) {
      out.opt_fixed32(lf::kFlags, sc.flags & kTraceFlagsMask);
      out.bytes_field(lf::kTraceId, sc.trace_id);
      out.bytes_field(lf::kSpanId, sc.span_id);
    } else if (!sc.trace_id.empty() || !sc.span_id.empty()) {
      ++stats_.invalid_span_context;
    }
  }
  out.opt_fixed64(lf::kObservedTime, e.observed_time_unix_nano != 0 ? e.observed_time_unix_nano : read_time_unix_nano);
  if (e.event_name_ref != 0) {
    const std::string* name = resolver.string(e.event_name_ref);
    if (name != nullptr) {
      out.opt_bytes(lf::kEventName, *name);
    } else {
      ++stats_.unresolved_event_name;
    }
  }
}

}  // namespace otlp_mmap::collector
