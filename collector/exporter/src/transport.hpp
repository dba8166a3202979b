// How one signal's requests leave the process, typed by the signal's request. One attempt
// per call, bounded by `deadline` (the TimeoutSender sets it). `send` is called by one sender
// thread at a time; `cancel` may be called from any thread to abort the attempt in progress
// (which then returns promptly, with any outcome) and every later one.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "encoded_signal.hpp"
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

// The transport of each signal (tests put fakes here). Spans and log records go encoded.
struct TransportFactory {
  TransportMaker<EncodedTraces> traces;
  TransportMaker<MetricsRequest> metrics;
  TransportMaker<EncodedLogs> logs;
};

// A factory from one generic callable `f.template operator()<Request>(config)`.
template <class F>
TransportFactory transports_from(F f) {
  return TransportFactory{[f](const SignalExportConfig& c) { return f.template operator()<EncodedTraces>(c); },
                          [f](const SignalExportConfig& c) { return f.template operator()<MetricsRequest>(c); },
                          [f](const SignalExportConfig& c) { return f.template operator()<EncodedLogs>(c); }};
}

// A transport of messages for encoded requests: each request is turned into its message
// (console output and OTLP/JSON work on messages).
template <Signal S>
class MessageTransport final : public Transport<Encoded<S>> {
 public:
  using Message = typename MessageOf<S>::type;
  explicit MessageTransport(std::unique_ptr<Transport<Message>> inner) : inner_(std::move(inner)) {}
  SendOutcome send(const Encoded<S>& request, std::chrono::steady_clock::time_point deadline) override {
    Message message;
    to_message(request.request, message);
    return inner_->send(message, deadline);
  }
  void cancel() override { inner_->cancel(); }

 private:
  std::unique_ptr<Transport<Message>> inner_;
};
template <Signal S>
std::unique_ptr<Transport<Encoded<S>>> as_encoded(std::unique_ptr<Transport<typename MessageOf<S>::type>> inner) {
  return std::make_unique<MessageTransport<S>>(std::move(inner));
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
