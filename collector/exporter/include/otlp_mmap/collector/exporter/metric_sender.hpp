// Metric collections to the exporter's queue as they come: one collection is one request,
// never merged or split, and never held back (the aggregation is the buffer).
#pragma once

#include <cstdint>

#include "otlp_mmap/collector/consumer.hpp"
#include "otlp_mmap/collector/exporter/exporter.hpp"

namespace otlp_mmap::collector {

class MetricSender final : public Consumer<MetricsRequest> {
 public:
  explicit MetricSender(Exporter& exporter) : exporter_(exporter) {}

  void consume(MetricsRequest request) override {
    submitted_ += count_items(request);
    if (!exporter_.submit(std::move(request))) ++refused_;
  }

  uint64_t submitted() const { return submitted_; }  // data points handed to the queue
  uint64_t refused() const { return refused_; }      // requests the queue refused

 private:
  Exporter& exporter_;
  uint64_t submitted_ = 0;
  uint64_t refused_ = 0;
};

}  // namespace otlp_mmap::collector
