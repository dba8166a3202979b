#include "otlp_mmap/collector/processor/metric_processor.hpp"

namespace otlp_mmap::collector {

namespace {

bool valid_ids(const SpanContext& sc) { return sc.trace_id.size() == 16 && sc.span_id.size() == 8; }

}  // namespace

MetricProcessor::MetricProcessor(MetricsBackend* backend, Consumer<MetricsRequest>& next, const Now& now,
                                 Diagnostics& diagnostics)
    : backend_(backend), next_(next), now_(now), diagnostics_(diagnostics) {}

void MetricProcessor::consume(const ReceivedMeasurement& received) {
  if (backend_ == nullptr || received.record.value_kind == Measurement::ValueKind::kNone) {
    ++dropped_;
    return;
  }
  try {
    record(received);
  } catch (const std::exception& e) {
    diagnostics_.error("metric recording", e);
  }
}

void MetricProcessor::record(const ReceivedMeasurement& received) {
  const Measurement& m = received.record;
  const int64_t stream = streams_.stream(received.file, m.metric_ref, *backend_);
  if (stream < 0) {
    ++dropped_;
    return;
  }
  const size_t n = received.file.resolver.attributes_into(m.attributes, attribute_scratch_, nullptr);
  const SpanContext* exemplar = m.span_context.has_value() && valid_ids(*m.span_context) ? &*m.span_context : nullptr;
  const uint64_t time = m.time_unix_nano != 0 ? m.time_unix_nano : now_.unix_nano;
  backend_->record(stream, std::span<const otlp::KeyValue>(attribute_scratch_.data(), n), time, m, exemplar);
  ++measurements_;
}

void MetricProcessor::collect() {
  if (backend_ == nullptr) return;
  try {
    MetricsRequest request;
    if (backend_->collect(now_.unix_nano, request) == 0) return;
    next_.consume(std::move(request));
  } catch (const std::exception& e) {
    diagnostics_.error("metric collection", e);
  }
}

}  // namespace otlp_mmap::collector
