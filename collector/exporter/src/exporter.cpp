#include "otlp_mmap/collector/exporter/exporter.hpp"

namespace otlp_mmap::collector {

bool Exporter::submit(Signal signal, EncodedRequest&& request) {
  if (signal == Signal::kLogs) {
    LogsRequest message;
    to_message(request, message);
    return submit(std::move(message));
  }
  TraceRequest message;
  to_message(request, message);
  return submit(std::move(message));
}

}  // namespace otlp_mmap::collector
