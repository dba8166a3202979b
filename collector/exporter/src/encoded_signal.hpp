// The exporter's requests of spans and of log records: encoded (EncodedRequest), typed by
// their signal so that each signal's sending chain and transport know what they carry.
#pragma once

#include "otlp_mmap/collector/exporter/encoded_request.hpp"

namespace otlp_mmap::collector::detail {

template <Signal S>
struct Encoded {
  EncodedRequest request;
};
using EncodedTraces = Encoded<Signal::kTraces>;
using EncodedLogs = Encoded<Signal::kLogs>;

using collector::count_items;  // the messages' (hidden by the overload below otherwise)
template <Signal S>
size_t count_items(const Encoded<S>& r) {
  return r.request.items();
}

// The message of an encoded request's signal.
template <Signal S>
struct MessageOf;
template <>
struct MessageOf<Signal::kTraces> {
  using type = TraceRequest;
};
template <>
struct MessageOf<Signal::kLogs> {
  using type = LogsRequest;
};

}  // namespace otlp_mmap::collector::detail
