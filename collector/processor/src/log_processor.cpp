#include "otlp_mmap/collector/processor/log_processor.hpp"

namespace otlp_mmap::collector {

void LogProcessor::consume(const ReceivedLog& received) {
  try {
    DictionaryResolver& resolver = received.file.resolver;
    encoded_.clear();
    otlp_wire::Out out(encoded_);
    mapper_.map(received.record, resolver, now_.unix_nano, out);
    next_.consume(EncodedItem{resolver.scope(received.record.scope_ref), encoded_});
  } catch (const std::exception& e) {
    diagnostics_.error("log mapping", e);
  }
}

}  // namespace otlp_mmap::collector
