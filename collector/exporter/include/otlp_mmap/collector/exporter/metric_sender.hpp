// Metric collections to the exporter's queue as they come: one collection is one request,
// never merged or held back (the aggregation is the buffer), cut into several only when it is
// larger than a backend accepts (request_split.hpp).
#pragma once

#include <cstddef>
#include <cstdint>

#include "otlp_mmap/collector/consumer.hpp"
#include "otlp_mmap/collector/exporter/exporter.hpp"
#include "otlp_mmap/collector/exporter/request_split.hpp"

namespace otlp_mmap::collector {

class MetricSender final : public Consumer<MetricsRequest> {
 public:
  explicit MetricSender(Exporter& exporter, size_t max_request_bytes = kDefaultMaxRequestBytes)
      : exporter_(exporter), max_request_bytes_(max_request_bytes) {}

  void consume(MetricsRequest request) override {
    submitted_ += count_items(request);
    for (MetricsRequest& part : split_by_size(std::move(request), max_request_bytes_)) {
      if (!exporter_.submit(std::move(part))) ++refused_;
    }
  }

  uint64_t submitted() const { return submitted_; }  // data points handed to the queue
  uint64_t refused() const { return refused_; }      // requests the queue refused

 private:
  Exporter& exporter_;
  const size_t max_request_bytes_;
  uint64_t submitted_ = 0;
  uint64_t refused_ = 0;
};

}  // namespace otlp_mmap::collector
