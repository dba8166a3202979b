// OTEL_<SIGNAL>_EXPORTER=none: every request is taken and discarded (counted as exported).

#include "transport.hpp"

namespace otlp_mmap::collector::detail {

namespace {

template <class Request>
class DiscardTransport final : public Transport<Request> {
 public:
  SendOutcome send(const Request&, std::chrono::steady_clock::time_point) override { return SendOutcome::ok(); }
};

}  // namespace

template <class Request>
std::unique_ptr<Transport<Request>> make_discard_transport() {
  return std::make_unique<DiscardTransport<Request>>();
}

template std::unique_ptr<Transport<TraceRequest>> make_discard_transport<TraceRequest>();
template std::unique_ptr<Transport<MetricsRequest>> make_discard_transport<MetricsRequest>();
template std::unique_ptr<Transport<LogsRequest>> make_discard_transport<LogsRequest>();
template std::unique_ptr<Transport<EncodedTraces>> make_discard_transport<EncodedTraces>();
template std::unique_ptr<Transport<EncodedLogs>> make_discard_transport<EncodedLogs>();

}  // namespace otlp_mmap::collector::detail
