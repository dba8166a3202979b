// How one signal's requests leave the process, typed by the signal's request. One attempt
// per call, bounded by `deadline` (the TimeoutSender sets it). `send` is called by one sender
// thread at a time; `cancel` may be called from any thread to abort the attempt in progress
// (which then returns promptly, with any outcome) and every later one.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "otlp_mmap/collector/exporter/export_config.hpp"
#include "otlp_mmap/collector/requests.hpp"
#include "send_outcome.hpp"

namespace otlp_mmap::collector::detail {

template <class Request>
class Transport {
 public:
  virtual ~Transport() = default;
  virtual SendOutcome send(const Request& request, std::chrono::steady_clock::time_point deadline) = 0;
  virtual void cancel() {}
};

template <class Request>
using TransportMaker = std::function<std::unique_ptr<Transport<Request>>(const SignalExportConfig&)>;

// The transport of each signal (tests put fakes here).
struct TransportFactory {
  TransportMaker<TraceRequest> traces;
  TransportMaker<MetricsRequest> metrics;
  TransportMaker<LogsRequest> logs;
};

// A factory from one generic callable `f.template operator()<Request>(config)`.
template <class F>
TransportFactory transports_from(F f) {
  return TransportFactory{[f](const SignalExportConfig& c) { return f.template operator()<TraceRequest>(c); },
                          [f](const SignalExportConfig& c) { return f.template operator()<MetricsRequest>(c); },
                          [f](const SignalExportConfig& c) { return f.template operator()<LogsRequest>(c); }};
}

// The transports of the protocols: console (text or OTLP/JSON lines), OTLP/HTTP (protobuf or
// JSON), OTLP/gRPC; and the one that discards (OTEL_<SIGNAL>_EXPORTER=none).
template <class Request>
std::unique_ptr<Transport<Request>> make_console_transport(const SignalExportConfig& config);
template <class Request>
std::unique_ptr<Transport<Request>> make_http_transport(const SignalExportConfig& config);
template <class Request>
std::unique_ptr<Transport<Request>> make_grpc_transport(const SignalExportConfig& config);
template <class Request>
std::unique_ptr<Transport<Request>> make_discard_transport();

// The transport the configuration's protocol names, for each signal.
TransportFactory protocol_transports();

}  // namespace otlp_mmap::collector::detail
