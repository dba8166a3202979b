#include "transport.hpp"

namespace otlp_mmap::collector::detail {

TransportFactory protocol_transports() {
  return transports_from([]<class Request>(const SignalExportConfig& c) -> std::unique_ptr<Transport<Request>> {
    switch (c.protocol) {
      case Protocol::kGrpc: return make_grpc_transport<Request>(c);
      case Protocol::kHttpProtobuf:
      case Protocol::kHttpJson: return make_http_transport<Request>(c);
      case Protocol::kConsoleText:
      case Protocol::kConsoleJson: return make_console_transport<Request>(c);
      case Protocol::kNone: break;
    }
    return make_discard_transport<Request>();
  });
}

}  // namespace otlp_mmap::collector::detail
