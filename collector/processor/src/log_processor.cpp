#include "otlp_mmap/collector/processor/log_processor.hpp"

namespace otlp_mmap::collector {

void LogProcessor::consume(const ReceivedLog& received) {
  try {
    std::shared_ptr<const ResolvedScope> scope;
    auto record = mapper_.map(received.record, received.file.resolver, now_.unix_nano, scope);
    next_.consume(ScopedLog{std::move(scope), std::move(record)});
  } catch (const std::exception& e) {
    diagnostics_.error("log mapping", e);
  }
}

}  // namespace otlp_mmap::collector
