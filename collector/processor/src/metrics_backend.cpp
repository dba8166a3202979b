#include "otlp_mmap/collector/processor/metrics_backend.hpp"

namespace otlp_mmap::collector {

namespace {

class AggregatorBackend final : public MetricsBackend {
 public:
  explicit AggregatorBackend(const MetricsOptions& options) : aggregator_(options) {}

  int64_t stream(const MetricStreamDefinition& definition) override { return aggregator_.stream(definition); }
  void record(int64_t stream, std::span<const otlp::KeyValue> attributes, uint64_t time_unix_nano,
              const Measurement& value, const SpanContext* exemplar) override {
    aggregator_.record(stream, attributes, time_unix_nano, value, exemplar);
  }
  size_t collect(uint64_t now_unix_nano, otlp::ExportMetricsServiceRequest& out) override {
    return aggregator_.collect(now_unix_nano, out);
  }
  MetricsStats stats() const override { return aggregator_.stats(); }

 private:
  MetricsAggregator aggregator_;
};

}  // namespace

std::unique_ptr<MetricsBackend> make_metrics_backend(const MetricsOptions& options) {
  return std::make_unique<AggregatorBackend>(options);
}

}  // namespace otlp_mmap::collector
