#include "otlp_mmap/collector/processor/log_mapper.hpp"

namespace otlp_mmap::collector {

namespace {
constexpr int32_t kMaxSeverity = 24;         // SEVERITY_NUMBER_FATAL4
constexpr uint32_t kTraceFlagsMask = 0xFFu;  // LOG_RECORD_FLAGS_TRACE_FLAGS_MASK
}  // namespace

std::unique_ptr<otlp::LogRecord> LogMapper::map(const Event& e, DictionaryResolver& resolver,
                                                uint64_t read_time_unix_nano,
                                                std::shared_ptr<const ResolvedScope>& scope) {
  ++stats_.records;
  scope = resolver.scope(e.scope_ref);
  auto out = std::make_unique<otlp::LogRecord>();
  out->set_time_unix_nano(e.time_unix_nano);
  out->set_observed_time_unix_nano(e.observed_time_unix_nano != 0 ? e.observed_time_unix_nano : read_time_unix_nano);
  if (e.severity_number >= 0 && e.severity_number <= kMaxSeverity) {
    out->set_severity_number(static_cast<opentelemetry::proto::logs::v1::SeverityNumber>(e.severity_number));
  } else {
    ++stats_.invalid_severity;
  }
  if (!e.severity_text.empty()) {
    *out->mutable_severity_text() = e.severity_text;
    repair_utf8(*out->mutable_severity_text());
  }
  if (e.body.has_value()) {
    if (!resolver.value(*e.body, *out->mutable_body())) ++stats_.unresolved_body;
  }
  if (e.event_name_ref != 0) {
    const std::string* name = resolver.string(e.event_name_ref);
    if (name != nullptr) {
      out->set_event_name(*name);
    } else {
      ++stats_.unresolved_event_name;
    }
  }
  uint32_t dropped = e.dropped_attributes_count;
  dropped += resolver.merge_attributes(e.attributes, *out->mutable_attributes());
  out->set_dropped_attributes_count(dropped);
  if (e.span_context.has_value()) {
    const SpanContext& sc = *e.span_context;
    if (sc.trace_id.size() == 16 && sc.span_id.size() == 8) {
      out->set_trace_id(sc.trace_id);
      out->set_span_id(sc.span_id);
      out->set_flags(sc.flags & kTraceFlagsMask);
    } else if (!sc.trace_id.empty() || !sc.span_id.empty()) {
      ++stats_.invalid_span_context;
    }
  }
  return out;
}

}  // namespace otlp_mmap::collector
