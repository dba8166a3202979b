#include "transport.hpp"

namespace otlp_mmap::collector::detail {

namespace {

// The console writes messages: encoded requests are turned into theirs.
template <class Request>
std::unique_ptr<Transport<Request>> console_transport(const SignalExportConfig& c) {
  return make_console_transport<Request>(c);
}
template <>
std::unique_ptr<Transport<EncodedTraces>> console_transport<EncodedTraces>(const SignalExportConfig& c) {
  return as_encoded<Signal::kTraces>(make_console_transport<TraceRequest>(c));
}
template <>
std::unique_ptr<Transport<EncodedLogs>> console_transport<EncodedLogs>(const SignalExportConfig& c) {
  return as_encoded<Signal::kLogs>(make_console_transport<LogsRequest>(c));
}

}  // namespace

TransportFactory protocol_transports() {
  return transports_from([]<class Request>(const SignalExportConfig& c) -> std::unique_ptr<Transport<Request>> {
    switch (c.protocol) {
      case Protocol::kGrpc: return make_grpc_transport<Request>(c);
      case Protocol::kHttpProtobuf:
      case Protocol::kHttpJson: return make_http_transport<Request>(c);
      case Protocol::kConsoleText:
      case Protocol::kConsoleJson: return console_transport<Request>(c);
      case Protocol::kNone: break;
    }
    return make_discard_transport<Request>();
  });
}

}  // namespace otlp_mmap::collector::detail
