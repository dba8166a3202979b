// What each signal's request type brings with it: its signal, the endpoint's response to it,
// and how many items that response rejected (partial success).
#pragma once

#include <algorithm>
#include <cstdint>

#include "encoded_signal.hpp"
#include "otlp_mmap/collector/requests.hpp"

namespace otlp_mmap::collector::detail {

template <class Request>
struct RequestTraits;

template <>
struct RequestTraits<TraceRequest> {
  static constexpr Signal signal = Signal::kTraces;
  using Response = opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse;
  static uint64_t rejected(const Response& r) {
    return static_cast<uint64_t>(std::max<int64_t>(0, r.partial_success().rejected_spans()));
  }
};

template <>
struct RequestTraits<MetricsRequest> {
  static constexpr Signal signal = Signal::kMetrics;
  using Response = opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceResponse;
  static uint64_t rejected(const Response& r) {
    return static_cast<uint64_t>(std::max<int64_t>(0, r.partial_success().rejected_data_points()));
  }
};

template <>
struct RequestTraits<LogsRequest> {
  static constexpr Signal signal = Signal::kLogs;
  using Response = opentelemetry::proto::collector::logs::v1::ExportLogsServiceResponse;
  static uint64_t rejected(const Response& r) {
    return static_cast<uint64_t>(std::max<int64_t>(0, r.partial_success().rejected_log_records()));
  }
};

// Encoded requests answer as the messages of their signal do.
template <Signal S>
struct RequestTraits<Encoded<S>> : RequestTraits<typename MessageOf<S>::type> {};

}  // namespace otlp_mmap::collector::detail
