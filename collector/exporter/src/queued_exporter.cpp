#include "queued_exporter.hpp"

#include "signal_exporter.hpp"

namespace otlp_mmap::collector {

namespace detail {

namespace {

class QueuedExporter final : public Exporter {
 public:
  QueuedExporter(const ExportConfig& config, const TransportFactory& factory)
      : traces_(config, factory.traces(config.traces)),
        metrics_(config, factory.metrics(config.metrics)),
        logs_(config, factory.logs(config.logs)) {}

  // Messages are encoded once (export_probe, tests); the pipeline's requests come encoded.
  bool submit(TraceRequest&& request) override { return traces_.submit(EncodedTraces{from_message(request)}); }
  bool submit(LogsRequest&& request) override { return logs_.submit(EncodedLogs{from_message(request)}); }
  bool submit(Signal signal, EncodedRequest&& request) override {
    if (signal == Signal::kLogs) return logs_.submit(EncodedLogs{std::move(request)});
    return traces_.submit(EncodedTraces{std::move(request)});
  }
  bool submit(MetricsRequest&& request) override { return metrics_.submit(std::move(request)); }

  bool flush(std::chrono::steady_clock::time_point deadline) override {
    const bool t = traces_.wait_idle(deadline);
    const bool m = metrics_.wait_idle(deadline);
    const bool l = logs_.wait_idle(deadline);
    return t && m && l;
  }

  void shutdown() override {
    traces_.stop();
    metrics_.stop();
    logs_.stop();
  }

  SignalExportStats stats(Signal s) const override {
    switch (s) {
      case Signal::kTraces: return traces_.stats();
      case Signal::kMetrics: return metrics_.stats();
      case Signal::kLogs: return logs_.stats();
    }
    return {};
  }

 private:
  // Destroyed in reverse order; each stops its own thread.
  SignalExporter<EncodedTraces> traces_;
  SignalExporter<MetricsRequest> metrics_;
  SignalExporter<EncodedLogs> logs_;
};

}  // namespace

std::unique_ptr<Exporter> make_exporter_with(const ExportConfig& config, const TransportFactory& factory) {
  return std::make_unique<QueuedExporter>(config, factory);
}

}  // namespace detail

std::unique_ptr<Exporter> make_exporter(const ExportConfig& config) {
  return detail::make_exporter_with(config, detail::protocol_transports());
}

}  // namespace otlp_mmap::collector
